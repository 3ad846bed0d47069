"""Semantic-ID tokens: residual quantization of item vectors, collision-free IDs, prefix trie of valid items."""
from eccr.quantize.config import QuantizerConfig, RQVAEConfig
from eccr.quantize.history import history_tokens
from eccr.quantize.rq import RQVAE, ResidualKMeans, ResidualQuantizer, load_quantizer, make_quantizer
from eccr.quantize.semantic_ids import SemanticIDReport, SemanticIDTable, build_semantic_ids
from eccr.quantize.trie import SemanticIDTrie, TokenIdTrie, item_token_ids

__all__ = [
           "RQVAE",
           "QuantizerConfig",
           "RQVAEConfig",
           "ResidualKMeans",
           "ResidualQuantizer",
           "SemanticIDReport",
           "SemanticIDTable",
           "SemanticIDTrie",
           "TokenIdTrie",
           "build_semantic_ids",
           "history_tokens",
           "item_token_ids",
           "load_quantizer",
           "make_quantizer",
]
