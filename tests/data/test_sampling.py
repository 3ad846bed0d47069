"""Alias sampler: draws follow P_gamma(i) ∝ count(i)^gamma (Lake et al., eq. 5); exclusions hold; bad weights raise."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from eccr.data.sampling import AliasSampler

COUNTS = np.array([1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 0, 400])
DRAWS = 200_000


def _frequencies(sampler: AliasSampler, n: int = DRAWS) -> np.ndarray:
    return np.bincount(sampler.sample(n), minlength=len(sampler.prob)) / n


@pytest.mark.parametrize("gamma", [0.75, 1.0, 0.5])
def test_draws_match_p_gamma(gamma):
    sampler = AliasSampler.from_counts(COUNTS, gamma=gamma, seed=1)
    target = np.where(COUNTS > 0, COUNTS.astype(float) ** gamma, 0.0)
    target /= target.sum()
    np.testing.assert_allclose(sampler.probabilities, target)
    observed = np.bincount(sampler.sample(DRAWS), minlength=len(COUNTS))
    assert observed[COUNTS == 0].sum() == 0               # never-seen items are never drawn when gamma > 0
    support = target > 0
    expected = target[support] * DRAWS
    statistic = ((observed[support] - expected) ** 2 / expected).sum()
    assert statistic < chi2.ppf(0.999, df=support.sum() - 1)
    assert np.abs(observed / DRAWS - target).max() < 0.004


def test_chi_square_rejects_a_wrong_distribution():
    # guard against a test that cannot fail: uniform draws are far from P_0.75
    sampler = AliasSampler.from_counts(COUNTS, gamma=0.0, seed=1)
    target = COUNTS ** 0.75 / (COUNTS ** 0.75).sum()
    assert np.abs(_frequencies(sampler) - target).max() > 0.05


def test_gamma_zero_is_uniform():
    sampler = AliasSampler.from_counts(COUNTS, gamma=0.0, seed=2)
    freq = _frequencies(sampler)
    assert np.abs(freq - 1 / len(COUNTS)).max() < 0.004


def test_arbitrary_weights_and_shapes():
    weights = [0.1, 0.0, 0.6, 0.3]
    sampler = AliasSampler(weights, seed=3)
    draws = sampler.sample((1000, 200))
    assert draws.shape == (1000, 200) and draws.min() >= 0 and draws.max() <= 3
    freq = np.bincount(draws.ravel(), minlength=4) / draws.size
    np.testing.assert_allclose(freq, weights, atol=0.005)
    single = AliasSampler([7.0], seed=0).sample(10)
    assert (single == 0).all()


def test_same_seed_same_draws():
    a = AliasSampler.from_counts(COUNTS, seed=5).sample(1000)
    b = AliasSampler.from_counts(COUNTS, seed=5).sample(1000)
    c = AliasSampler.from_counts(COUNTS, seed=6).sample(1000)
    assert (a == b).all() and not (a == c).all()


@pytest.mark.parametrize("excluded", [{11, 9, 8}, np.array([11, 9, 8]), {11}])
def test_sample_excluding_never_returns_excluded(excluded):
    sampler = AliasSampler.from_counts(COUNTS, gamma=1.0, seed=4)  # item 11 holds 63% of the mass
    draws = sampler.sample_excluding(5_000, excluded)
    assert len(draws) == 5_000
    assert not np.isin(draws, np.asarray(sorted(excluded) if isinstance(excluded, set) else excluded)).any()
    # the remaining items keep their relative odds
    keep = np.setdiff1d(np.flatnonzero(COUNTS), np.asarray(list(excluded)))
    freq = np.bincount(draws, minlength=len(COUNTS))[keep] / len(draws)
    target = COUNTS[keep] / COUNTS[keep].sum()
    assert np.abs(freq - target).max() < 0.03


def test_sample_excluding_everything_raises():
    sampler = AliasSampler([1.0, 1.0, 0.0], seed=0)
    with pytest.raises(ValueError, match="excluded items hold nearly all probability mass"):
        sampler.sample_excluding(10, {0, 1})


@pytest.mark.parametrize("weights", [[], [[1.0, 2.0]], [1.0, -0.5], [0.0, 0.0], [1.0, np.nan], [np.inf, 1.0]])
def test_bad_weights_raise(weights):
    with pytest.raises(ValueError, match="weights must"):
        AliasSampler(weights)


def test_bad_counts_raise():
    with pytest.raises(ValueError):
        AliasSampler.from_counts([0, 0, 0], gamma=0.75)
