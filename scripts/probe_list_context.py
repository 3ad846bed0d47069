"""Does a ranker that sees the whole candidate list learn the list's construction instead of complements?

The ECCR lists put up to 7 negatives from the positive's leaf category next to it (eccr/data/candidate_lists.py),
so within a list the positive's leaf is over-represented. A scorer that reads each candidate alone cannot use that;
one that reads the list as context can. This probe fits, on the run's VALID lists and its blend features
(`eccr.jobs.train.list_blend_features`), (1) the shipped listwise linear blend, (2) a gradient-boosted classifier over the raw
features and (3) the same over the raw features plus each feature minus its list mean (list context), then scores
the TEST lists of the ECCR protocol and test lists whose 20 negatives are all random (status-matched, no leaf or
co-bought block). A gain of (3) that holds only on the first is the construction, not complements.
(4) is the linear blend fitted twice, on the valid lists whose positive was bought in the train part and on the
cold ones, each scoring the lists of its status: is one set of weights for both a compromise?

    python scripts/probe_list_context.py --run runs/electronic

prints a table and writes list_context.json to runs/results/list_context-<run name>/ (about 3 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from eccr.data.candidate_lists import CandidateListConfig, CandidateLists, build_candidate_lists
from eccr.jobs.train import list_blend_features
from eccr.pipeline import Recommender
from eccr.rank.blend import Blend
from eccr.rank.candidates import CONTEXT_FEATURES
from eccr.run import split_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blend_probe import hits


def list_features(rec: Recommender, lists: CandidateLists) -> tuple[list[str], list[np.ndarray]]:
    """The blend features (`list_blend_features`, what the blend is fitted on) as one array per list, positive
    first, columns in the order of the returned names."""
    columns, _, sizes = list_blend_features(rec.candidates, lists)
    names = sorted(k for k in columns if k not in CONTEXT_FEATURES)
    stacked = np.column_stack([np.asarray(columns[k], dtype=np.float64) for k in names])
    return names, np.split(stacked, np.cumsum(sizes)[:-1])


def with_context(lists: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.concatenate([x, x - x.mean(0)], 1) for x in lists])


def hit_rate(scores: np.ndarray, lists: list[np.ndarray]) -> float:
    return float(hits(scores, [len(x) for x in lists]).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rec = Recommender.from_pretrained(args.run, use_lm=False)
    _, split = split_dataset(rec.run_config)
    config = CandidateListConfig(seed=rec.run_config.data.seed)
    parts = {"valid": build_candidate_lists(split, "valid", config),
             "test (ECCR lists)": build_candidate_lists(split, "test", config),
             "test (random negatives only)": build_candidate_lists(
                 split, "test", replace(config, max_cobought=0, max_same_leaf=0))}
    features, seen = {}, {}
    for part, lists in parts.items():
        names, features[part] = list_features(rec, lists)
        seen[part] = np.array([pair.positive_seen for pair in lists.pairs], dtype=bool)
        print(f"{part}: {len(features[part])} lists", flush=True)
    valid = features["valid"]
    raw = np.concatenate(valid)
    labels = np.concatenate([np.eye(1, len(x), 0)[0] for x in valid])

    def linear_fit(lists: list[np.ndarray]) -> Blend:
        stacked, groups = np.concatenate(lists), np.repeat(np.arange(len(lists)), [len(x) for x in lists])
        targets = np.concatenate([np.eye(1, len(x), 0)[0] for x in lists])
        return Blend.fit({n: stacked[:, i] for i, n in enumerate(names)}, targets, groups, seed=0)

    def linear_scores(blend: Blend, lists: list[np.ndarray]) -> np.ndarray:
        stacked = np.concatenate(lists)
        return blend.score({n: stacked[:, i] for i, n in enumerate(names)})

    linear = linear_fit(valid)
    per_status = {status: linear_fit([x for x, s in zip(valid, seen["valid"]) if s == status]) for status in (True, False)}
    boosted = HistGradientBoostingClassifier(max_depth=3, max_iter=300, learning_rate=0.05, l2_regularization=1.0,
                                             random_state=0)
    raw_model = boosted.fit(raw, labels)
    raw_scores = {p: raw_model.predict_proba(np.concatenate(x))[:, 1] for p, x in features.items()}
    context_model = HistGradientBoostingClassifier(**boosted.get_params()).fit(with_context(valid), labels)
    rows = {"text cosine": {}, "linear listwise blend (the shipped fit, refitted here)": {}, "boosted trees, raw features": {},
            "boosted trees, raw + list context": {}, "linear listwise blends, one per positive's status": {}}
    for part, lists in features.items():
        stacked = np.concatenate(lists)
        rows["text cosine"][part] = hit_rate(stacked[:, names.index("text_cosine")], lists)
        rows["linear listwise blend (the shipped fit, refitted here)"][part] = hit_rate(linear_scores(linear, lists), lists)
        rows["linear listwise blends, one per positive's status"][part] = hit_rate(np.concatenate(
            [linear_scores(per_status[bool(s)], [x]) for x, s in zip(lists, seen[part])]), lists)
        rows["boosted trees, raw features"][part] = hit_rate(raw_scores[part], lists)
        rows["boosted trees, raw + list context"][part] = hit_rate(
            context_model.predict_proba(with_context(lists))[:, 1], lists)
    header = list(features)
    lines = [f"HR@5 (ties against the model), fitted on the {len(valid)} valid lists of {args.run}", "",
             "| scorer | " + " | ".join(header) + " |", "|---|" + "---|" * len(header)]
    lines += [f"| {name} | " + " | ".join(f"{r[p]:.3f}" for p in header) + " |" for name, r in rows.items()]
    print("\n".join(lines))
    out = Path(args.out or f"runs/results/list_context-{Path(args.run).name}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "list_context.json").write_text(json.dumps({"run": args.run, "features": names, "hr@5": rows}, indent=1))
    print(f"wrote {out / 'list_context.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
