"""scripts/probe_lm_type_prior.py: the priors are the cosines of the LM's profile of one item's leaf with the other
item's text, in list order, and cached answers are not asked again."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from eccr.jobs.train import known_pairs
from eccr.represent.vectors import ItemVectors

PATHS = {"cam": "Electronics > Cameras", "bat": "Electronics > Batteries", "bag": "Electronics > Bags",
         "x": "Electronics > Cameras"}
TEXT = ItemVectors(["cam", "bat", "bag", "x"], np.array([[1, 0, 0], [0, 2, 0], [0, 0, 1], [0.6, 0.8, 0]]))
PROFILES = {"Electronics > Cameras": np.array([0.0, 1.0, 0.0]),   # cameras go with batteries
            "Electronics > Batteries": np.array([1.0, 0.0, 0.0]),
            "Electronics > Bags": np.array([0.0, 0.0, 1.0])}


def _rec(untitled=()):
    items = SimpleNamespace(is_titled=lambda i: i not in untitled)
    return SimpleNamespace(candidates=SimpleNamespace(text=TEXT, items=items))


def _pair(query, positive, *negatives, seen=False):
    return SimpleNamespace(query=query, positive=positive, negatives=list(negatives), positive_seen=seen)


def test_the_priors_read_the_querys_profile_against_the_candidates_text_and_back(load_script):
    m = load_script("probe_lm_type_prior")
    lists = SimpleNamespace(pairs=[_pair("cam", "bat", "bag", "x"), _pair("bat", "cam", "x", "bag", seen=True)])
    columns = m.prior_columns(_rec(), lists, PROFILES, PATHS)
    assert columns["forward"] == pytest.approx([1.0, 0.0, 0.8, 1.0, 0.6, 0.0])
    # backward: the candidate's profile against the query's (normalised) text
    assert columns["backward"] == pytest.approx([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    assert columns["both"] == pytest.approx([1.0, 0.0, 0.4, 1.0, 0.8, 0.0])
    assert [p.positive_seen for p in known_pairs(_rec().candidates, lists)] == [False, True]


def test_lists_with_an_untitled_item_are_left_out_as_the_blend_features_leave_them(load_script):
    m = load_script("probe_lm_type_prior")
    lists = SimpleNamespace(pairs=[_pair("cam", "bat", "bag"), _pair("bat", "cam", "x", seen=True)])
    columns = m.prior_columns(_rec(untitled={"x"}), lists, PROFILES, PATHS)
    assert len(columns["forward"]) == 2
    assert [p.positive_seen for p in known_pairs(_rec(untitled={"x"}).candidates, lists)] == [False]


def test_cached_answers_are_not_asked_again(load_script, tmp_path):
    m = load_script("probe_lm_type_prior")
    cache = tmp_path / "answers.json"
    cache.write_text(json.dumps({"Electronics > Cameras": "with batteries"}))
    # a spec no teacher can load: it would fail if anything were asked
    assert m.ask_lm(["Electronics > Cameras", ""], "llamacpp:/nonexistent.gguf", cache) == \
        {"Electronics > Cameras": "with batteries"}
