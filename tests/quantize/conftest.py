"""Tiny vector sets built in code for the quantize tests."""
from __future__ import annotations

import numpy as np
import pytest

from eccr.quantize.config import QuantizerConfig, RQVAEConfig
from eccr.represent.vectors import ItemVectors


def clustered_vectors(n: int = 600, clusters: int = 12, dim: int = 16, noise: float = 0.3,
                      seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = 3.0 * rng.standard_normal((clusters, dim))
    return (centers[rng.integers(0, clusters, n)] + noise * rng.standard_normal((n, dim))).astype(np.float32)


def colliding_vectors(distinct: int = 10, copies: int = 30, dim: int = 8, seed: int = 0) -> np.ndarray:
    """`distinct` vectors, each repeated `copies` times: every copy gets the same greedy codes."""
    rng = np.random.default_rng(seed)
    return np.repeat(rng.standard_normal((distinct, dim)), copies, axis=0).astype(np.float32)


def as_item_vectors(X: np.ndarray, prefix: str = "item") -> ItemVectors:
    return ItemVectors([f"{prefix}{i}" for i in range(len(X))], X)


def small_config(kind: str = "kmeans", **overrides) -> QuantizerConfig:
    """3 levels x 16 codes; an RQ-VAE small enough to train in about a second."""
    rqvae = RQVAEConfig(hidden=(64,), latent_dim=8, epochs=15, batch_size=128, learning_rate=3e-3,
                        restart_every=3)
    return QuantizerConfig(kind=kind, levels=3, codebook_size=16, rqvae=rqvae, **overrides)


@pytest.fixture(scope="session")
def clustered() -> np.ndarray:
    return clustered_vectors()
