from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eccr.data.schema import Catalog, ComplementPairs, Dataset
from eccr.represent.config import DirectedConfig, TextConfig
from eccr.represent.directed import (
    DirectedModel,
    FeatureVocab,
    accessory_score,
    complement_evidence,
    directed_vectors,
    fit_directed,
    item_features,
)
from eccr.represent.fuse import DirectedVectors
from eccr.represent.text import text_vectors

FAST = DirectedConfig(dim=16, hidden=32, category_dim=8, brand_dim=4, random_negatives=6, substitute_negatives=2,
                      substitute_pool=4, epochs=60, batch_size=64, lr=1e-2, max_seconds=20, input_dropout=0.3)


def _fit(ds, encoder, config=FAST):
    text = text_vectors(ds.catalog, TextConfig(cache_dir=""), encoder)
    model = fit_directed(ds, text, config)
    source, target = directed_vectors(model, ds.catalog, text)
    return model, text, DirectedVectors(source, target)


def test_accessory_score_reads_title_and_category():
    assert accessory_score("Battery for Canon EOS", ["Electronics", "Camera & Photo", "Batteries"]) == 1.0
    assert accessory_score("Canon EOS 70D", ["Electronics", "Camera & Photo", "Digital Cameras"]) == 0.0
    assert accessory_score("Canon EOS 70D", []) == 0.0


def test_evidence_direction_comes_from_accessoryness(toy, encoder):
    text = text_vectors(toy.catalog, TextConfig(cache_dir=""), encoder)
    features = item_features(toy.catalog, text, FeatureVocab.from_catalog(toy.catalog))
    evidence = complement_evidence(toy, features, DirectedConfig()).set_index(["source", "target"])
    assert evidence.loc[("cam0", "bat0"), "direction"] > 0.95
    assert evidence.loc[("bat0", "cam0"), "direction"] < 0.05
    assert evidence.loc[("cam0", "bat0"), "evidence"] == pytest.approx(1.0)  # session pair = bundle pair, once
    assert not {"cam6", "cam7", "bat6", "bat7"} & set(evidence.index.get_level_values(0))


def test_learns_camera_to_battery_for_cold_items(toy, encoder):
    _, text, vectors = _fit(toy, encoder)
    assert len(vectors.source) == len(vectors.target) == 16  # every item, cold ones from features
    for k in (6, 7):  # never in a bundle or session
        cam, bat, other_cam = f"cam{k}", f"bat{k}", f"cam{13 - k}"
        forward = vectors.score([cam], [bat])[0]
        assert forward > vectors.score([bat], [cam])[0]
        assert forward > vectors.score([cam], [other_cam])[0]
    # text alone prefers the other camera: the towers, not the text prior, found the complement
    t = text.normalized()
    assert t.lookup(["cam6"])[0] @ t.lookup(["cam7"])[0] > t.lookup(["cam6"])[0] @ t.lookup(["bat6"])[0]


def test_direction_from_explicit_pairs_without_any_heuristic(encoder):
    """Neutral titles and categories: the only direction signal is that pairs run widget -> gadget."""
    items = [(f"w{k}", f"Widget model {k}", ["Shop", "Widgets"]) for k in range(6)] + \
            [(f"g{k}", f"Gadget model {k}", ["Shop", "Gadgets"]) for k in range(6)]
    catalog = Catalog(pd.DataFrame({"item_id": [i[0] for i in items], "title": [i[1] for i in items],
                                    "category": [i[2] for i in items], "brand": "", "text": ""}))
    pairs = pd.DataFrame({"source": [f"w{k}" for k in range(4) for _ in range(2)],
                          "target": [f"g{(k + j) % 4}" for k in range(4) for j in range(2)],
                          "kind": "also_bought", "group_id": "", "intent": ""})
    ds = Dataset(name="widgets", catalog=catalog, pairs=ComplementPairs(pairs))
    _, _, vectors = _fit(ds, encoder)
    assert vectors.score(["w5"], ["g5"])[0] > vectors.score(["g5"], ["w5"])[0]  # both cold


def test_same_seed_same_vectors_other_seed_differs(toy, encoder):
    config = DirectedConfig(**{**FAST.__dict__, "epochs": 3})
    _, _, one = _fit(toy, encoder, config)
    _, _, two = _fit(toy, encoder, config)
    np.testing.assert_array_equal(one.source.vectors, two.source.vectors)
    _, _, three = _fit(toy, encoder, DirectedConfig(**{**config.__dict__, "seed": 1}))
    assert not np.allclose(one.target.vectors, three.target.vectors)


def test_save_load_round_trip(toy, encoder, tmp_path):
    model, text, vectors = _fit(toy, encoder, DirectedConfig(**{**FAST.__dict__, "epochs": 3}))
    model.save(tmp_path / "directed")
    loaded = DirectedModel.load(tmp_path / "directed")
    source, target = directed_vectors(loaded, toy.catalog, text)
    np.testing.assert_allclose(source.vectors, vectors.source.vectors, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(target.vectors, vectors.target.vectors, rtol=1e-6, atol=1e-6)
    vectors.target.save(tmp_path / "target")
    assert vectors.target.meta["kind"] == "directed_target"


def test_no_evidence_is_a_clear_error(toy, encoder):
    empty = Dataset(name="empty", catalog=toy.catalog)
    text = text_vectors(toy.catalog, TextConfig(cache_dir=""), encoder)
    with pytest.raises(ValueError, match="no complement evidence"):
        fit_directed(empty, text, FAST)
