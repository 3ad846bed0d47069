"""A tiny synthetic bundle-intent folder (same file layout as the real one, values made up here)."""
from __future__ import annotations

import copy
import csv
from collections.abc import Callable
from pathlib import Path

import pytest

# file -> rows, header first. Items 1..6; item 6 has no title (it is only in a session). Session s4 has no user.
TINY_BUNDLE_TABLES: dict[str, list[list[str]]] = {
    "item_titles.csv": [["item ID", "titles"], ["1", "Canon EOS Rebel &quot;T3&quot;"], ["2", "LP-E10 Battery"],
                        ["3", "Lens Cap 58mm"], ["4", "Walkie Talkie"], ["5", "Radio Antenna"]],
    "item_categories.csv": [["item ID", "categories"], ["1", "[[Electronics,Camera & Photo,Digital Cameras]]"],
                            ["2", "[[Electronics,Camera & Photo,Batteries],[Electronics,Gifts]]"],
                            ["3", "[[Electronics,Camera & Photo,Lens Caps]]"], ["4", "[[Electronics,Radios]]"],
                            ["5", "[[]]"]],
    "item_idx_mapping.csv": [["item ID", "source ID"]] + [[str(i), f"B00{i}"] for i in range(1, 7)],
    "user_session.csv": [["user ID", "session ID", "timestamp"], ["u1", "s1", "1000"], ["u1", "s2", "2000"],
                         ["u2", "s3", "3000"]],
    "session_item.csv": [["session ID", "item ID"], ["s1", "1"], ["s1", "2"], ["s1", "3"], ["s2", "4"], ["s2", "5"],
                         ["s3", "1"], ["s3", "6"], ["s4", "2"], ["s4", "5"]],
    "session_bundle.csv": [["session ID", "bundle ID"], ["s1", "b1"], ["s2", "b2"], ["s3", "b3"]],
    "bundle_item.csv": [["bundle ID", "item ID"], ["b1", "1"], ["b1", "2"], ["b1", "3"], ["b2", "4"], ["b2", "5"],
                        ["b3", "1"], ["b3", "6"]],
    "bundle_intent.csv": [["bundle ID", "intent"], ["b1", "camera kit"], ["b2", "Item 1 accessory for Item 2"],
                          ["b3", "travel &amp; photo"]],
}


def write_bundle_folder(folder: Path, tables: dict[str, list[list[str]]] | None = None,
                        delimiter: str = ",") -> Path:
    """Write the tiny tables (or the given ones) as a bundle-intent domain folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for fname, rows in (tables or TINY_BUNDLE_TABLES).items():
        with open(folder / fname, "w", newline="", encoding="utf-8") as f:
            csv.writer(f, delimiter=delimiter).writerows(rows)
    return folder


@pytest.fixture
def tiny_bundle_dir(tmp_path) -> Path:
    return write_bundle_folder(tmp_path / "tiny")


@pytest.fixture
def make_bundle_folder(tmp_path) -> Callable[..., Path]:
    """make_bundle_folder(name, edit=None, delimiter=","): a tiny folder after `edit(tables)` changed a copy."""
    def make(name: str, edit: Callable[[dict], None] | None = None, delimiter: str = ",") -> Path:
        tables = copy.deepcopy(TINY_BUNDLE_TABLES)
        if edit is not None:
            edit(tables)
        return write_bundle_folder(tmp_path / name, tables, delimiter)
    return make
