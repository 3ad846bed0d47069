"""Temporal splits (train strictly before valid before test, no shared session) and held-out queries."""
from __future__ import annotations

import pandas as pd
import pytest

from eccr.data.bundle_intents import load_bundle_intents
from eccr.data.schema import NO_TIMESTAMP, Behaviour, Bundles, Catalog, ComplementPairs, Dataset
from eccr.data.splits import heldout_queries, temporal_split

DAY = 86_400


def _dataset(n_sessions: int = 40, untimed: int = 2) -> Dataset:
    """Session k (day k // 2, so two sessions share each day) buys items k, k+1, k+2; bundle k holds k and k+1."""
    ev, bundles = [], []
    for k in range(n_sessions + untimed):
        ts = NO_TIMESTAMP if k >= n_sessions else 1_400_000_000 + (k // 2) * DAY
        for i in (k, k + 1, k + 2):
            ev.append((f"u{k % 7}", f"s{k}", f"i{i}", ts))
        for i in (k, k + 1):
            bundles.append((f"b{k}", f"s{k}", f"i{i}", f"intent {k}", ts))
    n_items = n_sessions + untimed + 2
    catalog = Catalog(pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)],
                                    "title": ["" if i % 5 == 4 else f"Item {i}" for i in range(n_items)],
                                    "category": [[] for _ in range(n_items)], "brand": "", "text": ""}))
    pairs = ComplementPairs(pd.DataFrame({"source": ["i0"], "target": ["i1"], "kind": ["also_bought"],
                                          "group_id": [""], "intent": [""]}))
    return Dataset("toy", catalog, Behaviour(pd.DataFrame(ev, columns=["user_id", "session_id", "item_id",
                                                                       "timestamp"])),
                   Bundles(pd.DataFrame(bundles, columns=["bundle_id", "session_id", "item_id", "intent",
                                                          "timestamp"])), pairs)


def _session_times(ds: Dataset) -> pd.Series:
    return ds.behaviour.events.groupby("session_id")["timestamp"].max()


def _assert_ordered(split, all_sessions: set[str]) -> None:
    parts = [set(p.behaviour.events["session_id"]) for p in (split.train, split.valid, split.test)]
    assert parts[0].isdisjoint(parts[1]) and parts[0].isdisjoint(parts[2]) and parts[1].isdisjoint(parts[2])
    assert parts[0] | parts[1] | parts[2] == all_sessions
    times = [_session_times(p) for p in (split.train, split.valid, split.test)]
    timed_train = times[0][times[0] != NO_TIMESTAMP]
    assert timed_train.max() < times[1].min() <= times[1].max() < times[2].min()
    assert times[1].min() >= split.valid_start and times[2].min() >= split.test_start
    for part in (split.train, split.valid, split.test):  # bundles follow their session
        assert set(part.bundles.rows["session_id"]) <= set(part.behaviour.events["session_id"])


def test_temporal_split_order_and_disjointness():
    ds = _dataset()
    split = temporal_split(ds, valid_fraction=0.1, test_fraction=0.2)
    _assert_ordered(split, set(ds.behaviour.events["session_id"]))
    # 40 timed sessions, two per day: 28 train (+2 untimed), 4 valid, 8 test; no day is split
    assert [p.behaviour.events["session_id"].nunique() for p in (split.train, split.valid, split.test)] == [30, 4, 8]
    assert {"s40", "s41"} <= set(split.train.behaviour.events["session_id"])  # untimed sessions train
    assert len(split.train.pairs) == 1 and len(split.test.pairs) == 0 and len(split.valid.pairs) == 0
    assert split.test.catalog is ds.catalog


def test_same_day_sessions_stay_together():
    ds = _dataset(n_sessions=10, untimed=0)
    split = temporal_split(ds, valid_fraction=0.0, test_fraction=0.25)
    test_days = set(_session_times(split.test))
    train_days = set(_session_times(split.train))
    assert test_days.isdisjoint(train_days)
    assert split.test.behaviour.events["session_id"].nunique() % 2 == 0


@pytest.mark.parametrize("valid, test", [(0.5, 0.5), (-0.1, 0.2), (0.1, 0.0), (0.1, 1.0)])
def test_bad_fractions_raise(valid, test):
    with pytest.raises(ValueError, match="fractions"):
        temporal_split(_dataset(), valid_fraction=valid, test_fraction=test)


def test_no_timestamps_raises():
    ds = _dataset(n_sessions=0, untimed=3)
    with pytest.raises(ValueError, match="no timestamped sessions"):
        temporal_split(ds)


def test_heldout_queries_deterministic_per_seed():
    ds = _dataset()
    a, b, c = heldout_queries(ds, seed=3), heldout_queries(ds, seed=3), heldout_queries(ds, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert a["query"].tolist() != c["query"].tolist()
    assert sorted(a["query"] + a["bundle_id"]) == sorted(c["query"] + c["bundle_id"])  # same set, new order
    assert heldout_queries(ds, seed=3, max_queries=5).equals(a.head(5))


def test_heldout_queries_content():
    ds = _dataset()
    q = heldout_queries(ds, seed=0)
    untitled = set(ds.catalog.items.loc[ds.catalog.items["title"] == "", "item_id"])
    assert not set(q["query"]) & untitled
    assert not any(set(p) & untitled for p in q["positives"])
    row = q[q["bundle_id"] == "b0"].set_index("query")
    assert row.loc["i0", "positives"] == ["i1"] and row.loc["i1", "positives"] == ["i0"]
    assert row.loc["i0", "intent"] == "intent 0" and row.loc["i0", "session_id"] == "s0"
    # bundle b3 is i3 + i4, and i4 is untitled: nothing left to ask
    assert "b3" not in set(q["bundle_id"])
    everything = heldout_queries(ds, seed=0, titled_only=False)
    assert "b3" in set(everything["bundle_id"]) and len(everything) == 2 * 42


@pytest.mark.real_data
def test_real_electronic_split(electronic_dir):
    ds = load_bundle_intents(electronic_dir)
    split = temporal_split(ds)
    _assert_ordered(split, set(ds.behaviour.events["session_id"]))
    n_bundles = [len(p.bundles) for p in (split.train, split.valid, split.test)]
    assert sum(n_bundles) == 1_496 and min(n_bundles) > 100
    q1, q2 = heldout_queries(split.test, seed=7), heldout_queries(split.test, seed=7)
    pd.testing.assert_frame_equal(q1, q2)
    assert set(q1["session_id"]) <= set(split.test.behaviour.events["session_id"])
