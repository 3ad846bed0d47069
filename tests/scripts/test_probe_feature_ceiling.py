"""scripts/probe_feature_ceiling.py: folds keep each list, bundle or group of connected items whole and are dealt
out evenly, and no row is scored by a fit that saw it."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest


def _pair(query, positive, bundle):
    return SimpleNamespace(query=query, positive=positive, bundle_id=bundle)


PAIRS = [_pair("a", "b", "b1"), _pair("b", "a", "b1"), _pair("c", "b", "b2"),  # a-b-c connected through b
         _pair("d", "e", "b3"), _pair("e", "d", "b3"), _pair("f", "g", "b4"), _pair("g", "f", "b4")]


def test_fold_keys_group_lists_by_list_bundle_or_connected_items(load_script):
    m = load_script("probe_feature_ceiling")
    assert m.fold_keys(PAIRS, "list") == list(range(7))
    assert m.fold_keys(PAIRS, "bundle") == ["b1", "b1", "b2", "b3", "b3", "b4", "b4"]
    items = m.fold_keys(PAIRS, "connected items")
    assert items[0] == items[1] == items[2] and items[3] == items[4] and items[5] == items[6]
    assert len({items[0], items[3], items[5]}) == 3
    with pytest.raises(ValueError, match="folds by one of"):
        m.fold_keys(PAIRS, "query")


def test_folds_keep_each_group_whole_and_are_dealt_out_evenly(load_script):
    m = load_script("probe_feature_ceiling")
    keys = [k // 2 for k in range(40)]  # 20 groups of two lists
    fold = m.group_folds(keys, [3] * 40, 2, seed=0).reshape(40, 3)
    assert (fold == fold[:, :1]).all()                      # a list is whole
    assert (fold[0::2, 0] == fold[1::2, 0]).all()           # so is a group
    assert np.bincount(fold[0::2, 0]).tolist() == [10, 10]  # groups dealt out evenly
    assert np.bincount(m.group_folds(list(range(4)), [1] * 4, 3, seed=0)).tolist() == [2, 1, 1]  # none empty


def test_every_row_is_scored_by_a_fit_on_the_other_folds(load_script):
    m = load_script("probe_feature_ceiling")
    sizes = [2] * 30
    part = SimpleNamespace(columns={"row": np.arange(60, dtype=np.float64)}, labels=np.tile([1, 0], 30),
                           sizes=sizes)

    def fit(columns, labels, groups):
        seen = set(columns["row"].tolist())
        assert len(groups) == len(labels) == len(seen)
        return lambda c: np.array([1.0 if r in seen else -1.0 for r in c["row"]])

    fold = m.group_folds(list(range(30)), sizes, 3, seed=1)
    assert (m.cross_fitted(part, ["row"], fit, fold) == -1.0).all()  # each row's scorer was fitted without it


def test_the_linear_fit_learns_a_feature_that_ranks(load_script):
    m = load_script("probe_feature_ceiling")
    rng = np.random.default_rng(0)
    labels = np.tile([1] + [0] * 4, 200)
    part = SimpleNamespace(columns={"signal": labels + rng.normal(0, 0.3, len(labels)),
                                    "noise": rng.normal(size=len(labels))}, labels=labels, sizes=[5] * 200)
    fold = m.group_folds(list(range(200)), part.sizes, 2, seed=0)
    scores = m.cross_fitted(part, ["noise", "signal"], m.fit_linear, fold).reshape(200, 5)
    assert (scores.argmax(1) == 0).mean() > 0.9
