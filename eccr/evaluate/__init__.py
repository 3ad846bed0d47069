"""Evaluation harness: ranking metrics, the ECCR / retrieval / sampled protocols, and reports."""
from eccr.evaluate.config import (
                                  BootstrapConfig,
                                  EccrProtocolConfig,
                                  EvaluationConfig,
                                  RetrievalProtocolConfig,
                                  SampledProtocolConfig,
)
from eccr.evaluate.harness import EvaluationResults, evaluate_systems

__all__ = [
                                  "BootstrapConfig",
                                  "EccrProtocolConfig",
                                  "EvaluationConfig",
                                  "EvaluationResults",
                                  "RetrievalProtocolConfig",
                                  "SampledProtocolConfig",
                                  "evaluate_systems",
]
