"""Bad input: one clear DataError naming file, line and field, or a dropped row that is counted in ds.dropped."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from eccr.data.bundle_intents import load_bundle_intents
from eccr.data.generic import load_generic
from eccr.data.load import load_dataset
from eccr.data.mcauley import load_mcauley
from eccr.data.schema import DataError
from eccr.data.uk_toys import load_uk_toys

# --- bundle-intent folders ----------------------------------------------------------------------------------------


def test_bundle_missing_file(make_bundle_folder):
    folder = make_bundle_folder("no_intents")
    (folder / "bundle_intent.csv").unlink()
    with pytest.raises(DataError, match=r"bundle_intent\.csv: file not found") as err:
        load_bundle_intents(folder)
    assert err.value.file.endswith("bundle_intent.csv")


def test_bundle_missing_column(make_bundle_folder):
    def drop_timestamp(t):
        t["user_session.csv"] = [row[:2] for row in t["user_session.csv"]]
    folder = make_bundle_folder("no_ts", drop_timestamp)
    with pytest.raises(DataError) as err:
        load_bundle_intents(folder)
    assert (Path(err.value.file).name, err.value.line, err.value.field) == ("user_session.csv", 1, "timestamp")
    assert "missing column(s) ['timestamp']" in str(err.value)


def test_bundle_folder_written_with_tabs(make_bundle_folder):
    folder = make_bundle_folder("tabs", delimiter="\t")
    with pytest.raises(DataError, match="wrong delimiter: the header is tab-separated but a comma-separated") as err:
        load_dataset(folder)
    assert err.value.line == 1


def test_bundle_non_utf8_bytes(make_bundle_folder):
    folder = make_bundle_folder("latin1")
    path = folder / "item_titles.csv"
    path.write_bytes(path.read_bytes().replace(b"Walkie", b"W\xe9lkie"))  # Latin-1 e-acute on line 5
    with pytest.raises(DataError, match=r"item_titles\.csv:5: not UTF-8: byte 0xe9"):
        load_bundle_intents(folder)


def test_bundle_empty_title_and_duplicate_ids_are_counted(make_bundle_folder):
    def damage(t):
        t["item_titles.csv"][3] = ["3", "   "]                    # line 4: blank title
        t["item_titles.csv"].append(["1", "A second title for 1"])  # line 7: duplicate id
        t["bundle_item.csv"].append(["b1", "2"])                    # line 9: duplicate row
    ds = load_bundle_intents(make_bundle_folder("dups", damage))
    assert ds.dropped.counts["empty title"] == 1
    assert ds.dropped.examples["empty title"] == ["item_titles.csv:4"]
    assert ds.dropped.counts["duplicate item ID in item_titles (kept first)"] == 1
    assert ds.dropped.examples["duplicate item ID in item_titles (kept first)"] == ["item_titles.csv:7"]
    assert ds.dropped.counts["duplicate bundle_item row"] == 1
    assert ds.catalog.get("1")["title"] == 'Canon EOS Rebel "T3"'      # first title kept
    assert ds.catalog.get("3")["title"] == ""                           # still an item, untitled
    assert ds.dropped.counts["category row for an item without title (kept untitled)"] == 1
    assert ds.dropped.total() == 4


def test_bundle_unparseable_timestamp_is_counted(make_bundle_folder):
    def damage(t):
        t["user_session.csv"][2] = ["u1", "s2", "yesterday"]  # line 3
    ds = load_bundle_intents(make_bundle_folder("bad_ts", damage))
    assert ds.dropped.counts["unparseable timestamp"] == 1
    assert ds.dropped.examples["unparseable timestamp"] == ["user_session.csv:3"]
    # the session's items stay, as an anonymous untimed session
    ev = ds.behaviour.events
    assert set(ev.loc[ev["session_id"] == "s2", "user_id"]) == {"anon:s2"}
    assert set(ev.loc[ev["session_id"] == "s2", "timestamp"]) == {-1}


def test_bundle_iso_dates_are_accepted(make_bundle_folder):
    def iso(t):
        t["user_session.csv"][1] = ["u1", "s1", "2014-01-01"]
    ds = load_bundle_intents(make_bundle_folder("iso", iso))
    ev = ds.behaviour.events
    assert set(ev.loc[ev["session_id"] == "s1", "timestamp"]) == {1388534400}


def test_not_a_folder_of_any_format(tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(DataError, match="folder matches no known format"):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(tmp_path / "missing")


# --- McAuley metadata ---------------------------------------------------------------------------------------------

def test_mcauley_malformed_lines_are_counted_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    lines = ["{'asin': 'A1', 'title': 'Camera', 'related': {'also_bought': ['A2']}}",
             f"__import__('os').system('touch {marker}')",      # code, not a literal: must not run
             "{'asin': 'A2', 'title': 'Battery'",               # truncated
             "{'title': 'no asin here'}",
             "{'asin': 'A1', 'title': 'Camera again'}",
             "{'asin': 'A3', 'title': ''}",
             "['a', 'list']"]
    path = tmp_path / "meta.json"
    path.write_text("\n".join(lines))
    ds = load_mcauley(path)
    assert not marker.exists()
    d = ds.dropped
    assert d.counts["malformed metadata line"] == 3
    assert d.examples["malformed metadata line"] == ["meta.json:2", "meta.json:3", "meta.json:7"]
    assert d.counts["metadata line without asin"] == 1 and d.examples["metadata line without asin"] == ["meta.json:4"]
    assert d.counts["duplicate asin (kept first)"] == 1
    assert d.counts["product without title (kept untitled)"] == 1
    assert ds.catalog.get("A1")["title"] == "Camera"
    assert list(ds.catalog.items["item_id"]) == ["A1", "A3", "A2"]  # A2 only as a related target


def test_mcauley_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_mcauley(tmp_path / "nope.json")
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"asin": "A", "title": "Caf\xe9"}\n')
    with pytest.raises(DataError, match=r"latin1\.json: not UTF-8"):
        load_mcauley(bad)
    empty = tmp_path / "rows.json"
    empty.write_text("asin,title\nA,Camera\n")  # a CSV under a .json name
    with pytest.raises(DataError, match="no product records"):
        load_mcauley(empty)
    not_gz = tmp_path / "meta.json.gz"
    not_gz.write_text('{"asin": "A"}')
    with pytest.raises(DataError, match=r"meta\.json\.gz: cannot read"):
        load_mcauley(not_gz)
    truncated = tmp_path / "cut.json.gz"
    truncated.write_bytes(gzip.compress(b'{"asin": "A", "title": "x"}\n' * 50)[:-20])
    with pytest.raises(DataError, match=r"cut\.json\.gz: cannot read"):
        load_mcauley(truncated)


# --- UK toys ------------------------------------------------------------------------------------------------------

PRODUCT_HEADER = "uniq_id,product_name,amazon_category_and_sub_category,manufacturer"


def _uk(tmp_path: Path, products: str, also: str = "uniq_id,also_bought_key,also_bought_product\n") -> Path:
    (tmp_path / "products.csv").write_text(products)
    (tmp_path / "also_bought.csv").write_text(also)
    return tmp_path


def test_uk_toys_semicolon_products(tmp_path):
    # the upstream file was ';'-separated (SOURCE.md)
    folder = _uk(tmp_path, PRODUCT_HEADER.replace(",", ";") + "\np1;Train;Hobbies;Hornby\n")
    with pytest.raises(DataError, match=r"products\.csv:1: wrong delimiter: the header is semicolon-separated"):
        load_uk_toys(folder)


def test_uk_toys_missing_column(tmp_path):
    folder = _uk(tmp_path, PRODUCT_HEADER + "\np1,Train,Hobbies,Hornby\n", also="uniq_id,also_bought_key\np1,k1\n")
    with pytest.raises(DataError) as err:
        load_uk_toys(folder)
    assert (Path(err.value.file).name, err.value.field) == ("also_bought.csv", "also_bought_product")


def test_uk_toys_duplicates_and_empty_names_are_counted(tmp_path):
    folder = _uk(tmp_path, PRODUCT_HEADER + "\np1,Train,Hobbies,Hornby\np2,,Hobbies,\np1,Train copy,,\n",
                 also="uniq_id,also_bought_key,also_bought_product\np1,k1,Train\np2,k1,Train\np2,k2,Train\n")
    ds = load_uk_toys(folder)
    d = ds.dropped
    assert d.counts["duplicate uniq_id in products (kept first)"] == 1
    assert d.examples["duplicate uniq_id in products (kept first)"] == ["products.csv:4"]
    assert d.counts["product without name (kept untitled)"] == 1
    assert d.counts["also_bought pair of a product with itself (target name matched its source)"] == 1
    assert d.counts["duplicate also_bought pair"] == 1
    assert list(zip(ds.pairs.rows["source"], ds.pairs.rows["target"])) == [("p2", "p1")]


def test_uk_toys_missing_products(tmp_path):
    (tmp_path / "also_bought.csv").write_text("uniq_id,also_bought_key,also_bought_product\n")
    with pytest.raises(DataError, match=r"products\.csv: file not found"):
        load_uk_toys(tmp_path)


# --- generic ------------------------------------------------------------------------------------------------------

def _spec(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_generic_missing_mapped_column(tmp_path):
    (tmp_path / "items.csv").write_text("sku,name\na,Camera\n")
    spec = _spec(tmp_path, {"catalog": {"path": "items.csv", "columns": {"item_id": "sku", "title": "title"}}})
    with pytest.raises(DataError) as err:
        load_generic(spec)
    msg = str(err.value)
    assert Path(err.value.file).name == "items.csv" and err.value.field == "title"
    assert "column 'title' not found (the spec maps catalog.title to it" in msg


def test_generic_missing_column_in_parquet(tmp_path):
    pd.DataFrame({"sku": ["a"]}).to_parquet(tmp_path / "items.parquet")
    spec = _spec(tmp_path, {"catalog": {"path": "items.parquet", "columns": {"item_id": "id"}}})
    with pytest.raises(DataError, match=r"items\.parquet: column 'id' not found .*catalog\.item_id"):
        load_generic(spec)


def test_generic_bad_specs(tmp_path):
    with pytest.raises(DataError, match="spec file not found"):
        load_generic(tmp_path / "none.json")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"catalog": {\n "path": "x.csv",\n }')
    with pytest.raises(DataError, match=r"bad\.json:3: spec is not valid JSON"):
        load_generic(bad_json)
    with pytest.raises(DataError, match="spec has no 'catalog' section"):
        load_generic(_spec(tmp_path, {"behaviour": {"path": "x.csv", "columns": {"item_id": "i"}}}))
    with pytest.raises(DataError, match=r"maps unknown fields \['price'\]"):
        load_generic(_spec(tmp_path, {"catalog": {"path": "x.csv", "columns": {"item_id": "i", "price": "p"}}}))
    with pytest.raises(DataError, match=r"'pairs.columns' must map 'target'"):
        load_generic(_spec(tmp_path, {"catalog": {"path": "x.csv", "columns": {"item_id": "i"}},
                                      "pairs": {"path": "p.csv", "columns": {"source": "a"}}}))
    with pytest.raises(DataError, match=r"x\.csv: file not found"):
        load_generic(_spec(tmp_path, {"catalog": {"path": "x.csv", "columns": {"item_id": "i"}}}))


def test_generic_bad_rows_are_counted(tmp_path):
    (tmp_path / "items.csv").write_text("sku,name\na,Camera\nb,\na,Camera 2\n,Orphan\n")
    (tmp_path / "orders.csv").write_text("cust,sku,ts\nu,a,2024-01-01\nu,b,not a date\nu,b,1704067200\n")
    spec = _spec(tmp_path, {
        "catalog": {"path": "items.csv", "columns": {"item_id": "sku", "title": "name"}},
        "behaviour": {"path": "orders.csv", "columns": {"user_id": "cust", "item_id": "sku", "timestamp": "ts"}}})
    ds = load_generic(spec)
    d = ds.dropped
    assert d.counts["duplicate item_id in catalog (kept first)"] == 1
    assert d.examples["duplicate item_id in catalog (kept first)"] == ["items.csv:4"]
    assert d.counts["row with empty item_id"] == 1 and d.examples["row with empty item_id"] == ["items.csv:5"]
    assert d.counts["catalog item with empty title (kept untitled)"] == 1
    assert d.examples["catalog item with empty title (kept untitled)"] == ["items.csv:3"]
    assert d.counts["unparseable timestamp"] == 1 and d.examples["unparseable timestamp"] == ["orders.csv:3"]
    assert len(ds.behaviour) == 2 and set(ds.behaviour.events["timestamp"]) == {1704067200}


def test_generic_non_utf8_table(tmp_path):
    (tmp_path / "items.csv").write_bytes(b"sku,name\na,Camera\nb,Caf\xe9\n")
    spec = _spec(tmp_path, {"catalog": {"path": "items.csv", "columns": {"item_id": "sku", "title": "name"}}})
    with pytest.raises(DataError, match=r"items\.csv:3: not UTF-8"):
        load_generic(spec)
