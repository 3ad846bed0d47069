"""scripts/measure_later_period.py: the truncated copy holds exactly the sessions before the later part."""
from __future__ import annotations

import csv
import json


def _write(folder, tables):
    folder.mkdir(parents=True)
    for name, rows in tables.items():
        with open(folder / name, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
    return folder


def _tables():
    times = {"s1": 1000, "s2": 2000, "s3": 3000, "s4": 4000, "s5": 5000}
    items = {"s1": ["1", "2"], "s2": ["3", "4"], "s3": ["1", "3"], "s4": ["2", "5"], "s5": ["4", "5"], "s6": ["1", "5"]}
    return {
        "item_titles.csv": [["item ID", "titles"]] + [[str(i), f"Item {i}"] for i in range(1, 6)],
        "item_categories.csv": [["item ID", "categories"]] + [[str(i), "[[Electronics,Things]]"] for i in range(1, 6)],
        "item_idx_mapping.csv": [["item ID", "source ID"]] + [[str(i), f"B{i}"] for i in range(1, 6)],
        "user_session.csv": [["user ID", "session ID", "timestamp"]] + [["u1", s, str(t)] for s, t in times.items()],
        "session_item.csv": [["session ID", "item ID"]] + [[s, i] for s, pair in items.items() for i in pair],
        "session_bundle.csv": [["session ID", "bundle ID"]] + [[s, f"b{s}"] for s in items],
        "bundle_item.csv": [["bundle ID", "item ID"]] + [[f"b{s}", i] for s, pair in items.items() for i in pair],
        "bundle_intent.csv": [["bundle ID", "intent"]] + [[f"b{s}", "kit"] for s in items],
        "user_bundle.csv": [["user ID", "bundle ID", "timestamp"]] + [["u1", f"b{s}", str(t)] for s, t in times.items()],
        "user_item.csv": [["user ID", "item ID", "timestamp"]] + [["u1", i, str(times[s])] for s in times
                                                                    for i in items[s]],
    }


def test_truncate_keeps_the_train_part_of_a_split_without_valid(load_script, tmp_path):
    from eccr.data.load import load_dataset
    from eccr.data.splits import temporal_split

    m = load_script("measure_later_period")
    full = _write(tmp_path / "full", _tables())
    counts = m.truncate(full, tmp_path / "have", test_fraction=0.2)
    split = temporal_split(load_dataset(str(full)), 0.0, 0.2)
    have = load_dataset(str(tmp_path / "have"))
    # s5 (the latest) is the later part; s6 has no user, so no time: it stays, as the split keeps it in train
    assert counts["cutoff"] == 5000 and counts["sessions"] == [5, 6] and counts["bundles"] == [5, 6]
    assert set(have.behaviour.events["session_id"]) == set(split.train.behaviour.events["session_id"]) \
        == {"s1", "s2", "s3", "s4", "s6"}
    assert set(have.bundles.rows["bundle_id"]) == set(split.train.bundles.rows["bundle_id"])
    assert set(have.catalog.items["item_id"]) == set(split.train.catalog.items["item_id"])  # the catalogue is whole
    user_items = (tmp_path / "have" / "user_item.csv").read_text()
    assert "5000" not in user_items and "4000" in user_items
    assert json.loads((tmp_path / "have" / "TRUNCATED.json").read_text())["cutoff"] == 5000


def test_truncate_known_items_only_drops_items_first_bought_later(load_script, tmp_path):
    """Item 6 is bought in the later session only: a check on later data brings it; the project never had it."""
    m = load_script("measure_later_period")
    tables = _tables()
    for name, row in (("item_titles.csv", ["6", "Item 6"]), ("item_categories.csv", ["6", "[[Electronics,Things]]"]),
                      ("item_idx_mapping.csv", ["6", "B6"]), ("session_item.csv", ["s5", "6"]),
                      ("bundle_item.csv", ["bs5", "6"]), ("user_item.csv", ["u1", "6", "5000"])):
        tables[name].append(row)
    full = _write(tmp_path / "full", tables)
    counts = m.truncate(full, tmp_path / "whole", test_fraction=0.2)
    known = m.truncate(full, tmp_path / "known", test_fraction=0.2, known_items_only=True)
    from eccr.data.load import load_dataset

    assert "6" in set(load_dataset(str(tmp_path / "whole")).catalog.items["item_id"]) and "items" not in counts
    have = load_dataset(str(tmp_path / "known"))
    assert set(have.catalog.items["item_id"]) == {"1", "2", "3", "4", "5"} and known["items"] == [5, 6]
    assert known["sessions"] == counts["sessions"]
    assert json.loads((tmp_path / "known" / "TRUNCATED.json").read_text())["known_items_only"] is True


def test_markdown_has_a_row_per_run_and_system(load_script):
    m = load_script("measure_later_period")
    cell = {"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 10}
    report = {"data": "d", "test_fraction": 0.2, "runs": {
        "r1": {"systems": {"eccr": {"HR@5": cell, "HR@5 seen": cell, "Recall@50": cell}, "text_cosine": {"HR@5": cell}}}}}
    text = m.markdown(report)
    assert "| r1 | eccr | 0.500 [0.400, 0.600] | 0.500 / – | – | 0.500 [0.400, 0.600] |" in text
    assert "| r1 | text_cosine | 0.500 [0.400, 0.600] | – / – | – | – |" in text
