"""Loader for the Amazon UK toys scrape (PromptCloud; ../shared/data/amazon_uk_toys_also_bought/SOURCE.md).

products.csv gives the catalogue (category from the " > " path, manufacturer as brand). also_bought.csv and
bought_after.csv give directed pairs, but their targets are product *names* taken from URL slugs (the ASIN was
dropped upstream), e.g. "Motion Sand%C2%AE Fun Beach Playset". A target is matched to a product when its
normalised name equals a product's normalised title or is a word-prefix of exactly one title; SOURCE.md reports
about 4% of also-bought edges matchable. Every other target becomes a text-only catalogue item with the stable id
"name:<normalised slug>", so it can still be ranked by text. Match counts are recorded in `Dataset.dropped`.
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pandas as pd

from eccr.data.categories import parse_category_string
from eccr.data.io import read_csv
from eccr.data.schema import Catalog, ComplementPairs, DataError, Dataset, DropLog

TEXT_ONLY_PREFIX = "name:"
PRODUCT_COLUMNS = ("uniq_id", "product_name", "amazon_category_and_sub_category", "manufacturer")
# file -> (kind, target column)
PAIR_FILES = {"also_bought.csv": ("also_bought", "also_bought_product"),
              "bought_after.csv": ("bought_after", "bought_after_viewing_product")}


def normalise_name(text: str) -> str:
    """URL-unescaped, NFKC, lower case, every run of non-alphanumerics a single space ("Lego® Duplo" -> "lego duplo")."""
    text = unicodedata.normalize("NFKC", unquote(text or "")).lower()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


@dataclass
class NameMatcher:
    """Matches slug names to catalogue ids by exact normalised name, else by a unique word-prefix."""

    keys: list[str]      # sorted normalised titles
    ids: list[str]       # item id of each key
    exact: dict          # normalised title -> list of item ids

    @classmethod
    def from_titles(cls, item_ids, titles) -> NameMatcher:
        pairs = sorted((normalise_name(t), i) for i, t in zip(item_ids, titles) if normalise_name(t))
        exact: dict[str, list[str]] = {}
        for key, item_id in pairs:
            exact.setdefault(key, []).append(item_id)
        return cls([k for k, _ in pairs], [i for _, i in pairs], exact)

    def match(self, name: str) -> tuple[str | None, str]:
        """(item id or None, how): how is "exact", "prefix", "ambiguous" or "none"."""
        key = normalise_name(name)
        if not key:
            return None, "none"
        if key in self.exact:
            found = self.exact[key]
            return (found[0], "exact") if len(found) == 1 else (None, "ambiguous")
        lo = bisect.bisect_left(self.keys, key + " ")
        hi = bisect.bisect_left(self.keys, key + " \uffff")
        found = set(self.ids[lo:hi])
        if len(found) == 1:
            return found.pop(), "prefix"
        return None, ("ambiguous" if found else "none")


def _catalog(folder: Path, drops: DropLog) -> Catalog:
    path = folder / "products.csv"
    products = read_csv(path, required=PRODUCT_COLUMNS)
    blank_id = products["uniq_id"].str.strip().eq("")
    if blank_id.any():
        drops.record("product row without uniq_id", int(blank_id.sum()),
                     example=f"{path.name}:{int(products.loc[blank_id, '_line'].iloc[0])}")
        products = products[~blank_id]
    dup = products["uniq_id"].duplicated()
    if dup.any():
        drops.record("duplicate uniq_id in products (kept first)", int(dup.sum()),
                     example=f"{path.name}:{int(products.loc[dup, '_line'].iloc[0])}")
        products = products[~dup]
    untitled = products["product_name"].str.strip().eq("")
    if untitled.any():
        drops.record("product without name (kept untitled)", int(untitled.sum()),
                     example=f"{path.name}:{int(products.loc[untitled, '_line'].iloc[0])}")
    return Catalog(pd.DataFrame({
        "item_id": products["uniq_id"].str.strip(),
        "title": products["product_name"].str.strip(),
        "category": [parse_category_string(c) for c in products["amazon_category_and_sub_category"]],
        "brand": products["manufacturer"].str.strip(),
        "text": "",
    }))


def _read_pairs(folder: Path, fname: str, catalog_ids: set[str], matcher: NameMatcher,
                drops: DropLog) -> tuple[pd.DataFrame, dict[str, str]]:
    """Directed pairs of one file and the text-only items {id: display name} its targets need."""
    kind, target_col = PAIR_FILES[fname]
    path = folder / fname
    frame = read_csv(path, required=("uniq_id", target_col))
    unknown = ~frame["uniq_id"].isin(catalog_ids)
    if unknown.any():
        drops.record(f"{kind} row whose source is not in products.csv", int(unknown.sum()),
                     example=f"{fname}:{int(frame.loc[unknown, '_line'].iloc[0])}")
        frame = frame[~unknown]
    cache: dict[str, tuple[str | None, str]] = {}
    targets, text_only, how_counts = [], {}, {"exact": 0, "prefix": 0, "ambiguous": 0, "none": 0}
    for raw in frame[target_col]:
        if raw not in cache:
            cache[raw] = matcher.match(raw)
        item_id, how = cache[raw]
        how_counts[how] += 1
        if item_id is None and normalise_name(raw):
            item_id = TEXT_ONLY_PREFIX + normalise_name(raw)
            text_only.setdefault(item_id, unquote(raw).strip())
        targets.append(item_id)
    out = pd.DataFrame({"source": frame["uniq_id"].values, "target": targets, "kind": kind,
                        "group_id": "", "intent": "", "_line": frame["_line"].values})
    _record_matches(kind, how_counts, drops)
    blank = out["target"].isna()
    if blank.any():
        drops.record(f"{kind} row with an empty target name", int(blank.sum()),
                     example=f"{fname}:{int(out.loc[blank, '_line'].iloc[0])}")
    self_pair = out["source"] == out["target"]
    if self_pair.any():
        drops.record(f"{kind} pair of a product with itself (target name matched its source)", int(self_pair.sum()),
                     example=f"{fname}:{int(out.loc[self_pair, '_line'].iloc[0])}")
    out = out[~blank & ~self_pair]
    dup = out.duplicated(["source", "target"])
    if dup.any():
        drops.record(f"duplicate {kind} pair", int(dup.sum()),
                     example=f"{fname}:{int(out.loc[dup, '_line'].iloc[0])}")
    return out[~dup].drop(columns="_line"), text_only


def _record_matches(kind: str, how_counts: dict[str, int], drops: DropLog) -> None:
    """Match outcomes go to the DropLog so the stats report shows them next to real drops."""
    drops.note(f"{kind} target matched by exact name", how_counts["exact"])
    drops.note(f"{kind} target matched by unique name prefix", how_counts["prefix"])
    drops.record(f"{kind} target name matches several products (kept as text-only item)", how_counts["ambiguous"])
    drops.record(f"{kind} target not in catalogue (kept as text-only item)", how_counts["none"])


def load_uk_toys(folder: str | Path, name: str | None = None) -> Dataset:
    """Read the UK toys folder: products.csv plus also_bought.csv and (if present) bought_after.csv."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("expected the UK toys folder (products.csv, also_bought.csv)", file=folder)
    drops = DropLog()
    catalog = _catalog(folder, drops)
    matcher = NameMatcher.from_titles(catalog.items["item_id"], catalog.items["title"])
    ids = set(catalog.items["item_id"])
    frames, text_only = [], {}
    for fname in PAIR_FILES:
        if fname == "bought_after.csv" and not (folder / fname).exists():
            continue
        pairs, extra = _read_pairs(folder, fname, ids, matcher, drops)
        frames.append(pairs)
        for item_id, title in extra.items():
            text_only.setdefault(item_id, title)
    if text_only:
        catalog = Catalog(pd.concat([catalog.items, pd.DataFrame(
            {"item_id": list(text_only), "title": list(text_only.values()),
             "category": [[] for _ in text_only], "brand": "", "text": ""})], ignore_index=True))
    return Dataset(name=name or "uk_toys", catalog=catalog,
                   pairs=ComplementPairs(pd.concat(frames, ignore_index=True)), dropped=drops,
                   source=f"uk_toys:{folder}")


def is_text_only(item_id: str) -> bool:
    """True for catalogue items made from an unmatched slug name (no product row behind them)."""
    return item_id.startswith(TEXT_ONLY_PREFIX)
