"""Candidate retrieval: a FAISS index over target item vectors, `search(query_vectors, k) -> ids, scores`.

The index type follows the catalogue size (RetrievalConfig): an exact `IndexFlatIP` up to `flat_max_items`,
above it `IndexHNSWFlat` (default) or `IndexIVFFlat`, all with inner product (= cosine when `normalize`).
Items can be added after building or loading (cold-start items arriving at load time). An index is saved as a
FAISS file (`faiss.write_index`) plus a JSON sidecar holding the item ids and the config.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import faiss
import numpy as np

from eccr.rank.config import RetrievalConfig
from eccr.represent.vectors import ItemVectors


def _as_matrix(vectors: np.ndarray, dim: int | None = None, normalize: bool = False) -> np.ndarray:
    x = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        raise ValueError(f"expected vectors of shape (n, {dim}), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("vectors contain NaN or infinite values")
    if normalize:
        x = x.copy()
        faiss.normalize_L2(x)
    return x


class ItemIndex:
    def __init__(self, index: faiss.Index, ids: Sequence[str], config: RetrievalConfig):
        self.index, self.ids, self.config = index, [str(i) for i in ids], config
        self._ids = np.asarray(self.ids + [""], dtype=object)  # FAISS answers -1 when it has fewer than k: ""
        self._row_of: dict[str, int] | None = None

    @property
    def kind(self) -> str:
        return type(self.index).__name__

    def __len__(self) -> int:
        return self.index.ntotal

    @classmethod
    def build(cls, item_vectors: ItemVectors, config: RetrievalConfig | None = None) -> ItemIndex:
        config = config or RetrievalConfig()
        if len(item_vectors) == 0:
            raise ValueError("cannot build a retrieval index over zero items")
        x = _as_matrix(item_vectors.vectors, normalize=config.normalize)
        n, d = x.shape
        if n <= config.flat_max_items:
            index = faiss.IndexFlatIP(d)
        elif config.large_index == "hnsw":
            index = faiss.IndexHNSWFlat(d, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = config.hnsw_ef_construction
            index.hnsw.efSearch = config.hnsw_ef_search
        elif config.large_index == "ivf":
            lists = config.ivf_lists or max(1, int(4 * np.sqrt(n)))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, lists, faiss.METRIC_INNER_PRODUCT)
            sample = x[np.random.default_rng(0).permutation(n)[:max(lists * 39, 10_000)]]
            index.train(sample)
            index.nprobe = config.ivf_probe
        else:
            raise ValueError(f"large_index must be 'hnsw' or 'ivf', got {config.large_index!r}")
        index.add(x)
        return cls(index, item_vectors.ids, config)

    def add(self, item_vectors: ItemVectors) -> None:
        """Appends items (e.g. cold-start items known only at load time); ids already present raise."""
        clash = set(item_vectors.ids) & set(self.ids)
        if clash:
            raise ValueError(f"items already in the index: {sorted(clash)[:5]}")
        self.index.add(_as_matrix(item_vectors.vectors, self.index.d, self.config.normalize))
        self.ids += list(item_vectors.ids)
        self._ids = np.asarray(self.ids + [""], dtype=object)
        self._row_of = None

    def search(self, query_vectors: np.ndarray, k: int,
               among: Iterable[str] | None = None) -> tuple[list[list[str]], np.ndarray]:
        """Top-k items per query row: (ids per query, scores (n_queries, k)); rows with fewer hits end in ''
        and -inf. `among`: search only these items (ids the index lacks are ignored), e.g. one stratum of the
        catalogue in an evaluation."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        q = _as_matrix(query_vectors, self.index.d, self.config.normalize)
        params = None if among is None else self._search_parameters(among)
        scores, rows = self.index.search(q, min(k, len(self)), params=params)
        scores = np.where(rows >= 0, scores, -np.inf)
        return [list(r) for r in self._ids[rows]], scores

    def _search_parameters(self, among: Iterable[str]) -> faiss.SearchParameters:
        if self._row_of is None:
            self._row_of = {item: row for row, item in enumerate(self.ids)}
        rows = np.fromiter((self._row_of[i] for i in among if i in self._row_of), dtype=np.int64)
        selector = faiss.IDSelectorBatch(rows)
        if isinstance(self.index, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=self.index.hnsw.efSearch)
        if isinstance(self.index, faiss.IndexIVF):
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nprobe)
        return faiss.SearchParameters(sel=selector)

    def save(self, path: str | Path) -> None:
        """Writes PATH (the FAISS index) and PATH.ids.json (ids + config)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(path))
        Path(f"{path}.ids.json").write_text(json.dumps({"ids": self.ids, "config": self.config.to_dict()}))

    @classmethod
    def load(cls, path: str | Path) -> ItemIndex:
        path = Path(path)
        sidecar = Path(f"{path}.ids.json")
        for p in (path, sidecar):
            if not p.exists():
                raise FileNotFoundError(f"{p} not found: not a saved ItemIndex")
        info = json.loads(sidecar.read_text())
        index = faiss.read_index(str(path))
        if index.ntotal != len(info["ids"]):
            raise ValueError(f"{path}: index holds {index.ntotal} vectors but {sidecar.name} lists "
                             f"{len(info['ids'])} ids")
        config = RetrievalConfig.from_dict(info["config"])
        if isinstance(index, faiss.IndexHNSWFlat):
            index.hnsw.efSearch = config.hnsw_ef_search
        return cls(index, info["ids"], config)
