"""`ItemVectors`: a matrix of item vectors keyed by item id, the currency between stages.

Saved as safetensors (the matrix) + JSON (ids and metadata); nothing is ever unpickled.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file


@dataclass
class ItemVectors:
    ids: list[str]
    vectors: np.ndarray  # (n_items, dim) float32
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = [str(i) for i in self.ids]
        self.vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.ids):
            raise ValueError(f"vectors shape {self.vectors.shape} does not match {len(self.ids)} ids")
        self._row = {item_id: row for row, item_id in enumerate(self.ids)}  # a dict: fast per-request lookups
        if len(self._row) != len(self.ids):
            raise ValueError("item ids must be unique")

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, item_ids) -> np.ndarray:
        """Row of each id, -1 where unknown."""
        get = self._row.get
        return np.fromiter((get(str(i), -1) for i in item_ids), dtype=np.int64)

    def lookup(self, item_ids) -> np.ndarray:
        """Vectors for ids; unknown ids raise KeyError naming the first one."""
        pos = self.position(item_ids)
        if (pos < 0).any():
            raise KeyError(f"unknown item id {list(item_ids)[int(np.argmax(pos < 0))]!r}")
        return self.vectors[pos]

    def normalized(self) -> ItemVectors:
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        return ItemVectors(self.ids, self.vectors / np.maximum(norms, 1e-12), dict(self.meta))

    def save(self, path: str | Path) -> None:
        """Writes PATH.safetensors and PATH.json."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"vectors": self.vectors}, str(path.with_suffix(".safetensors")))
        path.with_suffix(".json").write_text(json.dumps({"ids": self.ids, "meta": self.meta}))

    @classmethod
    def load(cls, path: str | Path) -> ItemVectors:
        path = Path(path)
        info = json.loads(path.with_suffix(".json").read_text())
        return cls(info["ids"], load_file(str(path.with_suffix(".safetensors")))["vectors"], info.get("meta", {}))
