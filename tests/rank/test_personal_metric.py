"""The personalised item-to-item metric (Hoang et al. 2022) on small planted data: users whose items agree on
one metadata source more than on the others."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from eccr.rank.base import Scorer
from eccr.rank.config import PersonalMetricConfig
from eccr.rank.personal_metric import ItemSources, PersonalMetric, PersonalMetricScorer, fit_personal_metric

CLASSES = 8


def planted(n_items=500, n_users=200, per_user=18, seed=0):
    """Three sources (labels a, b and clustered vectors v); user u draws each item from their home class of a
    source chosen with their planted preference pi_u (Dirichlet(0.3), so most users lean on one source)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, (n_items, 3))
    vectors = rng.normal(size=(CLASSES, 16))[labels[:, 2]] + 0.3 * rng.normal(size=(n_items, 16))
    ids = [f"i{k}" for k in range(n_items)]
    sources = ItemSources(ids, {"v": vectors}, {"a": labels[:, 0], "b": labels[:, 1]}, order=["a", "b", "v"])
    pi = rng.dirichlet(np.full(3, 0.3), n_users)
    histories = {}
    for u in range(n_users):
        home = rng.integers(0, CLASSES, 3)
        picks = rng.choice(3, per_user, p=pi[u])
        histories[f"u{u}"] = [ids[rng.choice(np.flatnonzero(labels[:, s] == home[s]))] for s in picks]
    return sources, histories, pi


@pytest.fixture(scope="module")
def fitted():
    torch.set_num_threads(1)
    sources, histories, pi = planted()
    return fit_personal_metric(sources, histories, PersonalMetricConfig(population_users=200)), histories, pi


def test_distances_are_zero_to_itself_and_bounded():
    sources = ItemSources(["x", "y", "z"], {"v": np.eye(3)}, {"brand": np.array([0, 0, -1])}, order=["brand", "v"])
    rows = torch.as_tensor([[0, 1, 2, -1]])
    d = sources.distances(rows, rows)[0]
    assert d.shape == (4, 4, 2) and float(d.min()) >= 0 and float(d.max()) <= 1
    assert torch.all(d[torch.arange(3), torch.arange(3)] == 0)        # a known item is at distance 0 of itself
    assert float(d[0, 1, 0]) == 0 and float(d[0, 2, 0]) == 1          # same brand; missing brand matches nothing
    assert float(d[0, 1, 1]) == pytest.approx(0.5)                    # orthogonal vectors
    assert float(d[3, 3, 0]) == 1                                     # unknown items are not "the same item"


def test_category_path_distance_counts_unshared_levels():
    catalog = pd.DataFrame({"item_id": ["p", "q", "r"], "brand": ["A", "a", ""],
                            "category": [["Home", "Audio", "Cables"], ["Home", "Audio", "Mics"], ["Toys"]]})
    sources = ItemSources.from_catalog(catalog, sources=("category", "brand"))
    d = sources.distances(torch.as_tensor([[0]]), torch.as_tensor([[1, 2]]))[0, 0]
    assert d[0, 0] == pytest.approx(1 / 3) and d[1, 0] == pytest.approx(1.0)
    assert d[0, 1] == 0 and d[1, 1] == 1                               # brand case-insensitive; blank = unknown


def test_fit_recovers_the_planted_source_weights(fitted):
    metric, _, pi = fitted
    w = np.stack([metric.user_weights[f"u{u}"] for u in range(len(pi))])
    share = w / w.sum(1, keepdims=True)
    for s in range(3):
        assert np.corrcoef(pi[:, s], w[:, s])[0, 1] > 0.6, s
        assert np.corrcoef(pi[:, s], share[:, s])[0, 1] > 0.7, s


def test_thin_users_get_the_population_weights(fitted):
    metric, histories, _ = fitted
    scorer = PersonalMetricScorer(metric)
    items = histories["u0"]
    np.testing.assert_array_equal(scorer.weights_for([]), metric.population)
    np.testing.assert_array_equal(scorer.weights_for(items[:1]), metric.population)  # below min_items
    gap = [np.abs(scorer.weights_for(items[:n]) - metric.population).sum() for n in (2, len(items))]
    assert gap[0] < gap[1]  # two items move the weights less than eighteen: shrinkage toward the population
    strong = PersonalMetric.fit_users(metric, [items], seed=3)[0]
    metric.config.prior_scale, saved = 1e-3, metric.config.prior_scale
    try:  # a near-zero prior scale pins every user to the population
        np.testing.assert_allclose(PersonalMetric.fit_users(metric, [items], seed=3)[0], metric.population,
                                   atol=1e-3)
    finally:
        metric.config.prior_scale = saved
    assert np.abs(strong - metric.population).sum() > 0.05


