"""Behaviour embeddings: skip-gram with negative sampling over users' time-ordered item sequences.

Lake et al., 'Large-scale Collaborative Filtering with Product Embeddings', §3: replace word sequences with
temporally ordered sequences of one user's actions (Vasile et al. 2016), slide a window over each sequence and
minimise -Σ_i [Σ_{j∈S_i} log σ(x_iᵀy_j) + Σ_{j'∈N_i} log(1 − σ(x_iᵀy_j'))] with negatives drawn from
P_gamma ∝ count^gamma. We use gensim's Word2Vec (sg=1, ns_exponent=gamma) rather than re-writing it; with
workers=1, a fixed seed and a deterministic string hash the vectors are reproducible.

Items that never occur in a sequence of length ≥ 2 get no vector (coverage is reported in `meta`): on the
bundle data most test-period items are cold, which is why eccr/represent/directed.py works from features.
"""
from __future__ import annotations

import zlib

import numpy as np

from eccr.data.schema import Behaviour
from eccr.represent.config import BehaviourConfig
from eccr.represent.vectors import ItemVectors


def _stable_hash(text: str) -> int:
    """Python's str hash changes per process (PYTHONHASHSEED); gensim seeds vectors with it, so use crc32."""
    return zlib.crc32(str(text).encode())


def skipgram_sentences(behaviour: Behaviour) -> list[list[str]]:
    """One item sequence per user, sessions in time order (a session keeps its file order), length ≥ 2."""
    sequences = behaviour.user_sequences()
    return [list(seq) for seq in sequences if len(seq) >= 2]


def behaviour_vectors(behaviour: Behaviour, config: BehaviourConfig | None = None,
                      catalog_ids=None) -> ItemVectors:
    """Skip-gram vectors for every item that occurs in a user sequence of length ≥ 2.

    meta: kind, n_items, n_sequences, and coverage (share of `catalog_ids` with a vector) when given.
    """
    from gensim.models import Word2Vec

    config = config or BehaviourConfig()
    sequences = skipgram_sentences(behaviour)
    if not sequences:
        raise ValueError("no user has two or more behaviour events: nothing to learn skip-gram vectors from")
    model = Word2Vec(sentences=sequences, vector_size=config.dim, window=config.window, min_count=config.min_count,
                     sg=1, hs=0, negative=config.negative, ns_exponent=config.ns_exponent, epochs=config.epochs,
                     seed=config.seed, workers=config.workers, hashfxn=_stable_hash, sample=0)
    ids = list(model.wv.index_to_key)
    vectors = np.asarray(model.wv.vectors, dtype=np.float32)
    meta = {"kind": "behaviour", "n_items": len(ids), "n_sequences": len(sequences), "dim": config.dim}
    if catalog_ids is not None:
        catalog_ids = [str(i) for i in catalog_ids]
        known = set(ids)
        meta["coverage"] = round(sum(i in known for i in catalog_ids) / max(len(catalog_ids), 1), 4)
    return ItemVectors(ids, vectors, meta)
