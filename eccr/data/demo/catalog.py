"""The demo catalogue and its complement-type graph, read from the CSV/JSON files shipped in this package.

`DemoCatalog` keeps what the simulator needs beyond the shared `Catalog` schema: each item's product type,
role (device or accessory), the device ids an accessory fits (empty = universal) and its release month.
`ComplementGraph` is the directed type graph: `complements["camera"]` lists the accessory types a camera buyer
goes on to buy, with weights; it is asymmetric on purpose (a battery does not call for a camera).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from eccr.data.categories import parse_category_string
from eccr.data.io import read_csv
from eccr.data.schema import Catalog, DataError

PACKAGE_DIR = Path(__file__).parent
CATALOG_PATH = PACKAGE_DIR / "catalog.csv"
GRAPH_PATH = PACKAGE_DIR / "complement_types.json"
# what `eccr distill --teacher llamacpp:qwen2.5-coder-1.5b` wrote for the demo's 600 seeded train pairs (README,
# "Faithful, specific explanations"): the explain targets of demo runs (TaskConfig.distilled_path "auto")
TEACHER_EXPLANATIONS_PATH = PACKAGE_DIR / "explanations-qwen2.5-coder-1.5b.jsonl"
DEMO_COLUMNS = ("item_id", "title", "category", "brand", "text", "product_type", "role", "model", "fits",
                "release_month")
ROLES = ("device", "accessory")


@dataclass
class ComplementGraph:
    """Directed, weighted graph over product types (weights are per-session purchase probabilities)."""

    complements: dict[str, list[tuple[str, float]]]  # type -> [(complement type, weight)], strongest first
    anchor_types: list[str]                          # types a session starts from
    phrases: dict[str, str]                          # type -> how an intent names it ("a spare battery")
    personas: dict[str, list[str]]                   # anchor type -> buyer descriptions with {brand}/{model}

    @classmethod
    def from_json(cls, path: str | Path = GRAPH_PATH) -> ComplementGraph:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(f"cannot read the complement graph: {err}", file=path) from None
        for key in ("anchor_types", "complements"):
            if key not in raw:
                raise DataError(f"complement graph has no '{key}'", file=path, field=key)
        complements: dict[str, list[tuple[str, float]]] = {}
        for source, edges in raw["complements"].items():
            parsed = []
            for edge in edges:
                weight = float(edge.get("weight", float("nan")))
                if "type" not in edge or not 0.0 <= weight <= 1.0:
                    raise DataError(f"edge {edge!r} of '{source}' needs a 'type' and a weight in [0, 1]",
                                    file=path, field="complements")
                parsed.append((str(edge["type"]), weight))
            complements[source] = sorted(parsed, key=lambda e: -e[1])
        unknown = {t for edges in complements.values() for t, _ in edges} - set(complements)
        unknown |= set(raw["anchor_types"]) - set(complements)
        if unknown:
            raise DataError(f"complement graph names types without an entry: {sorted(unknown)}", file=path)
        return cls(complements, list(raw["anchor_types"]), dict(raw.get("phrases", {})),
                   {k: list(v) for k, v in raw.get("personas", {}).items()})

    @property
    def types(self) -> list[str]:
        return list(self.complements)

    def targets(self, product_type: str) -> list[tuple[str, float]]:
        return self.complements.get(product_type, [])

    def weight(self, source: str, target: str) -> float:
        return dict(self.targets(source)).get(target, 0.0)

    def edges(self) -> pd.DataFrame:
        """All edges as rows source, target, weight."""
        return pd.DataFrame([(s, t, w) for s, es in self.complements.items() for t, w in es],
                            columns=["source", "target", "weight"])

    def one_way_edges(self) -> list[tuple[str, str]]:
        """Edges a -> b with no b -> a: the asymmetry complements have and similarity lacks."""
        return [(s, t) for s, es in self.complements.items() for t, _ in es if self.weight(t, s) == 0.0]


@dataclass
class DemoCatalog:
    """The demo items with product type, role, fitted devices and release month (0 = January 2023)."""

    items: pd.DataFrame  # DEMO_COLUMNS; `fits` is a tuple of item ids, `category` a list

    def __post_init__(self) -> None:
        self.position_of = {item_id: i for i, item_id in enumerate(self.items["item_id"])}
        self.types = self.items["product_type"].to_numpy()
        self.is_device = (self.items["role"] == "device").to_numpy()
        self.release_month = self.items["release_month"].to_numpy(np.int64)
        self.fits_positions = [frozenset(self.position_of[f] for f in fits) for fits in self.items["fits"]]

    def __len__(self) -> int:
        return len(self.items)

    def catalog(self) -> Catalog:
        """The shared-schema view (item_id, title, category, brand, text)."""
        return Catalog(self.items.loc[:, ["item_id", "title", "category", "brand", "text"]].copy())

    def positions_of_type(self, product_type: str) -> np.ndarray:
        return np.flatnonzero(self.types == product_type)

    def is_compatible(self, a: int, b: int) -> bool:
        """Whether items at positions a and b work together (symmetric).

        A universal accessory (empty `fits`) works with anything; a device works with the accessories that
        list it; two accessories work together when they fit a common device; two devices always do.
        """
        a_acc, b_acc = not self.is_device[a], not self.is_device[b]
        fa, fb = self.fits_positions[a], self.fits_positions[b]
        if (a_acc and not fa) or (b_acc and not fb):
            return True
        if a_acc and b_acc:
            return bool(fa & fb)
        if b_acc:
            return a in fb
        if a_acc:
            return b in fa
        return True


def _parse_demo_table(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Check and type the CSV rows (`_line` from read_csv names the file line in errors)."""
    lines = frame["_line"].to_numpy()
    bad_role = ~frame["role"].isin(ROLES)
    if bad_role.any():
        raise DataError(f"role must be one of {ROLES}", file=path, line=int(lines[bad_role.to_numpy()][0]),
                        field="role")
    months = pd.to_numeric(frame["release_month"], errors="coerce")
    if months.isna().any():
        raise DataError("release_month must be an integer", file=path,
                        line=int(lines[months.isna().to_numpy()][0]), field="release_month")
    if frame["item_id"].duplicated().any():
        raise DataError("duplicate item_id", file=path,
                        line=int(lines[frame["item_id"].duplicated().to_numpy()][0]), field="item_id")
    out = frame.loc[:, list(DEMO_COLUMNS)].copy()
    out["category"] = [parse_category_string(c) for c in frame["category"]]
    out["fits"] = [tuple(f for f in str(v).split(";") if f) for v in frame["fits"]]
    out["release_month"] = months.astype(np.int64)
    known = set(out["item_id"])
    for line, fits in zip(lines, out["fits"]):
        missing = [f for f in fits if f not in known]
        if missing:
            raise DataError(f"fits unknown item ids {missing}", file=path, line=int(line), field="fits")
    return out


@lru_cache(maxsize=4)
def _cached_table(path: str) -> pd.DataFrame:
    frame = read_csv(Path(path), required=DEMO_COLUMNS)
    return _parse_demo_table(frame, Path(path))


def read_demo_catalog(path: str | Path = CATALOG_PATH) -> DemoCatalog:
    """The demo catalogue (parsed once per path and cached; each call gets its own copy)."""
    return DemoCatalog(_cached_table(str(path)).copy())


def read_complement_graph(path: str | Path = GRAPH_PATH) -> ComplementGraph:
    return ComplementGraph.from_json(path)
