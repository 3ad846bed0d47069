"""McAuley metadata, UK toys and generic loaders on tiny files written here, plus UK toys on the real scrape."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from eccr.data.generic import load_generic, load_parquet_folder
from eccr.data.load import load_dataset
from eccr.data.mcauley import load_mcauley
from eccr.data.stats import dataset_stats
from eccr.data.uk_toys import NameMatcher, is_text_only, load_uk_toys, normalise_name

# --- McAuley 2014 / 2018 ---------------------------------------------------------------------------------------

META_2014 = [
    # the 2014 dumps are Python literals: single quotes, and a double quote inside a title
    ("{'asin': 'B001', 'title': 'Canon EOS \"Rebel\" T3 DSLR', 'brand': 'Canon', "
     "'categories': [['Electronics', 'Camera & Photo', 'Digital Cameras'], ['Electronics', 'Gifts']], "
     "'description': 'A camera &amp; kit.', "
     "'related': {'also_bought': ['B002', 'B003'], 'bought_together': ['B002'], 'also_viewed': ['B004', 'B999']}}"),
    ("{'asin': 'B002', 'title': 'LP-E10 Battery', 'categories': [['Electronics', 'Camera & Photo', 'Batteries']], "
     "'related': {'also_bought': ['B001']}}"),
    '{"asin": "B003", "title": "SD card 32GB", "categories": [["Clothing, Shoes & Jewelry", "Women"]]}',
    "{'asin': 'B004', 'title': 'Nikon D3100', 'salesRank': {'Camera &amp; Photo': 12}}",
]

META_2018 = [
    {"asin": "X1", "title": "Trail Running Shoe", "brand": "Salomon", "category": ["Clothing, Shoes &amp; Jewelry",
     "Men", "Shoes"], "description": ["Light.", "Grippy sole."], "also_buy": ["X2", "X3"], "also_view": ["X4"]},
    {"asin": "X2", "title": "Running Socks", "category": [], "description": [], "also_buy": [], "also_view": []},
    {"asin": "X4", "title": "Another Trail Shoe", "category": ["Clothing, Shoes & Jewelry", "Men", "Shoes"]},
]


def _write_lines(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def _pair_set(ds, kind=None) -> set[tuple[str, str]]:
    rows = ds.pairs.rows if kind is None else ds.pairs.rows[ds.pairs.rows["kind"] == kind]
    return set(zip(rows["source"], rows["target"]))


def test_mcauley_2014_python_literals(tmp_path):
    ds = load_mcauley(_write_lines(tmp_path / "meta_Electronics.json", META_2014))
    assert ds.name == "Electronics"
    cam = ds.catalog.get("B001")
    assert cam["title"] == 'Canon EOS "Rebel" T3 DSLR'
    assert cam["brand"] == "Canon" and cam["text"] == "A camera & kit."
    assert cam["category"] == ["Electronics", "Camera & Photo", "Digital Cameras"]  # first path only
    assert ds.catalog.get("B003")["category"] == ["Clothing, Shoes & Jewelry", "Women"]
    assert _pair_set(ds, "also_bought") == {("B001", "B002"), ("B001", "B003"), ("B002", "B001")}
    assert _pair_set(ds, "bought_together") == {("B001", "B002")}
    assert _pair_set(ds, "also_viewed") == {("B001", "B004"), ("B001", "B999")}  # substitutes kept
    # B999 has no line of its own: an untitled item, counted
    assert ds.catalog.get("B999")["title"] == ""
    assert ds.dropped.counts["related product without its own line (kept as untitled item)"] == 1
    stats = dataset_stats(ds)
    assert (stats["items"], stats["titled_items"], stats["interactions"]) == (5, 4, 0)


def test_mcauley_2018_json_gz(tmp_path):
    path = _write_lines(tmp_path / "meta_Clothing.json.gz", [json.dumps(r) for r in META_2018], gz=True)
    ds = load_dataset(path)  # the dispatcher picks the McAuley loader for *.json.gz
    assert ds.source.startswith("mcauley:")
    shoe = ds.catalog.get("X1")
    assert shoe["category"] == ["Clothing, Shoes & Jewelry", "Men", "Shoes"]
    assert shoe["text"] == "Light. Grippy sole." and shoe["brand"] == "Salomon"
    assert _pair_set(ds, "also_bought") == {("X1", "X2"), ("X1", "X3")}
    assert _pair_set(ds, "also_viewed") == {("X1", "X4")}
    assert ds.catalog.get("X3")["title"] == "" and len(ds.catalog) == 4
    assert ds.catalog.get("X2")["category"] == []


# --- UK toys -----------------------------------------------------------------------------------------------------

def _uk_toys_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "uk"
    folder.mkdir()
    pd.DataFrame({
        "uniq_id": ["p1", "p2", "p3", "p4"],
        "product_name": ["Hornby 2014 Catalogue", "Hornby R8150 Catalogue 2015 Edition",
                         "Motion Sand® Fun Beach Playset", "Lego Minifigure Series 1"],
        "amazon_category_and_sub_category": ["Hobbies > Model Trains & Railway Sets", "Hobbies", "", "Toys > Lego"],
        "manufacturer": ["Hornby", "Hornby", "Motion Sand", "LEGO"],
        "price": ["3.42", "", "", ""], "number_available_in_stock": "", "number_of_reviews": "",
        "number_of_answered_questions": "", "average_rating": "",
    }).to_csv(folder / "products.csv", index=False)
    pd.DataFrame({"uniq_id": ["p1", "p1", "p1", "p1", "p4", "p4"],
                  "also_bought_key": [f"also_bought{i}" for i in range(1, 7)],
                  "also_bought_product": ["Hornby R8150 Catalogue 2015",      # unique prefix of p2
                                          "Motion Sand%C2%AE Fun Beach Playset",  # exact after unescaping
                                          "Hornby Book Model Railways Edition",  # outside the catalogue
                                          "Hornby",                              # prefix of p1 and p2: ambiguous
                                          "Lego Minifigure Series 1",            # itself: dropped
                                          "Hornby Book Model Railways Edition"]}).to_csv(
        folder / "also_bought.csv", index=False)
    pd.DataFrame({"uniq_id": ["p2", "p9"], "bought_after_viewing_key": ["bought_after_viewing1"] * 2,
                  "bought_after_viewing_product": ["Hornby 2014 Catalogue", "Lego"]}).to_csv(
        folder / "bought_after.csv", index=False)
    return folder


def test_normalise_and_match_names():
    assert normalise_name("Motion Sand%C2%AE Fun  Beach-Playset") == "motion sand fun beach playset"
    m = NameMatcher.from_titles(["a", "b", "c"], ["Hornby 2014 Catalogue", "Hornby R8150 Catalogue", "Horn"])
    assert m.match("hornby r8150") == ("b", "prefix")
    assert m.match("Horn") == ("c", "exact")          # exact beats being a prefix of others
    assert m.match("Hornby") == (None, "ambiguous")
    assert m.match("Hornb") == (None, "none")         # prefixes stop at word boundaries
    assert m.match("%20") == (None, "none")


def test_uk_toys_tiny(tmp_path):
    ds = load_dataset(_uk_toys_folder(tmp_path))
    assert ds.source.startswith("uk_toys:")
    assert ds.catalog.get("p1")["category"] == ["Hobbies", "Model Trains & Railway Sets"]
    assert ds.catalog.get("p4")["brand"] == "LEGO"
    bought = _pair_set(ds, "also_bought")
    assert bought == {("p1", "p2"), ("p1", "p3"), ("p1", "name:hornby book model railways edition"),
                      ("p1", "name:hornby"), ("p4", "name:hornby book model railways edition")}
    assert _pair_set(ds, "bought_after") == {("p2", "p1")}
    text_only = ds.catalog.get("name:hornby book model railways edition")
    assert text_only["title"] == "Hornby Book Model Railways Edition" and is_text_only(text_only["item_id"])
    d = ds.dropped.counts
    notes = ds.dropped.notes
    from eccr.data.stats import dataset_stats, format_stats

    report = format_stats(dataset_stats(ds))  # kept-row notes are listed apart from the drops
    assert report.index("notes (rows kept):") > report.index("dropped rows:")
    assert "matched by exact name" in report.split("notes (rows kept):")[1]
    assert notes["also_bought target matched by exact name"] == 2        # Motion Sand, p4 itself
    assert notes["also_bought target matched by unique name prefix"] == 1
    assert d["also_bought target name matches several products (kept as text-only item)"] == 1
    assert d["also_bought target not in catalogue (kept as text-only item)"] == 2
    assert d["also_bought pair of a product with itself (target name matched its source)"] == 1
    assert d["bought_after row whose source is not in products.csv"] == 1
    assert ds.dropped.examples["bought_after row whose source is not in products.csv"] == ["bought_after.csv:3"]


def test_uk_toys_real(uk_toys_dir):
    ds = load_uk_toys(uk_toys_dir)
    products = ds.catalog.items[~ds.catalog.items["item_id"].map(is_text_only)]
    assert len(products) == 10_000
    assert sum(1 for c in products["category"] if c) == 9_310                 # SOURCE.md: 9,310 with a path
    assert products["brand"].ne("").sum() == 10_000 - 7
    d = ds.dropped.counts
    notes = ds.dropped.notes
    matched = notes["also_bought target matched by exact name"] + notes["also_bought target matched by unique name prefix"]
    edges = sum(n for reason, n in d.items() if reason.startswith("also_bought target")) + matched
    assert edges == 48_777                                                     # every edge accounted for
    assert 1_950 <= matched <= 2_250                                           # SOURCE.md: about 2,093
    matched_after = (notes["bought_after target matched by exact name"]
                     + notes["bought_after target matched by unique name prefix"])
    assert 1_050 <= matched_after <= 1_300                                     # SOURCE.md: about 1,164
    assert sum(n for r, n in d.items() if r.startswith("bought_after target")) + matched_after == 24_510
    # no raw URL escapes survive in titles of text-only items
    assert not ds.catalog.items["title"].str.contains("%C2%AE").any()
    assert ds.pairs.rows["source"].map(is_text_only).sum() == 0
    assert set(ds.pairs.rows["target"]) <= set(ds.catalog.items["item_id"])


# --- generic -----------------------------------------------------------------------------------------------------

def _shop(tmp_path: Path) -> Path:
    pd.DataFrame({"sku": ["s1", "s2", "s3"], "name": ["Camera", "Battery", "Lens cap"],
                  "cat_path": ["Electronics > Cameras", "Electronics > Batteries", ""],
                  "brand": ["Canon", "", "Canon"]}).to_csv(tmp_path / "items.csv", index=False)
    pd.DataFrame({"customer": ["u1", "u1", "u2", "u2"], "order": ["o1", "o1", "o2", "o2"],
                  "sku": ["s1", "s2", "s1", "s4"],
                  "ts": ["2024-01-02", "2024-01-02", "1704500000", "1704500000"]}).to_parquet(
        tmp_path / "orders.parquet")
    (tmp_path / "bundles.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"basket": "b1", "sku": "s1", "why": "shoot photos"}, {"basket": "b1", "sku": "s3", "why": "shoot photos"}]))
    (tmp_path / "pairs.tsv").write_text("a\tb\ns1\ts2\ns2\ts2\n")
    return tmp_path


SHOP_SPEC = {"format": "generic", "name": "myshop",
             "catalog": {"path": "items.csv", "columns": {"item_id": "sku", "title": "name", "category": "cat_path",
                                                          "brand": "brand"}, "category_separator": " > "},
             "behaviour": {"path": "orders.parquet", "columns": {"user_id": "customer", "session_id": "order",
                                                                 "item_id": "sku", "timestamp": "ts"}},
             "bundles": {"path": "bundles.jsonl", "columns": {"bundle_id": "basket", "item_id": "sku",
                                                              "intent": "why"}},
             "pairs": {"path": "pairs.tsv", "columns": {"source": "a", "target": "b"}, "kind": "also_bought"}}


def _check_shop(ds) -> None:
    assert ds.name == "myshop"
    assert ds.catalog.get("s1") == {"item_id": "s1", "title": "Camera", "category": ["Electronics", "Cameras"],
                                    "brand": "Canon", "text": ""}
    assert ds.catalog.get("s4")["title"] == ""   # referenced by an order only
    assert ds.dropped.counts["item referenced but not in the catalog (kept untitled)"] == 1
    assert ds.dropped.counts["pair of an item with itself"] == 1
    ev = ds.behaviour.events
    assert ev["timestamp"].tolist() == [1704153600, 1704153600, 1704500000, 1704500000]
    assert len(ds.bundles) == 1 and set(ds.bundles.rows["intent"]) == {"shoot photos"}
    assert _pair_set(ds, "also_bought") == {("s1", "s2")}
    assert dataset_stats(ds)["complement_pairs_by_kind"] == {"bundle": 2, "also_bought": 1}


def test_generic_json_spec(tmp_path):
    folder = _shop(tmp_path)
    (folder / "spec.json").write_text(json.dumps(SHOP_SPEC))
    _check_shop(load_dataset(folder))          # a folder with spec.json
    _check_shop(load_generic(folder / "spec.json"))


def test_generic_toml_spec(tmp_path):
    folder = _shop(tmp_path)
    (folder / "shop.toml").write_text('''
format = "generic"
name = "myshop"
[catalog]
path = "items.csv"
columns = { item_id = "sku", title = "name", category = "cat_path", brand = "brand" }
[behaviour]
path = "orders.parquet"
columns = { user_id = "customer", session_id = "order", item_id = "sku", timestamp = "ts" }
[bundles]
path = "bundles.jsonl"
columns = { bundle_id = "basket", item_id = "sku", intent = "why" }
[pairs]
path = "pairs.tsv"
kind = "also_bought"
columns = { source = "a", target = "b" }
''')
    _check_shop(load_dataset(folder / "shop.toml"))


def test_generic_sessions_from_user_and_day(tmp_path):
    pd.DataFrame({"sku": ["a", "b"], "name": ["A", "B"]}).to_csv(tmp_path / "items.csv", index=False)
    pd.DataFrame({"cust": ["u", "u", "u"], "sku": ["a", "b", "a"], "ts": [10, 10, 99]}).to_csv(
        tmp_path / "ev.txt", index=False, sep="|")
    spec = {"catalog": {"path": "items.csv", "columns": {"item_id": "sku", "title": "name"}},
            "behaviour": {"path": "ev.txt", "sep": "|",
                          "columns": {"user_id": "cust", "item_id": "sku", "timestamp": "ts"}}}
    (tmp_path / "s.spec.json").write_text(json.dumps(spec))
    ds = load_generic(tmp_path / "s.spec.json")
    assert ds.behaviour.events["session_id"].nunique() == 2


def test_parquet_layout(tmp_path):
    pd.DataFrame({"item_id": ["i1", "i2"], "title": ["Camera", "Bag"],
                  "category": [["Electronics", "Cameras"], ["Electronics", "Bags"]],
                  "brand": ["", ""], "text": ["", ""]}).to_parquet(tmp_path / "catalog.parquet")
    pd.DataFrame({"user_id": ["u"] * 2, "session_id": ["s"] * 2, "item_id": ["i1", "i2"],
                  "timestamp": [5, 5]}).to_parquet(tmp_path / "behaviour.parquet")
    pd.DataFrame({"bundle_id": ["b"] * 2, "session_id": ["s"] * 2, "item_id": ["i1", "i2"],
                  "intent": ["travel photos"] * 2, "timestamp": [5, 5]}).to_parquet(tmp_path / "bundles.parquet")
    ds = load_parquet_folder(tmp_path)
    assert ds.catalog.get("i2")["category"] == ["Electronics", "Bags"]
    assert len(ds.behaviour) == 2 and len(ds.bundles) == 1
    assert set(zip(ds.all_pairs()["source"], ds.all_pairs()["target"])) == {("i1", "i2"), ("i2", "i1")}


def test_python_literal_lines_parse_exactly():
    """The fast repr()->JSON rewrite must give the same value as ast.literal_eval, or defer to it."""
    import ast
    import random

    from eccr.data.mcauley import _parse_record, _python_literal_as_json
    rng = random.Random(0)
    alphabet = list("ab'\"\\ \n\t\x00\x07é’😀{}[]:,#") + ["True", "None", "\\x41", "\\u00e9"]
    translated = 0
    for _ in range(2_000):
        def text():
            return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 10)))
        record = {text(): [text(), text()], "asin": text(), "flag": rng.choice([None, True, False, 1.5, 7, 1e-7]),
                  "related": {"also_bought": [text()]}}
        line = repr(record)
        assert _parse_record(line) == record == ast.literal_eval(line)
        try:
            fast = json.loads(_python_literal_as_json(line))
        except ValueError:
            continue
        assert fast == record, line
        translated += 1
    assert translated > 1_000  # the fast path does most of the work


def test_parquet_round_trip_of_a_loaded_dataset(tiny_bundle_dir, tmp_path):
    from eccr.data.synth import write_dataset_parquet
    ds = load_dataset(tiny_bundle_dir)
    back = load_generic(write_dataset_parquet(ds, tmp_path / "pq"))
    before, after = dataset_stats(ds), dataset_stats(back)
    for key in ("items", "titled_items", "users", "sessions", "interactions", "bundles", "complement_pairs"):
        assert before[key] == after[key], key
    assert back.catalog.get("2")["category"] == ["Electronics", "Camera & Photo", "Batteries"]
