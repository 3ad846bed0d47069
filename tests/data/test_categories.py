"""Category paths as the sources write them: commas inside names, several paths, empty lists, entities."""
from __future__ import annotations

import pandas as pd
import pytest

from eccr.data.categories import leaf_category, parse_category_paths, parse_category_string, primary_path


@pytest.mark.parametrize("raw, expected", [
    ("[[Clothing, Shoes & Jewelry,Women,Shoes]]", [["Clothing, Shoes & Jewelry", "Women", "Shoes"]]),
    ("[[Clothing, Shoes & Jewelry,Novelty, Costumes & More,Novelty,Women]]",
     [["Clothing, Shoes & Jewelry", "Novelty, Costumes & More", "Novelty", "Women"]]),
    ("[[Electronics,Camera & Photo,Lenses],[Electronics,Gifts]]",
     [["Electronics", "Camera & Photo", "Lenses"], ["Electronics", "Gifts"]]),
    ("[[a,b], [c, d,e]]", [["a", "b"], ["c, d", "e"]]),
    ("[[]]", []),
    ("[]", []),
    ("", []),
    ("   ", []),
    (None, []),
    ("[[Home &amp; Kitchen,Kitchen &amp; Dining,Bakeware]]", [["Home & Kitchen", "Kitchen & Dining", "Bakeware"]]),
    ("[[Toys &amp; Games,&quot;Dolls&quot;]]", [["Toys & Games", '"Dolls"']]),
    ("[[&#44;odd,b]]", [[",odd", "b"]]),          # an encoded comma is decoded after splitting, not split on
    ("Electronics,Computers", [["Electronics", "Computers"]]),  # no brackets at all
    # str() of a Python list, as a CSV export of a list column writes it
    ("['Clothing, Shoes & Jewelry', \"Men's\", 'Shoes']", [["Clothing, Shoes & Jewelry", "Men's", "Shoes"]]),
])
def test_parse_category_paths(raw, expected):
    assert parse_category_paths(raw) == expected


def test_leaf_category_is_the_last_level():
    import numpy as np

    assert leaf_category(["Electronics", "Camera & Photo", "Lenses"]) == "Lenses"
    assert leaf_category(np.array(["Toys", "Trains"], dtype=object)) == "Trains"  # as read from Parquet
    assert leaf_category([]) == leaf_category(None) == ""


def test_primary_path_is_the_first():
    assert primary_path(parse_category_paths("[[a,b],[c]]")) == ["a", "b"]
    assert primary_path([]) == []


@pytest.mark.parametrize("raw, expected", [
    ("Hobbies > Model Trains & Railway Sets > Rail Vehicles > Trains",
     ["Hobbies", "Model Trains & Railway Sets", "Rail Vehicles", "Trains"]),
    ("Hobbies >  > Trains ", ["Hobbies", "Trains"]),
    ("NA", []),
    ("", []),
    (None, []),
])
def test_parse_category_string(raw, expected):
    assert parse_category_string(raw) == expected


@pytest.mark.real_data
def test_all_real_rows_parse_cleanly(electronic_dir, clothing_dir):
    seen_clothing_root = 0
    for folder in (electronic_dir, clothing_dir):
        rows = pd.read_csv(folder / "item_categories.csv", dtype=str, keep_default_na=False)["categories"]
        for raw in rows:
            paths = parse_category_paths(raw)
            if raw.strip() not in ("[[]]", ""):
                assert paths, raw
            for path in paths:
                for level in path:
                    assert level and level == level.strip(), (raw, level)
                    assert not level.startswith((",", "[", "]")) and not level.endswith(","), (raw, level)
                    assert level not in ("Shoes & Jewelry", "Costumes & More"), (raw, level)  # split fragments
                if "Clothing, Shoes & Jewelry" in raw and path[0].startswith("Clothing"):
                    assert path[0] == "Clothing, Shoes & Jewelry"
                    seen_clothing_root += 1
    assert seen_clothing_root > 3_000  # the check above really ran on clothing rows
