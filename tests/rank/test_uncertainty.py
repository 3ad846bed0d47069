"""Uncertainty-aware thresholds recover planted uncertainty: when high-spread pairs are less often positive at equal
mean score, the high-uncertainty level needs a higher score and per-level thresholds gain recall at equal
precision; when the spread says nothing, they gain nothing."""
from pathlib import Path

import numpy as np
import pytest
import torch

from eccr.evaluate.uncertainty import decision_table, positive_rate_grid, reliability, spread_effect
from eccr.rank.complement import bootstrap_queries
from eccr.rank.uncertainty import (
    CoherenceRule,
    Platt,
    RankingRule,
    cut_for_precision,
    fit_calibration,
    fit_ranking_rule,
    fit_rule,
)


def planted_scores(n: int, seed: int, penalty: float, members: int = 5):
    """(members, n) raw scores and labels. Each member sees the pair's latent logit t plus noise of size 2u (u is
    the pair's uncertainty, uniform on [0, 1]) on its own scale and offset (the same members for every seed);
    the label is drawn from sigmoid(t - penalty * u): at equal mean score an uncertain pair is less often positive
    when penalty > 0."""
    fixed = np.random.default_rng(123)
    scales, offsets = fixed.uniform(0.5, 2.0, members), fixed.normal(0, 1, members)
    rng = np.random.default_rng(seed)
    t = rng.normal(-3.0, 2.5, n)
    u = rng.uniform(0, 1, n)
    scores = np.stack([(t + 2 * u * rng.normal(size=n)) * s + o for s, o in zip(scales, offsets)])
    labels = (rng.uniform(size=n) < 1 / (1 + np.exp(-(t - penalty * u)))).astype(np.int8)
    return scores, labels


def test_high_uncertainty_needs_a_higher_score_and_gains_recall():
    valid_scores, valid_labels = planted_scores(40_000, seed=0, penalty=4.0)
    test_scores, test_labels = planted_scores(40_000, seed=1, penalty=4.0)
    calibration = fit_calibration(valid_scores, valid_labels, levels=3)
    rule = fit_rule(calibration, valid_scores, valid_labels, 0.8)
    thresholds = rule.level_thresholds()
    assert thresholds[0] < thresholds[1] < thresholds[2]
    table = decision_table(calibration, valid_scores, valid_labels, test_scores, test_labels, (0.8, 0.9))
    for target in (0.8, 0.9):
        rows = table[table["target"] == target].set_index("rule")
        assert rows.loc["per level", "test_recall"] > rows.loc["global", "test_recall"] + 0.03
        assert rows.loc["per level", "test_precision"] > target - 0.05  # the valid cut transfers
    # at equal probability from the score alone, the observed rate falls with the uncertainty level
    test = calibration.assess(test_scores)
    grid = positive_rate_grid(test, test_labels, np.quantile(test["probability"], [0.5, 0.8, 0.9]))
    top = grid[grid["score_bin"] == grid["score_bin"].max()].sort_values("level")
    assert top["rate"].iloc[0] > top["rate"].iloc[-1]
    effect = spread_effect(test, test_labels, np.arange(len(test_labels)) // 21, resamples=50)
    assert effect["high"] < 0  # more spread at equal score, fewer positives


def test_no_planted_uncertainty_no_gain():
    valid_scores, valid_labels = planted_scores(40_000, seed=2, penalty=0.0)
    test_scores, test_labels = planted_scores(40_000, seed=3, penalty=0.0)
    calibration = fit_calibration(valid_scores, valid_labels, levels=3)
    table = decision_table(calibration, valid_scores, valid_labels, test_scores, test_labels, (0.8,))
    rows = table.set_index("rule")
    assert abs(rows.loc["per level", "test_recall"] - rows.loc["global", "test_recall"]) < 0.03


def test_probability_is_calibrated_and_the_rule_round_trips(tmp_path):
    scores, labels = planted_scores(20_000, seed=4, penalty=2.0)
    calibration = fit_calibration(scores, labels, levels=3)
    table = reliability(calibration.assess(scores)["level_probability"], labels, np.arange(1, 10) / 10)
    assert (table["mean_probability"] - table["rate"]).abs().max() < 0.05
    rule = fit_rule(calibration, scores, labels, 0.9)
    assert CoherenceRule.load(rule.save(tmp_path / "rule.json")) == rule
    decided = rule.decide(scores)
    assert decided["coherent"].any() and labels[decided["coherent"]].mean() >= 0.9


def test_the_ranking_rule_reads_the_score_that_ranks_and_the_ensembles_levels(tmp_path):
    """A blend score that knows the label better than the ensemble's mean: the ranking rule's probability follows
    it (monotone within a level), is calibrated, reaches the target precision and round-trips."""
    members, labels = planted_scores(30_000, seed=5, penalty=2.0)
    calibration = fit_calibration(members, labels, levels=3)
    spread = calibration.combine(members)[1]
    rng = np.random.default_rng(6)
    blend = 3.0 * labels + rng.normal(0, 1.5, len(labels))  # the score that ranks
    rule = fit_ranking_rule(blend, spread, labels, calibration.level_edges, 0.9)
    assert RankingRule.load(rule.save(tmp_path / "ranking_rule.json")) == rule
    decided = rule.decide(blend, spread)
    for level in range(3):
        rows = np.flatnonzero(decided["level"] == level)
        order = rows[np.argsort(-blend[rows])]
        assert np.all(np.diff(decided["level_probability"][order]) <= 1e-12)
    table = reliability(decided["level_probability"], labels, np.arange(1, 10) / 10)
    assert (table["mean_probability"] - table["rate"]).abs().max() < 0.05
    assert decided["coherent"].any() and labels[decided["coherent"]].mean() >= 0.9
    # a score beyond those it was fitted on gets the probability of the highest one, not an extrapolation
    top = blend.argmax()
    beyond = rule.decide(np.array([blend[top], blend[top] + 50.0]), spread[[top, top]])
    assert beyond["probability"][0] == beyond["probability"][1] and beyond["level_probability"][0] == beyond["level_probability"][1]
    assert beyond["coherent"][0] and not beyond["coherent"][1]  # the top fitted score passes; beyond it, unsure
    # it finds more of the positives at that precision than the ensemble's own rule, which knows less
    own = fit_rule(calibration, members, labels, 0.9).decide(members)
    assert labels[decided["coherent"]].sum() > labels[own["coherent"]].sum()


def test_cut_for_precision():
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.5])
    labels = np.array([1, 1, 0, 1, 0, 1])
    assert cut_for_precision(score, labels, 0.75) == 0.6   # 3 of the top 4
    assert cut_for_precision(score, labels, 1.0) == 0.8
    assert cut_for_precision(score, labels, 0.65) == 0.5   # 4 of 6; ties are flagged together, never 3 of 5
    assert cut_for_precision(np.array([0.5, 0.4]), np.array([0, 0]), 0.5) == float("inf")


