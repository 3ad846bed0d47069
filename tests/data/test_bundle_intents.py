"""Bundle-intent loader: a tiny synthetic folder, then the real domains against the numbers in SOURCE.md."""
from __future__ import annotations

import pytest

from eccr.data.bundle_intents import is_bundle_intent_folder, load_bundle_intents
from eccr.data.load import load_dataset
from eccr.data.stats import dataset_stats, format_stats


def test_tiny_folder_tables(tiny_bundle_dir):
    ds = load_dataset(tiny_bundle_dir)
    assert is_bundle_intent_folder(tiny_bundle_dir) and ds.name == "tiny"
    s = dataset_stats(ds)
    assert (s["items"], s["titled_items"], s["items_with_category"]) == (6, 5, 4)   # item 5 has "[[]]"
    assert (s["users"], s["sessions_without_user"], s["sessions"], s["interactions"]) == (2, 1, 4, 9)
    assert (s["bundles"], s["bundles_with_intent"], s["complement_pairs"]) == (3, 3, 10)
    assert s["dropped"] == {}
    cam = ds.catalog.get("1")
    assert cam["title"] == 'Canon EOS Rebel "T3"'                           # HTML entities decoded
    assert cam["category"] == ["Electronics", "Camera & Photo", "Digital Cameras"]
    assert ds.catalog.get("2")["text"] == "Electronics > Gifts"             # second path kept as text
    assert ds.catalog.get("6")["title"] == ""                               # session-only item, untitled


def test_tiny_folder_behaviour_and_bundles(tiny_bundle_dir):
    ds = load_bundle_intents(tiny_bundle_dir)
    ev = ds.behaviour.events
    anon = ev[ev["session_id"] == "s4"]
    assert set(anon["user_id"]) == {"anon:s4"} and set(anon["timestamp"]) == {-1}
    assert ds.behaviour.user_sequences()["u1"] == ["1", "2", "3", "4", "5"]  # in time order
    rows = ds.bundles.rows
    assert dict(zip(rows["bundle_id"], rows["intent"]))["b3"] == "travel & photo"
    assert dict(zip(rows["bundle_id"], rows["timestamp"])) == {"b1": 1000, "b2": 2000, "b3": 3000}
    pairs = set(zip(ds.all_pairs()["source"], ds.all_pairs()["target"]))
    assert ("1", "6") in pairs and ("6", "1") in pairs and ("4", "1") not in pairs
    text = format_stats(dataset_stats(ds))
    assert "distinct directed pairs" in text and "dropped rows: none" in text


@pytest.mark.real_data
@pytest.mark.parametrize("domain, expected", [
    # items, titled, users, sessions without a user, sessions, bundles, distinct directed bundle pairs
    ("electronic", (4_299, 3_076, 960, 0, 967, 1_496, 15_876)),
    ("clothing", (5_400, 3_660, 791, 213, 1_005, 1_555, 13_350)),
])
def test_real_domains_match_source_md(domain, expected, electronic_dir, clothing_dir):
    folder = {"electronic": electronic_dir, "clothing": clothing_dir}[domain]
    s = dataset_stats(load_bundle_intents(folder))
    got = (s["items"], s["titled_items"], s["users"], s["sessions_without_user"], s["sessions"], s["bundles"],
           s["complement_pairs"])
    assert got == expected
    assert s["interactions"] == {"electronic": 5_545, "clothing": 5_663}[domain]     # session_item rows
    assert s["items_with_category"] == s["titled_items"]
    assert s["time_span"][1] == "2014-05-31"                                           # the temporal cut
    assert s["dropped"] == {}


@pytest.mark.real_data
def test_real_clothing_has_one_blank_intent(clothing_dir):
    # SOURCE.md says every bundle has an intent; bundle 1860 in fact has a blank one
    s = dataset_stats(load_bundle_intents(clothing_dir))
    assert s["bundles"] - s["bundles_with_intent"] == 1
