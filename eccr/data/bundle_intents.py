"""Loader for the Amazon bundle-intent format (Sun et al., SIGIR 2022; ../shared/data/amazon_bundle_intents).

A domain folder holds comma-separated files with a header row (the original README wrongly says tab):
item_titles, item_categories, item_idx_mapping, user_session, session_item, session_bundle, bundle_item,
bundle_intent. Any folder with these files loads, so a new domain needs no code change.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from eccr.data.categories import parse_category_paths, primary_path
from eccr.data.io import parse_timestamps, read_csv
from eccr.data.schema import (
    ANONYMOUS_USER_PREFIX,
    NO_TIMESTAMP,
    Behaviour,
    Bundles,
    Catalog,
    DataError,
    Dataset,
    DropLog,
)

REQUIRED_FILES = {
    "item_titles.csv": ("item ID", "titles"),
    "item_categories.csv": ("item ID", "categories"),
    "session_item.csv": ("session ID", "item ID"),
    "user_session.csv": ("user ID", "session ID", "timestamp"),
    "session_bundle.csv": ("session ID", "bundle ID"),
    "bundle_item.csv": ("bundle ID", "item ID"),
    "bundle_intent.csv": ("bundle ID", "intent"),
}
OPTIONAL_FILES = {"item_idx_mapping.csv": ("item ID", "source ID")}


def is_bundle_intent_folder(path: Path) -> bool:
    return path.is_dir() and (path / "bundle_item.csv").exists() and (path / "session_item.csv").exists()


def _drop_blank(frame: pd.DataFrame, column: str, reason: str, path: Path, drops: DropLog) -> pd.DataFrame:
    blank = frame[column].str.strip().eq("")
    if blank.any():
        drops.record(reason, int(blank.sum()), example=f"{path.name}:{int(frame.loc[blank, '_line'].iloc[0])}")
    return frame[~blank]


def _drop_duplicates(frame: pd.DataFrame, keys: list[str], reason: str, path: Path,
                     drops: DropLog) -> pd.DataFrame:
    dup = frame.duplicated(keys)
    if dup.any():
        drops.record(reason, int(dup.sum()), example=f"{path.name}:{int(frame.loc[dup, '_line'].iloc[0])}")
    return frame[~dup]


def load_bundle_intents(folder: str | Path, name: str | None = None) -> Dataset:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("expected a bundle-intent domain folder", file=folder)
    drops = DropLog()
    tables = {}
    for fname, cols in {**REQUIRED_FILES, **OPTIONAL_FILES}.items():
        path = folder / fname
        if fname in OPTIONAL_FILES and not path.exists():
            continue
        tables[fname] = read_csv(path, required=cols)

    catalog = _catalog(folder, tables, drops)
    sessions = _sessions(folder, tables, drops)
    events = tables["session_item.csv"].merge(sessions, on="session ID", how="left")
    no_user = events["user ID"].isna()
    if no_user.any():  # a session with items but no user row: keep it as its own anonymous user
        events.loc[no_user, "user ID"] = ANONYMOUS_USER_PREFIX + events.loc[no_user, "session ID"]
        events.loc[no_user, "timestamp"] = NO_TIMESTAMP
    events = _drop_duplicates(events, ["session ID", "item ID"], "duplicate session_item row",
                              folder / "session_item.csv", drops)
    behaviour = Behaviour(pd.DataFrame({"user_id": events["user ID"], "session_id": events["session ID"],
                                        "item_id": events["item ID"], "timestamp": events["timestamp"]}))

    # every item that occurs in a session belongs to the catalogue, titled or not
    known = set(catalog.items["item_id"])
    extra = sorted(set(behaviour.events["item_id"]) - known, key=lambda x: (len(x), x))
    if extra:
        catalog = Catalog(pd.concat([catalog.items, pd.DataFrame(
            {"item_id": extra, "title": "", "category": [[] for _ in extra], "brand": "", "text": ""})],
            ignore_index=True))

    bundles = _bundles(folder, tables, sessions, drops)
    return Dataset(name=name or folder.name, catalog=catalog, behaviour=behaviour, bundles=bundles,
                   dropped=drops, source=f"bundle_intents:{folder}")


def _catalog(folder: Path, tables: dict, drops: DropLog) -> Catalog:
    titles = tables["item_titles.csv"]
    titles = _drop_blank(titles, "item ID", "item_titles row without item ID", folder / "item_titles.csv", drops)
    titles = _drop_blank(titles, "titles", "empty title", folder / "item_titles.csv", drops)
    titles = _drop_duplicates(titles, ["item ID"], "duplicate item ID in item_titles (kept first)",
                              folder / "item_titles.csv", drops)
    cats = tables["item_categories.csv"]
    cats = _drop_duplicates(cats, ["item ID"], "duplicate item ID in item_categories (kept first)",
                            folder / "item_categories.csv", drops)
    merged = titles.merge(cats[["item ID", "categories"]], on="item ID", how="outer")
    paths = [parse_category_paths(c) if isinstance(c, str) else [] for c in merged["categories"]]
    untitled = merged["titles"].isna()
    if untitled.any():
        drops.record("category row for an item without title (kept untitled)", int(untitled.sum()))
    items = pd.DataFrame({
        "item_id": merged["item ID"].astype(str),
        "title": [html.unescape(t).strip() if isinstance(t, str) else "" for t in merged["titles"]],
        "category": [primary_path(p) for p in paths],
        "brand": "",
        "text": ["; ".join(" > ".join(p) for p in ps[1:]) for ps in paths],  # other paths kept as text
    })
    return Catalog(items)


def _sessions(folder: Path, tables: dict, drops: DropLog) -> pd.DataFrame:
    us = tables["user_session.csv"]
    path = folder / "user_session.csv"
    us = us.assign(timestamp=parse_timestamps(us["timestamp"], path, "timestamp", us["_line"], drops))
    us = us[us["timestamp"].notna()]  # parse_timestamps counted these
    us = _drop_duplicates(us, ["session ID"], "session with several user rows (kept first)", path, drops)
    return us[["user ID", "session ID", "timestamp"]].astype({"timestamp": np.int64})


def _bundles(folder: Path, tables: dict, sessions: pd.DataFrame, drops: DropLog) -> Bundles:
    bi = _drop_duplicates(tables["bundle_item.csv"], ["bundle ID", "item ID"], "duplicate bundle_item row",
                          folder / "bundle_item.csv", drops)
    intents = _drop_duplicates(tables["bundle_intent.csv"], ["bundle ID"],
                               "duplicate bundle ID in bundle_intent (kept first)",
                               folder / "bundle_intent.csv", drops)
    sb = _drop_duplicates(tables["session_bundle.csv"], ["bundle ID"], "bundle in several sessions (kept first)",
                          folder / "session_bundle.csv", drops)
    rows = (bi[["bundle ID", "item ID"]]
            .merge(sb[["bundle ID", "session ID"]], on="bundle ID", how="left")
            .merge(intents[["bundle ID", "intent"]], on="bundle ID", how="left")
            .merge(sessions[["session ID", "timestamp"]], on="session ID", how="left"))
    orphan = rows["session ID"].isna()
    if orphan.any():
        drops.record("bundle_item row whose bundle has no session", int(orphan.sum()))
        rows = rows[~orphan]
    return Bundles(pd.DataFrame({"bundle_id": rows["bundle ID"], "session_id": rows["session ID"],
                                 "item_id": rows["item ID"], "intent": rows["intent"].fillna("").map(html.unescape),
                                 "timestamp": rows["timestamp"]}))