def test_platt_inverse():
    platt = Platt(2.0, -1.0)
    assert platt(platt.inverse(0.7)) == pytest.approx(0.7)
    assert Platt(0.0, -3.0).inverse(0.5) == float("inf")


def test_bootstrap_moves_a_query_with_all_its_lists():
    queries = torch.tensor([3, 3, 3, 7, 9, 9])
    candidates = torch.arange(12).reshape(6, 2)
    q, c = bootstrap_queries(queries, candidates, seed=5)
    for item in set(q.tolist()):
        copies = int((q == item).sum()) // int((queries == item).sum())
        assert copies * int((queries == item).sum()) == int((q == item).sum())
        assert sorted(c[q == item].tolist()) == sorted(candidates[queries == item].tolist() * copies)
    assert len(set(q.tolist())) <= 3


@pytest.mark.slow
def test_judge_trains_saves_and_loads(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("test_complement", Path(__file__).with_name("test_complement.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    planted = module.planted

    from eccr.data.candidate_lists import CandidateListConfig
    from eccr.rank.config import ComplementConfig, UncertaintyConfig
    from eccr.rank.uncertainty import CoherenceJudge, fit_coherence_judge

    split, vectors, catalog = planted()
    judge = fit_coherence_judge(vectors, split, UncertaintyConfig(members=2, max_epochs=2, target_precision=0.5),
                                ComplementConfig(hidden=32, batch_size=32), CandidateListConfig(negatives=10))
    verdicts = judge.judge(["camera3"], ["battery3", "phone7", "camera8"])
    assert [set(v) for v in verdicts] == [{"probability", "uncertainty", "level", "coherent"}] * 3
    assert all(0 <= v["probability"] <= 1 and v["uncertainty"] >= 0 for v in verdicts)
    judge.save_pretrained(tmp_path / "coherence")
    again = CoherenceJudge.from_pretrained(tmp_path / "coherence", vectors, catalog)
    assert again.judge(["camera3"], ["battery3", "phone7", "camera8"]) == verdicts
    vetoed = judge.judge(["camera3"], ["battery3", "phone7", "camera8"], incompatible=[True, False, False])
    assert vetoed[0]["coherent"] is False and vetoed[1:] == verdicts[1:]  # an incompatible pair is never coherent
    assert [v["probability"] for v in vetoed] == [v["probability"] for v in verdicts]
