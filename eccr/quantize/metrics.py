"""Health numbers of a semantic-ID assignment: collisions, codebook utilisation, reconstruction error.

These are the known failure points of public semantic-ID implementations (a few codes used, i.e. codebook
collapse; a large share of items sharing an ID), so every build reports them.
"""
from __future__ import annotations

import numpy as np


def collision_rate(codes: np.ndarray) -> float:
    """Share of items that cannot keep their code tuple: 1 - (distinct tuples / items).

    0 means every item has its own ID; 0.3 means 30% of items would need to be disambiguated.
    """
    codes = np.asarray(codes)
    if len(codes) == 0:
        return 0.0
    return 1.0 - len(np.unique(codes, axis=0)) / len(codes)


def largest_collision(codes: np.ndarray) -> int:
    """Most items sharing one code tuple (1 when there is no collision)."""
    if len(codes) == 0:
        return 0
    return int(np.unique(np.asarray(codes), axis=0, return_counts=True)[1].max())


def codebook_usage(codes: np.ndarray, codebook_sizes: list[int]) -> list[dict]:
    """Per level: codes used, codebook size, share used, and perplexity exp(H(code distribution)).

    Perplexity equals the codebook size when codes are used uniformly and 1 when one code takes everything.
    """
    codes = np.asarray(codes)
    report = []
    for level, size in enumerate(codebook_sizes):
        counts = np.bincount(codes[:, level], minlength=size).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        report.append({"level": level, "size": int(size), "used": int((counts > 0).sum()),
                       "share_used": float((counts > 0).sum() / size),
                       "perplexity": float(np.exp(-(p * np.log(p)).sum()))})
    return report


def relative_mse(X: np.ndarray, reconstruction: np.ndarray) -> float:
    """sum ||x - x_hat||^2 / sum ||x - mean(x)||^2: the share of the vectors' variance the codes lose
    (0 = exact, 1 = no better than predicting the mean vector)."""
    X = np.asarray(X, dtype=np.float64)
    err = ((X - np.asarray(reconstruction, dtype=np.float64)) ** 2).sum()
    spread = ((X - X.mean(0)) ** 2).sum()
    return float(err / spread) if spread > 0 else float(err > 0)
