"""The data schema every loader produces and every later stage consumes.

Why pandas (backed by numpy/pyarrow) rather than HF `datasets`: every stage here does joins, group-bys and
per-session sorting (splits, co-purchase counting, negative construction), which are one-liners in pandas and
awkward in `datasets`. Columns are typed compactly (string ids, int64 timestamps, categorical `kind`), so a
million-item catalogue with ten million interactions fits in a few GiB; `datasets` is used only where it earns
its keep, for LM fine-tuning data (eccr/llm).

Four tables:
- `Catalog.items`: item_id (str), title (str, "" if unknown), category (list[str], most general first),
  brand (str, "" if unknown), text (str, free description, "" if none).
- `Behaviour.events`: user_id (str), session_id (str), item_id (str), timestamp (int64 unix seconds; -1 if the
  source gives none).
- `Bundles.rows`: bundle_id, session_id, item_id, intent (crowd-written or ""), timestamp.
- `ComplementPairs.rows`: directed pairs source -> target with kind ("bundle", "also_bought",
  "bought_after", "bought_together", "co_purchase", ...), an optional group id and intent.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

NO_TIMESTAMP = -1
# Sessions the source gives without a user become their own user "anon:<session_id>" (so per-user sequences
# never merge strangers); statistics count them apart from real users.
ANONYMOUS_USER_PREFIX = "anon:"

CATALOG_COLUMNS = ("item_id", "title", "category", "brand", "text")
BEHAVIOUR_COLUMNS = ("user_id", "session_id", "item_id", "timestamp")
BUNDLE_COLUMNS = ("bundle_id", "session_id", "item_id", "intent", "timestamp")
PAIR_COLUMNS = ("source", "target", "kind", "group_id", "intent")


class DataError(ValueError):
    """A problem with an input file, named by file, line (1-based, header = line 1) and field."""

    def __init__(self, message: str, file: str | Path | None = None, line: int | None = None,
                 field: str | None = None):
        self.file, self.line, self.field = (str(file) if file else None), line, field
        where = ":".join(str(p) for p in (self.file, line) if p is not None)
        prefix = f"{where}: " if where else ""
        suffix = f" (field '{field}')" if field else ""
        super().__init__(f"{prefix}{message}{suffix}")


@dataclass
class DropLog:
    """Counts rows a loader dropped, by reason, so nothing disappears silently.

    Keeps the first few examples per reason (file:line) for the stats report. `notes` counts rows that were
    KEPT but are worth reporting (e.g. how a name was matched), so they never read as drops.
    """

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: Counter = field(default_factory=Counter)

    def note(self, what: str, count: int = 1) -> None:
        if count > 0:
            self.notes[what] += count

    def record(self, reason: str, count: int = 1, example: str | None = None) -> None:
        if count <= 0:
            return
        self.counts[reason] += count
        if example is not None:
            kept = self.examples.setdefault(reason, [])
            if len(kept) < 3:
                kept.append(example)

    def merge(self, other: DropLog) -> None:
        self.notes.update(other.notes)
        for reason, count in other.counts.items():
            self.counts[reason] += count
            for ex in other.examples.get(reason, []):
                kept = self.examples.setdefault(reason, [])
                if len(kept) < 3:
                    kept.append(ex)

    def total(self) -> int:
        return sum(self.counts.values())


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{table} is missing columns {missing}; has {list(frame.columns)}")


@dataclass
class Catalog:
    items: pd.DataFrame

    def __post_init__(self) -> None:
        _require_columns(self.items, CATALOG_COLUMNS, "Catalog")
        self.items = self.items.loc[:, list(CATALOG_COLUMNS)].reset_index(drop=True)
        self.items["item_id"] = self.items["item_id"].astype(str)
        for col in ("title", "brand", "text"):
            self.items[col] = self.items[col].fillna("").astype(str)
        self.items["category"] = [list(c) if isinstance(c, (list, tuple, np.ndarray)) else []
                                  for c in self.items["category"]]
        dup = self.items["item_id"].duplicated()
        if dup.any():
            raise DataError(f"Catalog has duplicate item ids, e.g. {self.items.loc[dup, 'item_id'].iloc[0]!r}",
                            field="item_id")
        self._index: pd.Index | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> pd.Index:
        if self._index is None:
            self._index = pd.Index(self.items["item_id"])
        return self._index

    def position(self, item_ids) -> np.ndarray:
        """Row positions of item ids (-1 where unknown)."""
        return self.ids.get_indexer(pd.Index(item_ids, dtype=object).astype(str))

    def titled(self) -> Catalog:
        return Catalog(self.items[self.items["title"].str.len() > 0].copy())

    def get(self, item_id: str) -> dict:
        pos = self.position([item_id])[0]
        if pos < 0:
            raise KeyError(item_id)
        return self.items.iloc[pos].to_dict()


@dataclass
class Behaviour:
    events: pd.DataFrame

    def __post_init__(self) -> None:
        _require_columns(self.events, BEHAVIOUR_COLUMNS, "Behaviour")
        ev = self.events.loc[:, list(BEHAVIOUR_COLUMNS)].copy()
        for col in ("user_id", "session_id", "item_id"):
            ev[col] = ev[col].astype(str)
        ev["timestamp"] = ev["timestamp"].fillna(NO_TIMESTAMP).astype(np.int64)
        self.events = ev.sort_values(["timestamp", "session_id"], kind="stable").reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.events)

    def sessions(self) -> pd.Series:
        """session_id -> list of item ids, in time order."""
        return self.events.groupby("session_id", sort=False)["item_id"].agg(list)

    def user_sequences(self) -> pd.Series:
        """user_id -> list of item ids in time order (a session's items keep their file order)."""
        return self.events.groupby("user_id", sort=False)["item_id"].agg(list)

    def item_counts(self) -> pd.Series:
        """item_id -> number of distinct sessions it occurs in (popularity for P_gamma)."""
        return self.events.drop_duplicates(["session_id", "item_id"])["item_id"].value_counts()


@dataclass
class Bundles:
    rows: pd.DataFrame

    def __post_init__(self) -> None:
        _require_columns(self.rows, BUNDLE_COLUMNS, "Bundles")
        r = self.rows.loc[:, list(BUNDLE_COLUMNS)].copy()
        for col in ("bundle_id", "session_id", "item_id"):
            r[col] = r[col].astype(str)
        r["intent"] = r["intent"].fillna("").astype(str)
        r["timestamp"] = r["timestamp"].fillna(NO_TIMESTAMP).astype(np.int64)
        self.rows = r.reset_index(drop=True)

    def __len__(self) -> int:
        return self.rows["bundle_id"].nunique()

    def directed_pairs(self) -> pd.DataFrame:
        """Every ordered pair (a, b), a != b, of items in the same bundle, as ComplementPairs rows."""
        r = self.rows[["bundle_id", "item_id", "intent", "timestamp"]]
        m = r.merge(r[["bundle_id", "item_id"]], on="bundle_id", suffixes=("_s", "_t"))
        m = m[m["item_id_s"] != m["item_id_t"]].drop_duplicates(["bundle_id", "item_id_s", "item_id_t"])
        return pd.DataFrame({"source": m["item_id_s"].values, "target": m["item_id_t"].values,
                             "kind": "bundle", "group_id": m["bundle_id"].values,
                             "intent": m["intent"].values, "timestamp": m["timestamp"].values})


@dataclass
class ComplementPairs:
    rows: pd.DataFrame

    def __post_init__(self) -> None:
        _require_columns(self.rows, PAIR_COLUMNS, "ComplementPairs")
        r = self.rows.copy()
        for col in ("source", "target", "kind", "group_id"):
            r[col] = r[col].fillna("").astype(str)
        r["intent"] = r["intent"].fillna("").astype(str)
        if "timestamp" not in r.columns:
            r["timestamp"] = NO_TIMESTAMP
        r["timestamp"] = r["timestamp"].fillna(NO_TIMESTAMP).astype(np.int64)
        self.rows = r.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.rows)


