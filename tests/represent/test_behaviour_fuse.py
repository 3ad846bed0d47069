from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eccr.data.schema import Behaviour
from eccr.rank.retrieval import ItemIndex
from eccr.represent.behaviour import behaviour_vectors, skipgram_sentences
from eccr.represent.config import BehaviourConfig, FusionConfig, TextConfig
from eccr.represent.fuse import DirectedVectors, content_vectors, fuse, shared_block_cosine
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


def test_shared_block_cosine_does_not_see_whether_items_were_bought():
    """Two candidates with the same text and directed vectors, one bought in the train part (a behaviour vector)
    and one cold: the plain cosine of fused vectors prefers the cold one for a cold query (the shared missing flag,
    the other's larger norm); the shared-block cosine scores them alike, and two bought items also compare their
    behaviour."""
    ids = ["query", "cold", "bought", "bought2"]
    text = ItemVectors(ids, np.array([[1.0, 0.0], [0.6, 0.8], [0.6, 0.8], [0.6, 0.8]]))
    direction = ItemVectors(ids, np.array([[1.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]))
    behaviour = ItemVectors(["bought", "bought2"], np.array([[1.0, 0.0], [0.0, 1.0]]))
    fused = fuse(text, behaviour, DirectedVectors(direction, direction))
    plain = fused.normalized()
    cold, bought = (plain.lookup([c])[0] @ plain.lookup(["query"])[0] for c in ("cold", "bought"))
    assert cold > bought + 0.1
    shared = shared_block_cosine(fused, "query", ["cold", "bought", "unknown"], missing=-1.0)
    np.testing.assert_allclose(shared, [shared[0], shared[0], -1.0])
    np.testing.assert_allclose(shared[0], (0.6 + 2 / np.sqrt(2)) / 3, rtol=1e-5)  # text, source, target blocks
    with_behaviour = shared_block_cosine(fused, "bought", ["bought2"])[0]
    np.testing.assert_allclose(with_behaviour, (1.0 + 0.0 + 1.0 + 1.0) / 3.5, rtol=1e-5)  # behaviour weight 0.5


def test_the_fused_neighbour_index_does_not_see_whether_items_were_bought():
    """The index the candidate pool takes fused neighbours from (content_vectors): a cold query finds a bought
    look-alike as near as a cold one, where the full fused vectors put the cold one nearer."""
    ids = ["query", "cold_twin", "bought_twin", "cold_other"]
    text = ItemVectors(ids, np.array([[1.0, 0.0], [0.9, 0.1], [0.9, 0.1], [0.0, 1.0]]))
    direction = ItemVectors(ids, np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    behaviour = ItemVectors(["bought_twin"], np.array([[1.0, 0.0]]))
    fused = fuse(text, behaviour, DirectedVectors(direction, direction))
    found, scores = ItemIndex.build(fused).search(fused.lookup(["query"]), 4)
    full = dict(zip(found[0], scores[0]))
    assert full["cold_twin"] > full["bought_twin"] + 0.1  # the shared flag, the twin's behaviour block
    content = content_vectors(fused)
    assert content.dim == 2 + 2 + 2 and content.meta["kind"] == "fused_content"
    found, scores = ItemIndex.build(content).search(content.lookup(["query"]), 4)
    assert set(found[0][1:3]) == {"cold_twin", "bought_twin"} and found[0][3] == "cold_other"
    np.testing.assert_allclose(scores[0][1], scores[0][2], rtol=1e-6)
