"""Negative sampling from the smoothed popularity distribution with the alias method.

P_gamma(i) ∝ count(i)^gamma (Lake et al., eq. 5); Vose's alias method (Kronmal & Peterson 1979) builds two
tables in O(n) and then draws each sample in O(1): pick a column uniformly, keep it with probability
prob[col], else take alias[col].
"""
from __future__ import annotations

import numpy as np


class AliasSampler:
    def __init__(self, weights, seed: int = 0):
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or len(w) == 0:
            raise ValueError("weights must be a non-empty 1-D array")
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError("weights must be finite, non-negative and not all zero")
        self.probabilities = w / w.sum()
        self.prob, self.alias = self._build(self.probabilities)
        self.rng = np.random.default_rng(seed)

    @classmethod
    def from_counts(cls, counts, gamma: float = 0.75, seed: int = 0) -> AliasSampler:
        """P_gamma over items from their occurrence counts; gamma=0 is uniform, 1 the empirical distribution."""
        c = np.asarray(counts, dtype=np.float64)
        return cls(np.where(c > 0, c, 0.0) ** gamma if gamma > 0 else np.ones_like(c), seed=seed)

    @staticmethod
    def _build(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(p)
        scaled = p * n
        prob = np.ones(n)
        alias = np.arange(n)
        small = [i for i in range(n) if scaled[i] < 1.0]
        large = [i for i in range(n) if scaled[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            prob[s], alias[s] = scaled[s], g
            scaled[g] = scaled[g] + scaled[s] - 1.0
            (small if scaled[g] < 1.0 else large).append(g)
        # leftovers are 1 up to rounding error
        for i in small + large:
            prob[i] = 1.0
        return prob, alias

    def sample(self, size) -> np.ndarray:
        """Indices drawn i.i.d. from the distribution; `size` is an int or a shape."""
        cols = self.rng.integers(0, len(self.prob), size=size)
        keep = self.rng.random(size=size) < self.prob[cols]
        return np.where(keep, cols, self.alias[cols])

    def sample_excluding(self, size: int, excluded: set[int] | np.ndarray, max_rounds: int = 50) -> np.ndarray:
        """`size` draws, none in `excluded` (rejection; fine while excluded items hold little mass)."""
        excluded = np.asarray(sorted(excluded) if isinstance(excluded, set) else excluded, dtype=np.int64)
        out = np.empty(0, dtype=np.int64)
        for _ in range(max_rounds):
            draw = self.sample(max(2 * (size - len(out)), 8))
            draw = draw[~np.isin(draw, excluded)]
            out = np.concatenate([out, draw])[:size]
            if len(out) == size:
                return out
        raise ValueError("could not draw enough negatives: the excluded items hold nearly all probability mass")
