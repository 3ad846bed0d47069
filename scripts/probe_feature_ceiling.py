"""What do the shipped ranking's features carry, given labels from the period they are scored on?

Not a product: the test lists are split in two folds, a scorer is fitted on one fold's labels and ranks the other,
and the two halves are put together. Every blend feature the run computes (`eccr.jobs.train.list_blend_features`,
one candidate at a time, no list context) is the input. The scorers: the run's linear listwise blend
(`eccr.rank.blend`), and gradient-boosted trees over the same columns (scikit-learn's
HistGradientBoostingClassifier, a nonlinear mix) in three settings (`TREES`). Beside them, text cosine and the
blend as shipped (refitted on the valid lists, as `eccr train` fits it). HR@5 (all / seen / cold lists, ties
against the scorer).

How the folds are cut decides what the number means (`FOLDS`): by list, the items recur across the folds -- a
bundle of n items gives n(n-1) lists, and a new item bought in several test bundles is the positive of lists in
both folds -- so a flexible model learns which items are partners, which no ranking of new items can know; by
bundle, a bundle's lists stay together but items still recur; by connected items, no query or positive item of one
fold occurs as a query or positive in the other (the lists are grouped by the connected components of the graph
whose edges are the lists' (query, positive) pairs), which is what the features carry about unseen pairs.

    python scripts/probe_feature_ceiling.py --run runs/electronic
    python scripts/probe_feature_ceiling.py --run runs/clothing

About 6 minutes per run on 2 cores; table and JSON in runs/results/feature_ceiling-<run name>/.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from eccr.jobs.train import known_pairs
from eccr.pipeline import Recommender
from eccr.rank.blend import Blend
from eccr.run import split_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blend_probe import PartLists, honest_lists, probe_arguments, refitted_blend, report

FOLDS = ("list", "bundle", "connected items")


def fold_keys(pairs, how: str) -> list:
    """A key per list (`pairs`: CandidateList-like, with query, positive and bundle_id); lists of one key share a
    fold. `how` is one of FOLDS."""
    if how == "list":
        return list(range(len(pairs)))
    if how == "bundle":
        return [p.bundle_id for p in pairs]
    if how != "connected items":
        raise ValueError(f"folds by one of {FOLDS}, not {how!r}")
    parent: dict[str, str] = {}

    def root(item: str) -> str:
        parent.setdefault(item, item)
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for p in pairs:
        parent[root(p.query)] = root(p.positive)
    return [root(p.query) for p in pairs]


def group_folds(keys: list, sizes: list[int], folds: int, seed: int) -> np.ndarray:
    """The fold of every row: the lists of one key go to one fold; the keys, shuffled with the seed, are dealt out
    evenly."""
    unique = sorted(set(keys), key=str)
    fold_of = dict(zip(unique, np.random.default_rng(seed).permutation(len(unique)) % folds))
    return np.repeat([fold_of[k] for k in keys], sizes)


def cross_fitted(part: PartLists, names: list[str], fit, fold: np.ndarray) -> np.ndarray:
    """Scores of every row of `part` by `fit(columns, labels, groups)` (a scorer of columns) fitted on the rows
    of the other folds (`fold`: the fold of every row)."""
    groups = np.repeat(np.arange(len(part.sizes)), part.sizes)
    out = np.zeros(len(part.labels))
    for k in np.unique(fold):
        train, held = fold != k, fold == k
        scorer = fit({n: part.columns[n][train] for n in names}, part.labels[train], groups[train])
        out[held] = scorer({n: part.columns[n][held] for n in names})
    return out


def fit_linear(columns, labels, groups):
    return Blend.fit(columns, labels, groups, names=sorted(columns)).score


TREES = {"depth 3, 200 rounds": {"max_depth": 3, "max_iter": 200, "learning_rate": 0.05},
         # probe_list_context's setting
         "depth 3, 300 rounds, L2 1": {"max_depth": 3, "max_iter": 300, "learning_rate": 0.05, "l2_regularization": 1.0},
         "depth 6, 500 rounds, L2 1": {"max_depth": 6, "max_iter": 500, "learning_rate": 0.05, "l2_regularization": 1.0}}


def trees(setting: dict, seed: int = 0):
    """A fit (columns, labels, groups) -> scorer of gradient-boosted trees with `setting`."""
    def fit(columns, labels, groups):
        names = sorted(columns)
        model = HistGradientBoostingClassifier(random_state=seed, **setting)
        model.fit(np.column_stack([columns[n] for n in names]), labels)
        return lambda c: model.predict_proba(np.column_stack([c[n] for n in names]))[:, 1]
    return fit


def main() -> int:
    args, out = probe_arguments(__doc__, "feature_ceiling", ("--folds", {"type": int, "default": 2}))
    rec = Recommender.from_pretrained(args.run, use_lm=False)
    _, split = split_dataset(rec.run_config)
    data = {part: honest_lists(rec, split, part) for part in ("valid", "test")}
    names = sorted(data["valid"].columns)
    seed = rec.run_config.data.seed
    fits = {"linear blend": fit_linear, **{f"boosted trees ({name})": trees(setting, seed)
                                           for name, setting in TREES.items()}}
    pairs = known_pairs(rec.candidates, data["test"].lists)
    cached = {}
    for how in FOLDS:
        fold = group_folds(fold_keys(pairs, how), data["test"].sizes, args.folds, seed)
        for name, fit in fits.items():
            cached[f"{name}, cross-fitted on test, folds by {how}"] = cross_fitted(data["test"], names, fit, fold)
            print(f"folds by {how}: {name} done", flush=True)
    shipped = "linear blend fitted on valid (as shipped)"
    systems = {"text_cosine": lambda c: c["text_cosine"], shipped: refitted_blend(data["valid"], names)}
    systems.update({name: (lambda c, s=scores: s) for name, scores in cached.items()})  # report scores test only
    report(systems, {"test": data["test"]}, [(name, shipped) for name in cached],
           f"HR@5 (all / seen / cold lists; ties against the scorer), {args.run}: the blend features fitted "
           f"on labels of the test period, {args.folds} folds ({', '.join(names)})", out, "feature_ceiling",
           {"run": args.run, "folds": args.folds, "seed": seed, "features": names})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
