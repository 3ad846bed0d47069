"""What the three protocols share: the result of one system under one setting, bootstrap summaries, checked
scoring of a candidate list and the pool of held-out queries."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eccr.data.schema import Dataset
from eccr.data.splits import heldout_queries
from eccr.evaluate.config import BootstrapConfig
from eccr.evaluate.metrics import MetricSummary, bootstrap_ci
from eccr.rank.base import Scorer


@dataclass
class ProtocolResult:
    """One system under one protocol setting: per-query metric arrays (aligned with `query_ids`) + summary."""

    protocol: str
    system: str
    setting: dict
    query_ids: list[str]
    per_query: dict[str, np.ndarray]
    summary: dict[str, MetricSummary]
    extra: dict = field(default_factory=dict)

    def to_dict(self, include_per_query: bool = False) -> dict:
        out = {"protocol": self.protocol, "system": self.system, "setting": self.setting,
               "n_queries": len(self.query_ids),
               "summary": {m: s.as_dict() for m, s in self.summary.items()}, "extra": self.extra}
        if include_per_query:
            out["query_ids"] = list(self.query_ids)
            out["per_query"] = {m: v.tolist() for m, v in self.per_query.items()}
        return out


def summarize(per_query: dict[str, np.ndarray], bootstrap: BootstrapConfig) -> dict[str, MetricSummary]:
    """Each metric's mean over queries with its bootstrap confidence interval."""
    return {m: bootstrap_ci(v, bootstrap.resamples, bootstrap.confidence, bootstrap.seed)
            for m, v in per_query.items()}


def score_with(scorer: Scorer, system: str, query: Sequence[str], candidates: Sequence[str],
               history: Sequence[str]) -> np.ndarray:
    """Calls score_candidates and checks the answer (one finite-or-inf number per candidate)."""
    out = scorer.score_candidates(list(query), list(candidates), list(history))
    scores = np.asarray(getattr(out, "scores", out), dtype=np.float64).reshape(-1)
    if scores.shape[0] != len(candidates):
        raise ValueError(f"system {system!r} returned {scores.shape[0]} scores for {len(candidates)} candidates")
    if np.isnan(scores).any():
        raise ValueError(f"system {system!r} returned NaN scores for query {list(query)}")
    return scores


def query_pool(part: Dataset, seed: int, max_queries: int | None) -> pd.DataFrame:
    """The held-out queries of `part` (seeded sample of at most `max_queries`); an error if there are none."""
    queries = heldout_queries(part, seed=seed, max_queries=max_queries)
    if queries.empty:
        raise ValueError(f"{part.name}: no held-out queries (no bundle with two titled items in this part)")
    return queries
