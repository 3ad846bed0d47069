"""How far can the shipped ranking's own features go, given labels from the period they are scored on?

A ceiling, not a product: the test lists are split in two folds (seeded, whole lists), a scorer is fitted on one
fold's labels and scores the other, and the two halves are put together. Every blend feature the run computes
(`eccr.jobs.train.list_blend_features`, one candidate at a time, no list context) is the input. Two scorers:
the run's linear listwise blend (`eccr.rank.blend`), and gradient-boosted trees over the same columns
(scikit-learn's HistGradientBoostingClassifier, a nonlinear mix). Beside them, text cosine and the blend as
shipped (refitted on the valid lists, as `eccr train` fits it). Fitting on labels of the test period removes the
gap between the training and the test period; what is left is what the features carry. HR@5 (all / seen / cold
lists, ties against the scorer).

    python scripts/probe_feature_ceiling.py --run runs/electronic
    python scripts/probe_feature_ceiling.py --run runs/clothing

About 3 minutes per run on 2 cores; table and JSON in runs/results/feature_ceiling-<run name>/.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from eccr.pipeline import Recommender
from eccr.rank.blend import Blend
from eccr.run import split_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blend_probe import PartLists, honest_lists, refitted_blend, report


def list_folds(sizes: list[int], folds: int, seed: int) -> np.ndarray:
    """The fold of every row: whole lists go to one fold, drawn with the seed."""
    return np.repeat(np.random.default_rng(seed).integers(0, folds, len(sizes)), sizes)


def cross_fitted(part: PartLists, names: list[str], fit, folds: int = 2, seed: int = 0) -> np.ndarray:
    """Scores of every row of `part` by `fit(columns, labels, groups)` (a scorer of columns) fitted on the other
    folds' lists."""
    fold = list_folds(part.sizes, folds, seed)
    groups = np.repeat(np.arange(len(part.sizes)), part.sizes)
    out = np.zeros(len(part.labels))
    for k in range(folds):
        train, held = fold != k, fold == k
        scorer = fit({n: part.columns[n][train] for n in names}, part.labels[train], groups[train])
        out[held] = scorer({n: part.columns[n][held] for n in names})
    return out


def fit_linear(columns, labels, groups):
    return Blend.fit(columns, labels, groups, names=sorted(columns)).score


def fit_trees(columns, labels, groups, seed: int = 0):
    names = sorted(columns)
    model = HistGradientBoostingClassifier(max_depth=3, max_iter=200, learning_rate=0.05, random_state=seed)
    model.fit(np.column_stack([columns[n] for n in names]), labels)
    return lambda c: model.predict_proba(np.column_stack([c[n] for n in names]))[:, 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = Path(args.out or f"runs/results/feature_ceiling-{Path(args.run).name}")
    rec = Recommender.from_pretrained(args.run, use_lm=False)
    _, split = split_dataset(rec.run_config)
    data = {part: honest_lists(rec, split, part) for part in ("valid", "test")}
    names = sorted(data["valid"].columns)
    seed = rec.run_config.data.seed
    ceilings = {f"linear blend, cross-fitted on the test lists ({args.folds} folds)": fit_linear,
                f"boosted trees, cross-fitted on the test lists ({args.folds} folds)": fit_trees}
    cached = {name: cross_fitted(data["test"], names, fit, args.folds, seed) for name, fit in ceilings.items()}
    shipped = "linear blend fitted on valid (as shipped)"
    systems = {"text_cosine": lambda c: c["text_cosine"], shipped: refitted_blend(data["valid"], names)}
    systems.update({name: (lambda c, s=scores: s) for name, scores in cached.items()})  # report scores test only
    report(systems, {"test": data["test"]}, [(name, shipped) for name in cached],
           f"HR@5 (all / seen / cold lists; ties against the scorer), {args.run}: the blend features' ceiling "
           f"with labels of the test period ({', '.join(names)})", out, "feature_ceiling",
           {"run": args.run, "folds": args.folds, "seed": seed, "features": names})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
