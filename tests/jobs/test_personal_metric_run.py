"""`eccr evaluate` runs the personalised item-to-item metric (eccr/rank/personal_metric.py) and its global twin."""
from __future__ import annotations

import dataclasses
import json

import numpy as np

from eccr.evaluate.systems import build_systems
from eccr.pipeline import Recommender
from eccr.rank.personal_metric import RUN_FOLDER, PersonalMetricScorer, metric_for_run
from eccr.run import Run


def test_evaluate_fits_saves_and_scores_the_personal_metric(tiny_run):
    systems = build_systems(Recommender.from_run(tiny_run, use_lm=False))
    assert {"personal_metric", "global_metric"} <= set(systems)
    assert (Run(tiny_run) / RUN_FOLDER / "config.json").exists()  # fitted once, loaded by later evaluations
    again = metric_for_run(tiny_run)
    np.testing.assert_allclose(again.population, systems["global_metric"].metric.population)
    for name in ("personal_metric", "global_metric"):
        out = systems[name].score_candidates(["D0001"], ["D0002", "D0363", "not-an-item"], ["D0004", "D0005"])
        assert out.scores.shape == (3,) and np.isfinite(out.scores).all()


def test_systems_asked_for_by_name_leave_the_metric_unfitted(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path / "copy")
    systems = build_systems(Recommender.from_run(run, use_lm=False), only=("eccr", "text_cosine", "dan"))
    assert list(systems) == ["eccr", "text_cosine", "dan"]
    assert not (Run(run) / RUN_FOLDER).exists()


def _copy_run(tiny_run, to):
    import shutil

    shutil.copytree(tiny_run, to, ignore=shutil.ignore_patterns("checkpoints", "lm", "report-*"))
    shutil.rmtree(to / RUN_FOLDER, ignore_errors=True)  # fitted by other tests' evaluations
    return to


def test_runs_trained_before_the_feature_load_and_rank_exactly_as_before(tiny_run, tmp_path):
    """A run whose config.json predates PersonalMetricConfig and whose blends do not weigh the feature: the metric
    folder `eccr evaluate` leaves in it changes nothing; the feature is not even computed."""
    from eccr.rank.blend import FEATURES
    from eccr.rank.candidates import CONTEXT_FEATURES

    old = _copy_run(tiny_run, tmp_path / "old")
    config = json.loads((old / "config.json").read_text())
    config.pop("personal_metric", None)
    (old / "config.json").write_text(json.dumps(config))
    before = Recommender.from_pretrained(old, use_lm=False)
    pool = before.retrieve(["D0001"], 50)
    expected = before.score_pool("D0001", ["D0004", "D0005"], pool)
    metric_for_run(old)  # what `eccr evaluate` does
    after = Recommender.from_pretrained(old, use_lm=False)
    assert after.candidates.personal is None and "personal_metric" not in after.blends["coherent"].weights
    feats = after.features("D0001", ["D0004", "D0005"], pool)[0]
    assert set(feats) == set(FEATURES) | set(CONTEXT_FEATURES)
    np.testing.assert_array_equal(after.score_pool("D0001", ["D0004", "D0005"], pool), expected)
    assert [i.item_id for i in after.recommend("D0001", k=5, explain=False).items] == \
        [i.item_id for i in before.recommend("D0001", k=5, explain=False).items]


def test_the_blend_stage_fits_saves_and_serves_the_personal_metric_feature(tiny_run, tmp_path):
    from eccr.jobs.train import stage_blend
    from eccr.rank.blend import Blend
    from eccr.run import load_run_config, split_dataset

    run = _copy_run(tiny_run, tmp_path / "featured")
    config = load_run_config(run)
    config.personal_metric.blend_feature = True
    (run / "config.json").write_text(json.dumps(dataclasses.asdict(config), default=str))
    _, split = split_dataset(config)
    summary = stage_blend(Run(run), config, split, force=True)
    assert "personal_metric" in summary and (run / RUN_FOLDER / "config.json").exists()
    weights = Blend.load(run / "blend.json").weights
    assert "personal_metric" in weights and np.isfinite(weights["personal_metric"])
    rec = Recommender.from_pretrained(run, use_lm=False)  # loads the metric because the blend weighs it
    assert rec.candidates.personal is not None
    pool = rec.retrieve(["D0001"], 30)
    for history in ([], ["D0004"], ["D0004", "D0005", "D0006"]):  # none, thin (population weights), personal
        feats = rec.features("D0001", history, pool)[0]
        assert np.isfinite(feats["personal_metric"]).all() and len(feats["personal_metric"]) == len(pool)
    assert len(rec.recommend("D0001", k=5, explain=False).items) == 5
    systems = build_systems(rec)  # `eccr evaluate` ranks with the same features
    scores = systems["eccr"].score_candidates(["D0001"], pool[:10], ["D0004", "D0005"]).scores
    np.testing.assert_allclose(scores, rec.score_pool("D0001", ["D0004", "D0005"], pool[:10]))


def test_the_personal_metric_ranks_alone_when_asked(tiny_run, tmp_path):
    """`--ranking personal_metric`: the shopper's metric is the item-to-item score (no blend), from the basket or
    history passed; a run without a fitted metric says how to fit one."""
    import pytest

    run = _copy_run(tiny_run, tmp_path / "personal")
    with pytest.raises(FileNotFoundError, match="eccr evaluate"):
        Recommender.from_pretrained(run, use_lm=False, ranking="personal_metric")
    metric = metric_for_run(run)  # what `eccr evaluate` does
    rec = Recommender.from_pretrained(run, use_lm=False, ranking="personal_metric", demote_incompatible=False)
    assert rec.blends["personal_metric"].weights == {"personal_metric": 1.0}
    pool = rec.retrieve(["D0001"], 30)
    history = ["D0004", "D0005", "D0006"]
    expected = PersonalMetricScorer(metric).score_candidates(["D0001"], pool, history).scores
    got = rec.score_pool("D0001", history, pool)
    assert np.corrcoef(got, expected)[0, 1] > 0.999  # the same ranking: the metric's score, z-scored
    items = [i.item_id for i in rec.recommend("D0001", basket=history, k=5, explain=False, candidates=pool).items]
    assert items == [pool[j] for j in np.argsort(-expected, kind="stable") if pool[j] not in history][:5]
    coherent = Recommender.from_pretrained(run, use_lm=False, demote_incompatible=False)
    assert "personal_metric" not in coherent.blends and coherent.candidates.personal is None
