import numpy as np
import pytest

from eccr.rank.blend import Blend


def test_fit_recovers_the_signs_of_planted_signals_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    n = 4000
    feats = {name: rng.normal(size=n) for name in ("ranker", "directed", "text_cosine", "popularity")}
    logit = 2.0 * feats["directed"] - 1.5 * feats["text_cosine"]
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    blend = Blend.fit(feats, labels)
    assert blend.weights["directed"] > 0.5 and blend.weights["text_cosine"] < -0.5
    assert abs(blend.weights["ranker"]) < 0.2 and abs(blend.weights["popularity"]) < 0.2
    blend.save(tmp_path / "blend.json")
    again = Blend.load(tmp_path / "blend.json")
    np.testing.assert_allclose(again.score(feats), blend.score(feats))
    scores = blend.score(feats)
    assert np.corrcoef(scores, logit)[0, 1] > 0.9


def test_unfitted_blend_z_scores_within_the_list_and_bad_files_fail(tmp_path):
    blend = Blend()
    s = blend.score({"ranker": np.array([1.0, 2.0, 3.0]), "directed": np.array([0.0, 0.0, np.nan])})
    assert np.argmax(s) == 2
    (tmp_path / "b.json").write_text('{"weights": {"nonsense": 1.0}}')
    with pytest.raises(ValueError, match="unknown blend features"):
        Blend.load(tmp_path / "b.json")
