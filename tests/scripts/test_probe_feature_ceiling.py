"""scripts/probe_feature_ceiling.py: whole lists go to one fold, and no row is scored by a fit that saw it."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np


def test_folds_keep_each_list_whole(load_script):
    m = load_script("probe_feature_ceiling")
    sizes = [3] * 40
    fold = m.list_folds(sizes, 2, seed=0)
    per_list = fold.reshape(40, 3)
    assert (per_list == per_list[:, :1]).all() and set(fold) == {0, 1}


def test_every_row_is_scored_by_a_fit_on_the_other_folds(load_script):
    m = load_script("probe_feature_ceiling")
    sizes = [2] * 30
    row_id = np.arange(60, dtype=np.float64)
    part = SimpleNamespace(columns={"row": row_id}, labels=np.tile([1, 0], 30), sizes=sizes)

    def fit(columns, labels, groups):
        seen = set(columns["row"].tolist())
        assert len(groups) == len(labels) == len(seen)
        return lambda c: np.array([1.0 if r in seen else -1.0 for r in c["row"]])

    scores = m.cross_fitted(part, ["row"], fit, folds=3, seed=1)
    assert (scores == -1.0).all()  # each row's scorer was fitted without it


def test_the_linear_ceiling_learns_a_feature_that_ranks(load_script):
    m = load_script("probe_feature_ceiling")
    rng = np.random.default_rng(0)
    labels = np.tile([1] + [0] * 4, 200)
    signal = labels + rng.normal(0, 0.3, len(labels))
    part = SimpleNamespace(columns={"signal": signal, "noise": rng.normal(size=len(labels))}, labels=labels,
                           sizes=[5] * 200)
    scores = m.cross_fitted(part, ["noise", "signal"], m.fit_linear).reshape(200, 5)
    assert (scores.argmax(1) == 0).mean() > 0.9
