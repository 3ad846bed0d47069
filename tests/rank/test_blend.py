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


def test_listwise_fit_recovers_planted_weights_ignores_list_constants_and_needs_contiguous_lists():
    rng = np.random.default_rng(1)
    lists, size = 3000, 8
    feats = {"directed": rng.normal(size=(lists, size)), "text_cosine": rng.normal(size=(lists, size)),
             "popularity": np.repeat(rng.normal(scale=5.0, size=(lists, 1)), size, axis=1)}  # constant within a list
    utility = 1.5 * feats["directed"] - 0.75 * feats["text_cosine"]
    gumbel = -np.log(-np.log(rng.random((lists, size))))
    labels = np.zeros((lists, size), dtype=int)
    labels[np.arange(lists), np.argmax(utility + gumbel, axis=1)] = 1  # one positive per list, drawn by softmax
    groups = np.repeat(np.arange(lists), size)
    flat = {k: v.ravel() for k, v in feats.items()}
    blend = Blend.fit(flat, labels.ravel(), groups, l2=0.0)
    assert blend.info["objective"] == "listwise" and blend.info["lists"] == lists
    std = {k: flat[k].std() for k in flat}  # weights are on standardised features
    assert blend.weights["directed"] / std["directed"] == pytest.approx(1.5, rel=0.1)
    assert blend.weights["text_cosine"] / std["text_cosine"] == pytest.approx(-0.75, rel=0.15)
    assert abs(blend.weights["popularity"]) < 1e-3
    with pytest.raises(ValueError, match="contiguous"):
        Blend.fit(flat, labels.ravel(), np.tile(np.arange(lists), size))


def test_calibration_puts_warm_and_cold_groups_on_one_scale_without_reordering_either(tmp_path):
    """Lists are matched on status, so a feature that only warm items have (popularity) can shift every warm item
    above every cold one; the per-group calibration undoes that and keeps each group's order."""
    rng = np.random.default_rng(2)
    lists, size = 2000, 6
    warm = np.repeat(rng.random(lists) < 0.4, size)
    relevance = rng.normal(size=lists * size)
    labels = np.zeros(lists * size, dtype=int)
    labels[np.arange(lists) * size + np.argmax((relevance + rng.gumbel(size=lists * size)).reshape(lists, size), 1)] = 1
    popularity = np.where(warm, 10.0 + relevance + rng.normal(size=lists * size), 0.0)  # informative, warm only
    feats = {"directed": relevance + rng.normal(scale=0.5, size=lists * size), "popularity": popularity,
             "warm": warm.astype(float)}
    blend = Blend.fit(feats, labels, np.repeat(np.arange(lists), size))
    assert set(blend.calibration) == {"warm", "cold"} and blend.info["version"] >= 2
    calibrated = blend.score(feats)
    raw = Blend(blend.weights, blend.mean, blend.std).score(feats)
    for group in (warm, ~warm):  # same order within each group
        assert np.corrcoef(np.argsort(np.argsort(raw[group])), np.argsort(np.argsort(calibrated[group])))[0, 1] > 0.999
    # uncalibrated, the top 10% is nearly all warm; calibrated, the groups' positives compete on one scale
    top_raw, top_cal = raw >= np.quantile(raw, 0.9), calibrated >= np.quantile(calibrated, 0.9)
    assert warm[top_raw].mean() > 0.85
    assert 0.2 < warm[top_cal].mean() < 0.7
    blend.save(tmp_path / "b.json")
    np.testing.assert_allclose(Blend.load(tmp_path / "b.json").score(feats), calibrated)


def test_a_fit_over_named_columns_weighs_a_column_outside_the_blend_features():
    """`names`: a probe's candidate feature is fitted like a shipped one (scripts/blend_probe.py)."""
    from eccr.evaluate.metrics import positive_first_metrics

    rng = np.random.default_rng(0)
    sizes = [5] * 40
    marks = np.concatenate([np.eye(1, 5, 0)[0] + 0.3 * rng.standard_normal(5) for _ in sizes])
    columns = {"mark": marks, "noise": rng.standard_normal(len(marks))}
    fit = Blend.fit(columns, np.concatenate([np.eye(1, 5, 0)[0] for _ in sizes]), np.repeat(np.arange(40), 5),
                    names=["mark", "noise"])
    assert fit.weights["mark"] > 1.0 and abs(fit.weights["noise"]) < fit.weights["mark"] / 3
    assert positive_first_metrics(fit.score(columns).reshape(40, 5), ["HR@5"])["HR@5"].mean() == 1.0