def test_scorer_interface_and_personal_ranking(fitted):
    metric, histories, pi = fitted
    personal, global_ = PersonalMetricScorer(metric), PersonalMetricScorer(metric, personal=False)
    assert isinstance(personal, Scorer) and personal.name == "personal_metric" and global_.name == "global_metric"
    out = personal.score_candidates(["i1"], ["i2", "unknown-item", "i1"], histories["u1"])
    assert out.scores.shape == (3,) and np.isfinite(out.scores).all() and set(out.extra["weights"]) == {"a", "b", "v"}
    # held-out item of each one-source user: ranked among 20 random items by the query = their previous item
    rng = np.random.default_rng(1)
    wins = {"personal": [], "global": []}
    ids = metric.sources.ids
    for u in np.flatnonzero(pi.max(1) > 0.9)[:40]:
        items = histories[f"u{u}"]
        candidates = [items[-1], *rng.choice(ids, 20, replace=False)]
        for name, scorer in (("personal", personal), ("global", global_)):
            s = scorer.score_candidates([items[-2]], candidates, items[:-2]).scores
            wins[name].append(float(s[0] > s[1:].max()))
    assert np.mean(wins["personal"]) >= np.mean(wins["global"])


def test_save_and_load_round_trip(fitted, tmp_path):
    metric, histories, _ = fitted
    metric.save_pretrained(tmp_path / "pm")
    loaded = PersonalMetric.from_pretrained(tmp_path / "pm", metric.sources)
    np.testing.assert_allclose(loaded.population, metric.population)
    np.testing.assert_allclose(loaded.user_weights["u3"], metric.user_weights["u3"], atol=1e-4)
    a = PersonalMetricScorer(metric).score_candidates(["i1"], ["i2", "i3"], histories["u2"]).scores
    b = PersonalMetricScorer(loaded).score_candidates(["i1"], ["i2", "i3"], histories["u2"]).scores
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_the_blend_weighs_the_personal_metric_feature_and_it_helps_on_planted_data():
    """As the blend feature of eccr/rank/candidates.py: fitted on held-out lists of half the users (valid), it gets a
    positive weight and lifts HR@5 on the other half (test) over the same blend without it."""
    from eccr.rank.blend import Blend

    torch.set_num_threads(1)
    sources, histories, _ = planted(n_items=400, n_users=160, per_user=16, seed=5)
    past = {u: h[:-2] for u, h in histories.items()}  # the last two items are held out: the query, the positive
    metric = fit_personal_metric(sources, past, PersonalMetricConfig(population_users=160))
    scorer, rng = PersonalMetricScorer(metric), np.random.default_rng(0)

    def lists(users):
        columns, labels = {"personal_metric": [], "popularity": [], "text_cosine": []}, []
        for u in users:
            h = histories[u]
            others = [i for i in sources.ids if i not in h]
            candidates = [h[-1], *rng.choice(others, 20, replace=False)]
            feature = scorer.score_candidates([h[-2]], candidates, h[:-2]).scores
            assert np.isfinite(feature).all()
            columns["personal_metric"].extend(feature)
            for noise in ("popularity", "text_cosine"):  # stand-ins for the other features: no signal here
                columns[noise].extend(rng.normal(size=len(candidates)))
            labels.extend([1] + [0] * 20)
        return {k: np.asarray(v) for k, v in columns.items()}, np.asarray(labels)

    users = list(histories)
    (valid, valid_y), (test, _) = lists(users[:80]), lists(users[80:])
    without = {k: v for k, v in valid.items() if k != "personal_metric"}
    blends = {"with": Blend.fit(valid, valid_y), "without": Blend.fit(without, valid_y)}
    assert blends["with"].weights["personal_metric"] > 0

    def hr5(blend):
        scores = blend.score(test).reshape(-1, 21)
        return float(np.mean((scores[:, 1:] >= scores[:, :1]).sum(1) < 5))  # ties count against the blend

    assert hr5(blends["with"]) > hr5(blends["without"]) + 0.2
    assert scorer.score_candidates(["i1"], ["i2", "unknown-item"], []).scores.shape == (2,)  # no history: finite
    assert np.isfinite(scorer.score_candidates(["i1"], ["i2", "unknown-item"], []).scores).all()
