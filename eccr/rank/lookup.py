"""Item ids -> fixed input vectors, with a caller-supplied fallback for items the vectors do not know (cold start).

Every vector-based scorer in eccr.rank resolves ids through `VectorLookup`, so cold-start handling is the same
everywhere: known ids come from the `ItemVectors`, unknown ones from `unknown_vector_fn(ids) -> (n, dim)` when
given (e.g. text-derived vectors); rows the fallback cannot fill (all-NaN rows, or no fallback) are reported as
missing and the caller decides (skip a memory item, rank a candidate last).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from eccr.represent.vectors import ItemVectors

UnknownVectorFn = Callable[[Sequence[str]], np.ndarray]


class VectorLookup:
    def __init__(self, item_vectors: ItemVectors, unknown_vector_fn: UnknownVectorFn | None = None):
        self.item_vectors = item_vectors
        self.unknown_vector_fn = unknown_vector_fn
        # A plain dict: ItemVectors.position converts its Arrow-backed index on every call, which is too slow
        # per request on a large catalogue.
        self._row = {item_id: row for row, item_id in enumerate(item_vectors.ids)}

    def rows(self, item_ids: Sequence[str]) -> np.ndarray:
        """Row of each id in the item vectors, -1 where unknown."""
        get = self._row.get
        return np.fromiter((get(str(i), -1) for i in item_ids), dtype=np.int64, count=len(item_ids))

    @property
    def dim(self) -> int:
        return self.item_vectors.dim

    def resolve(self, item_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors of shape (len(ids), dim) with zero rows where missing, found mask of shape (len(ids),))."""
        ids = [str(i) for i in item_ids]
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        if not ids:
            return out, np.zeros(0, dtype=bool)
        pos = self.rows(ids)
        found = pos >= 0
        out[found] = self.item_vectors.vectors[pos[found]]
        unknown = np.flatnonzero(~found)
        if len(unknown) and self.unknown_vector_fn is not None:
            extra = self.unknown_vector_fn([ids[i] for i in unknown])
            if extra is not None:
                extra = np.asarray(extra, dtype=np.float32)
                if extra.shape != (len(unknown), self.dim):
                    raise ValueError(f"unknown_vector_fn returned shape {extra.shape}, expected "
                                     f"({len(unknown)}, {self.dim})")
                usable = np.isfinite(extra).all(axis=1)
                out[unknown[usable]] = extra[usable]
                found[unknown[usable]] = True
        return out, found
