import math

import numpy as np
import pytest

from eccr.evaluate.metrics import (
    bootstrap_ci,
    bootstrap_ratios,
    metrics_from_ranks,
    pad_ranks,
    paired_bootstrap,
    percentile_interval,
    positive_ranks,
    ranking_metrics,
)

ALL = ["HR@1", "HR@2", "Recall@2", "NDCG@2", "NDCG", "MRR"]


def one(scores, relevant, names=ALL):
    return {k: float(v[0]) for k, v in ranking_metrics([np.array(scores)], [np.array(relevant)], names).items()}


def test_two_positives_hand_computed():
    m = one([0.9, 0.8, 0.7, 0.6], [False, True, False, True])  # positives at ranks 2 and 4
    assert m["HR@1"] == 0 and m["HR@2"] == 1
    assert m["Recall@2"] == pytest.approx(0.5)
    ideal2 = 1 + 1 / math.log2(3)
    assert m["NDCG@2"] == pytest.approx((1 / math.log2(3)) / ideal2)
    assert m["NDCG"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal2)
    assert m["MRR"] == pytest.approx(0.5)


def test_single_positive_at_top_is_perfect():
    m = one([3.0, 1.0, 2.0], [True, False, False])
    assert m == {"HR@1": 1, "HR@2": 1, "Recall@2": 1, "NDCG@2": 1, "NDCG": 1, "MRR": 1}


def test_ties_with_negatives_are_pessimistic():
    assert list(positive_ranks([1.0, 1.0, 1.0], [True, False, False])) == [3]
    m = one([1.0, 1.0, 1.0], [True, False, False])
    assert m["HR@2"] == 0 and m["MRR"] == pytest.approx(1 / 3)
    assert m["NDCG"] == pytest.approx(1 / math.log2(4))
    # a positive above, a second one tied with a negative: ranks 1 and 3
    assert list(positive_ranks([2.0, 1.0, 1.0, 0.0], [True, False, True, False])) == [1, 3]


def test_ties_among_positives_do_not_cost_anything():
    assert sorted(positive_ranks([1.0, 1.0, 0.5], [True, True, False])) == [1, 2]
    assert one([1.0, 1.0, 0.5], [True, True, False])["NDCG@2"] == pytest.approx(1.0)


def test_constant_scorer_gets_no_credit():
    scores, relevant = np.zeros(21), np.arange(21) == 0
    m = one(scores, relevant, ["HR@5", "NDCG@5", "MRR"])
    assert m == {"HR@5": 0.0, "NDCG@5": 0.0, "MRR": pytest.approx(1 / 21)}


def test_unretrieved_positives_count_as_misses():
    ranks, counts = pad_ranks([np.array([1.0]), np.array([3.0, 8.0])], n_positives=[2, 2])
    m = metrics_from_ranks(ranks, counts, ["Recall@5", "HR@1", "NDCG@5"])
    assert list(m["Recall@5"]) == [0.5, 0.5]
    assert list(m["HR@1"]) == [1.0, 0.0]
    assert m["NDCG@5"][0] == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_vectorised_over_queries_matches_single():
    rng = np.random.default_rng(3)
    scores = [rng.normal(size=n) for n in (5, 9, 30)]
    relevant = [rng.random(len(s)) < 0.3 for s in scores]
    for r in relevant:
        r[0] = True
    batch = ranking_metrics(scores, relevant, ALL)
    for i in range(3):
        single = one(scores[i], relevant[i])
        for k in ALL:
            assert batch[k][i] == pytest.approx(single[k])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="NaN"):
        positive_ranks([np.nan, 1.0], [True, False])
    with pytest.raises(ValueError, match="no positives"):
        ranking_metrics([np.array([1.0, 2.0])], [np.array([False, False])], ["HR@1"])
    with pytest.raises(ValueError, match="unknown metric"):
        ranking_metrics([np.array([1.0])], [np.array([True])], ["P@3"])
    with pytest.raises(ValueError, match="cutoff"):
        ranking_metrics([np.array([1.0])], [np.array([True])], ["HR"])


def test_bootstrap_ci_contains_mean_narrows_and_is_seeded():
    rng = np.random.default_rng(0)
    small, large = rng.random(40) < 0.3, rng.random(4000) < 0.3
    s, l = bootstrap_ci(small), bootstrap_ci(large)
    assert s.ci_low <= s.mean <= s.ci_high and l.ci_low <= l.mean <= l.ci_high
    assert (l.ci_high - l.ci_low) < (s.ci_high - s.ci_low) / 4
    assert bootstrap_ci(small, seed=5) == bootstrap_ci(small, seed=5)
    assert bootstrap_ci(small, seed=5) != bootstrap_ci(small, seed=6)
    assert s.n == 40


def test_paired_bootstrap():
    rng = np.random.default_rng(1)
    a = rng.random(300)
    same = paired_bootstrap(a, a)
    assert same.mean_difference == 0 and same.p_value == 1.0
    better = paired_bootstrap(a + 0.05 + 0.01 * rng.normal(size=300), a)
    assert better.ci_low > 0 and better.p_value < 0.01
    assert better.ci_low <= better.mean_difference <= better.ci_high
    noisy = paired_bootstrap(rng.random(300), rng.random(300))
    assert noisy.ci_low < 0 < noisy.ci_high and noisy.p_value > 0.05  # same distribution: no difference
    with pytest.raises(ValueError, match="equal-length"):
        paired_bootstrap(a, a[:10])


def test_one_bootstrap_for_means_ratios_and_paired_columns():
    rng = np.random.default_rng(0)
    values, counts = rng.random(50), rng.integers(0, 4, 50).astype(float)
    means = bootstrap_ratios(values, resamples=300, seed=5)
    # a mean is the ratio with one count per unit; the same seed resamples the same units
    assert np.allclose(means, bootstrap_ratios(values, np.ones(50), resamples=300, seed=5))
    # columns are resampled together (paired) and match separate calls with the same seed
    both = bootstrap_ratios(np.stack([values * counts, counts], 1), np.stack([counts, np.ones(50)], 1), 300, 5)
    assert np.allclose(both[:, 0], bootstrap_ratios(values * counts, counts, 300, 5))
    assert np.allclose(both[:, 1], bootstrap_ratios(counts, resamples=300, seed=5))
    # memory-bounded blocks give the same replicates as one block
    assert np.allclose(means, bootstrap_ratios(values, resamples=300, seed=5, max_cells=120))
    # the interval of bootstrap_ci is the percentile interval of these replicates
    summary = bootstrap_ci(values, resamples=300, confidence=0.9, seed=5)
    assert (summary.ci_low, summary.ci_high) == tuple(percentile_interval(means, 0.9))
    # a resample with no counted unit is NaN and ignored by the interval
    sparse = bootstrap_ratios(np.array([1.0, 0.0]), np.array([1.0, 0.0]), resamples=200, seed=1)
    assert np.isnan(sparse).any() and percentile_interval(sparse) == (1.0, 1.0)