def empty_behaviour() -> Behaviour:
    return Behaviour(pd.DataFrame({c: pd.Series(dtype=object) for c in BEHAVIOUR_COLUMNS[:-1]}
                                  | {"timestamp": pd.Series(dtype=np.int64)}))


def empty_bundles() -> Bundles:
    return Bundles(pd.DataFrame({c: pd.Series(dtype=object) for c in BUNDLE_COLUMNS[:-1]}
                                | {"timestamp": pd.Series(dtype=np.int64)}))


def empty_pairs() -> ComplementPairs:
    return ComplementPairs(pd.DataFrame({c: pd.Series(dtype=object) for c in PAIR_COLUMNS}))


@dataclass
class Dataset:
    """One domain's data: what every loader returns and every stage takes."""

    name: str
    catalog: Catalog
    behaviour: Behaviour = field(default_factory=empty_behaviour)
    bundles: Bundles = field(default_factory=empty_bundles)
    pairs: ComplementPairs = field(default_factory=empty_pairs)
    dropped: DropLog = field(default_factory=DropLog)
    source: str = ""

    def all_pairs(self) -> pd.DataFrame:
        """Directed complement pairs from bundles plus any explicit pairs (also-bought etc.)."""
        frames = [f for f in (self.bundles.directed_pairs(), self.pairs.rows) if len(f)]
        if not frames:
            return empty_pairs().rows
        return pd.concat(frames, ignore_index=True)

    def with_item_prefix(self, prefix: str) -> Dataset:
        """The same data with every item id written `prefix + id`: ids are local to a source (item 10675 of one
        domain is unrelated to item 10675 of another), so data of two sources can share one catalogue."""
        items = self.catalog.items.assign(item_id=prefix + self.catalog.items["item_id"])
        events = self.behaviour.events.assign(item_id=prefix + self.behaviour.events["item_id"])
        bundles = self.bundles.rows.assign(item_id=prefix + self.bundles.rows["item_id"])
        pairs = self.pairs.rows.assign(source=prefix + self.pairs.rows["source"],
                                       target=prefix + self.pairs.rows["target"])
        return Dataset(self.name, Catalog(items), Behaviour(events), Bundles(bundles), ComplementPairs(pairs),
                       self.dropped, self.source)
