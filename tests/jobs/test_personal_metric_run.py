"""`eccr evaluate` runs the personalised item-to-item metric (eccr/rank/personal_metric.py) and its global twin."""
from __future__ import annotations

import numpy as np

from eccr.evaluate.systems import build_systems
from eccr.pipeline import Recommender
from eccr.rank.personal_metric import RUN_FOLDER, metric_for_run
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
