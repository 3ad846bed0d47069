from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eccr.data.schema import Behaviour
from eccr.represent.behaviour import behaviour_vectors, skipgram_sentences
from eccr.represent.config import BehaviourConfig, FusionConfig, TextConfig
from eccr.represent.fuse import DirectedVectors, fuse
from eccr.represent.text import text_vectors
from eccr.represent.vectors import ItemVectors


def _behaviour() -> Behaviour:
    rows = []
    for u in range(30):  # two "worlds": items a* co-occur, items b* co-occur
        world = "a" if u % 2 else "b"
        for t, k in enumerate(np.random.default_rng(u).permutation(5)):
            rows.append((f"u{u}", f"s{u}-{t // 3}", f"{world}{k}", 100 * u + t))
    rows.append(("lonely", "s-lonely", "solo", 5))
    return Behaviour(pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "timestamp"]))


def test_sequences_are_per_user_in_time_order():
    b = Behaviour(pd.DataFrame({"user_id": ["u", "u", "v"], "session_id": ["2", "1", "3"],
                                "item_id": ["late", "early", "x"], "timestamp": [20, 10, 5]}))
    assert skipgram_sentences(b) == [["early", "late"]]


def test_skipgram_is_deterministic_and_learns_cooccurrence():
    config = BehaviourConfig(dim=16, epochs=20, seed=3)
    one = behaviour_vectors(_behaviour(), config, catalog_ids=["a0", "b0", "solo", "never"])
    two = behaviour_vectors(_behaviour(), config)
    assert one.ids == two.ids
    np.testing.assert_array_equal(one.vectors, two.vectors)
    assert "solo" not in one.ids and one.meta["coverage"] == 0.5
    n = one.normalized()
    a0, a1, b0 = n.lookup(["a0", "a1", "b0"])
    assert a0 @ a1 > a0 @ b0
    other_seed = behaviour_vectors(_behaviour(), BehaviourConfig(dim=16, epochs=20, seed=4))
    assert not np.allclose(other_seed.lookup(["a0"]), one.lookup(["a0"]))


def test_no_sequences_is_a_clear_error():
    b = Behaviour(pd.DataFrame({"user_id": ["u"], "session_id": ["s"], "item_id": ["i"], "timestamp": [1]}))
    with pytest.raises(ValueError, match="two or more"):
        behaviour_vectors(b)


def test_fuse_layout_missing_flag_and_weights(toy, encoder):
    text = text_vectors(toy.catalog, TextConfig(cache_dir=""), encoder)
    behaviour = ItemVectors(["cam0", "bat0"], np.array([[3.0, 4.0], [0.0, 2.0]]))
    src = ItemVectors(text.ids, np.ones((len(text), 3)))
    tgt = ItemVectors(text.ids, -np.ones((len(text), 3)))
    fused = fuse(text, behaviour, DirectedVectors(src, tgt), FusionConfig(behaviour_weight=4.0))
    assert fused.vectors.shape == (16, 32 + 2 + 3 + 3 + 1)
    blocks = {name: (a, b) for name, a, b in fused.meta["blocks"]}
    assert list(blocks) == ["text", "behaviour", "directed_source", "directed_target", "behaviour_missing"]
    row = fused.lookup(["cam0"])[0]
    np.testing.assert_allclose(row[slice(*blocks["behaviour"])], [1.2, 1.6], rtol=1e-5)  # 2 * (0.6, 0.8)
    flags = fused.vectors[:, blocks["behaviour_missing"][0]]
    assert flags.sum() == 14 and fused.lookup(["bat0"])[0][-1] == 0
    assert fused.meta["behaviour_coverage"] == pytest.approx(2 / 16, abs=1e-4)


def test_fuse_refuses_partial_directed_vectors(toy, encoder):
    text = text_vectors(toy.catalog, TextConfig(cache_dir=""), encoder)
    partial = ItemVectors(text.ids[:3], np.ones((3, 2)))
    with pytest.raises(ValueError, match="missing for item"):
        fuse(text, None, DirectedVectors(partial, partial))
