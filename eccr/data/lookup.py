"""`ItemLookup`: the catalogue rows a trained run serves, by id and by title.

One object holds them for the whole serving side: the Recommender resolves what a user typed (an id, an exact
title, free text) through it, and the candidate ranker (eccr/rank/candidates.py) reads the rows it needs for
flags and leaf categories. Items added at run time (cold start) are added here once and are known to both.
"Titled" items are the ones that can be queried and recommended: a title and a row in the run's vectors.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from eccr.data.categories import category_text, leaf_category
from eccr.data.schema import Catalog


def read_catalog(path: str | Path) -> Catalog:
    """A run's catalog.parquet (category paths back to lists)."""
    items = pd.read_parquet(path)
    items["category"] = [list(c) for c in items["category"]]
    return Catalog(items)


class ItemLookup:
    def __init__(self, catalog: Catalog, vector_ids: Sequence[str]):
        self.catalog = catalog
        self.rows: dict[str, dict] = {r.item_id: r._asdict() for r in catalog.items.itertuples(index=False)}
        self.titled: list[str] = []
        self._titled_set: set[str] = set()
        self._title_lower: dict[str, str] = {}
        self._resolved: dict[str, str] = {}  # free text -> the item `resolve` chose (cleared when items are added)
        self._add_titled(vector_ids)

    def _add_titled(self, item_ids: Iterable[str]) -> None:
        for i in item_ids:
            title = self.rows.get(i, {}).get("title")
            if title and i not in self._titled_set:
                self.titled.append(i)
                self._titled_set.add(i)
                self._title_lower[title.lower()] = i  # a repeated title: the last item wins

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.rows

    def __len__(self) -> int:
        return len(self.titled)

    def is_titled(self, item_id: str) -> bool:
        """A catalogue item with a title and vectors: the items that can be queried and recommended."""
        return str(item_id) in self._titled_set

    def row(self, item_id: str) -> dict:
        return self.rows[item_id]

    def leaf(self, item_id: str) -> str:
        """The last level of the item's category path ("" when it has none)."""
        return leaf_category(self.rows[item_id]["category"])

    def category_text(self, *item_ids: str) -> str:
        return " ".join(category_text(self.rows[i]["category"]) for i in item_ids)

    def search(self, text: str, limit: int = 20) -> list[tuple[str, str]]:
        """(item_id, title) whose title contains every word of `text` (case-insensitive); "" lists the first."""
        needle = [w for w in (text or "").lower().split() if w]
        out = []
        for item in self.titled:
            title = self.rows[item]["title"]
            low = title.lower()
            if all(w in low for w in needle) or (needle and item == text.strip()):
                out.append((item, title))
                if len(out) >= limit:
                    break
        return out

    def resolve(self, item: str) -> str:
        """An item id, an exact title, or the best title match for free text."""
        item = str(item).strip()
        if self.is_titled(item):
            return item
        text = item.lower()
        if text in self._title_lower:
            return self._title_lower[text]
        if text not in self._resolved:
            needle = text.split()
            hits = self.search(item, limit=len(self.titled)) if needle else []
            if not hits:
                raise KeyError(f"no catalogue item matches {item!r}; give an item id or a title")
            self._resolved[text] = min(hits, key=lambda hit: _match_rank(hit[1], needle))[0]
        return self._resolved[text]

    def add(self, new: Catalog) -> None:
        """Appends new items (ids not known yet, each with a title and vectors) to the catalogue."""
        self.catalog = Catalog(pd.concat([self.catalog.items, new.items], ignore_index=True))
        for r in new.items.itertuples(index=False):
            self.rows[r.item_id] = r._asdict()
            self.titled.append(r.item_id)
            self._titled_set.add(r.item_id)
            self._title_lower[r.title.lower()] = r.item_id
        self._resolved.clear()


_TITLE_HEAD_END = re.compile(r"\s(?:for|with|fits|compatible)\s|\s[-–|]\s|\(|\[|,", re.IGNORECASE)


def title_head(title: str) -> str:
    """A title up to its first " for ", " with ", " - ", "(", "," ...: what the item is, not what it is for."""
    return _TITLE_HEAD_END.split(title or "", maxsplit=1)[0]


def _match_rank(title: str, needle: list[str]) -> tuple[bool, int, int]:
    """How well a title that contains every word of `needle` matches it, lower first: the words in the title's
    head (`title_head`), so "Dell XPS 13" is the laptop, not a charger "for … Dell XPS 13"; then the earliest
    first word; then the shorter title."""
    low = title.lower()
    head = title_head(low)
    return (not all(w in head for w in needle), min((low.find(w) for w in needle), default=0), len(title))
