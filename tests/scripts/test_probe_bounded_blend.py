"""scripts/probe_bounded_blend.py: the probe's blend bounds every weighed feature, fitting and scoring alike."""
from __future__ import annotations

import numpy as np
import pytest

from eccr.rank.blend import Blend


def test_clipped_blend_scores_an_outlier_as_the_bound(load_script, monkeypatch):
    m = load_script("probe_bounded_blend")
    monkeypatch.setattr(Blend, "score", Blend.score)  # restored after the test
    monkeypatch.setattr(Blend, "fit", Blend.fit)
    blend = Blend(weights={"co_occurrence": 1.0, "text_cosine": 1.0}, mean={"co_occurrence": 0.0, "text_cosine": 0.0},
                  std={"co_occurrence": 1.0, "text_cosine": 1.0})
    outlier = {"co_occurrence": np.array([117.0, 2.0]), "text_cosine": np.array([0.5, 0.5])}
    assert blend.score(outlier).tolist() == [117.5, 2.5]
    rng = np.random.default_rng(0)
    features = {"co_occurrence": rng.normal(size=200), "text_cosine": rng.normal(size=200)}
    features["co_occurrence"][0] = 1e4
    labels = (np.arange(200) % 20 == 0).astype(int)
    groups = np.repeat(np.arange(10), 20)
    raw = features["co_occurrence"]
    by_hand = {**features, "co_occurrence": np.minimum(raw, raw.mean() + 5.0 * raw.std())}
    expected = Blend.fit(by_hand, labels, groups).weights
    m.clip_blend_features(5.0)
    assert blend.score(outlier).tolist() == [5.5, 2.5]
    assert Blend.fit(features, labels, groups).weights == pytest.approx(expected)  # on the bounded features
