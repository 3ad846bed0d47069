"""scripts/probe_encoder_seeds.py: the second encoder's cosines line up with the blend features' rows."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from eccr.represent.vectors import ItemVectors


def test_pair_cosines_follow_the_lists_and_skip_untitled_ones(load_script):
    m = load_script("probe_encoder_seeds")
    vectors = ItemVectors(["q", "a", "b", "x"], np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 4.0], [1.0, 0.0]]))
    rec = SimpleNamespace(candidates=SimpleNamespace(items=SimpleNamespace(is_titled=lambda i: i != "x")))
    lists = SimpleNamespace(pairs=[SimpleNamespace(query="q", positive="b", negatives=["a"]),
                                   SimpleNamespace(query="a", positive="x", negatives=["q"]),
                                   SimpleNamespace(query="b", positive="q", negatives=["a"])])
    assert m.pair_cosines(vectors, rec, lists).tolist() == pytest.approx([0.6, 0.0, 0.6, 0.8])
