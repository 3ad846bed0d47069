"""scripts/probe_leaf_penalty.py: the penalty lowers exactly the candidates of the query's leaf, in both calls."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from eccr.rank.base import Scores

LEAVES = {"q": "Cameras", "cam": "Cameras", "bat": "Batteries", "bag": "Bags"}
SCORES = {"cam": 3.0, "bat": 2.0, "bag": 1.0}


class _Items:
    rows = dict.fromkeys(LEAVES)

    def leaf(self, item_id):
        return LEAVES[item_id]


class _System:
    scores = SCORES

    def score_candidates(self, query, candidates, history=()):
        return Scores(np.array([self.scores.get(c, -np.inf) for c in candidates]))

    def retrieve(self, query, k, among=None):
        ids = [i for i in sorted(self.scores, key=self.scores.get, reverse=True) if among is None or i in among]
        return ids[:k], np.array([self.scores[i] for i in ids[:k]])


def test_the_penalty_moves_only_items_of_the_querys_leaf(load_script):
    m = load_script("probe_leaf_penalty")
    rec = SimpleNamespace(items=_Items())
    unchanged = m.LeafPenalty(_System(), rec, 0.0)
    assert unchanged.score_candidates(["q"], ["cam", "bat", "bag", "new"]).scores.tolist() == [3.0, 2.0, 1.0, -np.inf]
    penalised = m.LeafPenalty(_System(), rec, 1.5)
    assert penalised.score_candidates(["q"], ["cam", "bat", "bag"]).scores.tolist() == [1.5, 2.0, 1.0]
    ids, scores = penalised.retrieve(["q"], 2)  # asks for twice the depth, so the camera can fall out of the top 2
    assert ids == ["bat", "cam"] and scores.tolist() == [2.0, 1.5]
    ids, _ = m.LeafPenalty(_System(), rec, 5.0).retrieve(["q"], 2, among={"cam", "bag"})
    assert ids == ["bag", "cam"]
