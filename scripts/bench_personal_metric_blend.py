"""The personalised item-to-item metric (Hoang et al. 2022) as a feature of the shipped ranking (issue #13 A).

For each trained run: the run's rank level (eccr/rank/candidates.py, `CandidateRanker`, what `eccr recommend`,
`eccr explain`, the demo and `eccr evaluate`'s `eccr` system rank with) computes every candidate feature once on
the honest ECCR lists (eccr/data/candidate_lists.py: negatives with the positive's seen status) of the VALID part
(the lists the blend stage fits on, `blend_max_pairs`, the run's seed) and of the TEST part (the run's
eccr_candidates_test.json when `eccr evaluate` saved it, else built with the same settings), plus two metric
columns: `personal_metric` (the shopper's weights fitted on the history the protocol passes; the population
weights when it is thin) and `global_metric` (the population weights for everyone). Three blends are fitted on the
valid lists only -- without the feature (the shipped blend), with the global metric, with the personal metric --
and the test lists are ranked exactly as `PipelineScorer` does (out-of-domain backoff, incompatible demotion,
shuffled candidates, ties against the system). HR@5 / NDCG@5 with 95% bootstrap intervals over pairs, paired
bootstrap of each blend against the one without the feature, on all test pairs and on pairs of returning shoppers
(>= PersonalMetricConfig.min_items earlier items).

The metric is RUN/personal_metric/ (fitted on the run's train part the first time, as `eccr evaluate` does); the
run's own blends are not touched (the blends fitted here are saved under OUT/<run name>/).

    # synthetic shoppers with planted source preferences, trained in a few minutes
    eccr data synth --items 2000 --users 2000 --interactions-per-user 20 --planted-preferences 0.8 --out runs/pm_blend/synth_data
    eccr train --data runs/pm_blend/synth_data --out runs/pm_blend/synth_run --quick --no-lm \\
        --stages represent complement rank index blend --ranker.max_seconds 180 --directed.max_seconds 120 \\
        --complement.max_seconds 120
    python scripts/bench_personal_metric_blend.py --runs runs/pm_blend/synth_run runs/electronic

Prints a table and writes OUT/bench_personal_metric_blend.json and OUT/bench_personal_metric_blend.png.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eccr.coherence import AttributeExtractor
from eccr.data.candidate_lists import CandidateListConfig, CandidateLists, load_or_build_candidate_lists
from eccr.data.lookup import read_catalog
from eccr.evaluate.config import BootstrapConfig, EccrProtocolConfig
from eccr.evaluate.metrics import paired_bootstrap
from eccr.evaluate.protocols import run_eccr_protocol
from eccr.jobs.train import known_pairs
from eccr.rank.base import Scores
from eccr.rank.blend import ALL_FEATURES, Blend
from eccr.rank.candidates import CandidateRanker
from eccr.rank.personal_metric import PersonalMetricScorer, metric_for_run
from eccr.run import Run, load_run_config, split_dataset

BLENDS = ("without", "with_global_metric", "with_personal_metric")


class FeatureCache:
    """Every candidate feature of one list, computed once and shared by the blends; the metric columns beside."""

    def __init__(self, candidates: CandidateRanker, metric):
        self.c = candidates
        self.personal = PersonalMetricScorer(metric, personal=True)
        self.glob = PersonalMetricScorer(metric, personal=False)
        self.store: dict = {}

    def get(self, query: str, history, pool) -> tuple[list[str], dict]:
        history = [h for h in map(str, history) if self.c.items.is_titled(h)]
        key = (query, tuple(history), frozenset(pool))
        if key not in self.store:
            known = [c for c in map(str, pool) if c in self.c.items and c != query]
            feats: dict = {}
            if known:
                feats = self.c.features(query, history, known)[0]
                feats["personal_metric"] = self.personal.score_candidates([query], known, history).scores
                feats["global_metric"] = self.glob.score_candidates([query], known, history).scores
            self.store[key] = (known, feats)
        return self.store[key]


def view(feats: dict, blend: str) -> dict:
    """The feature columns one blend sees: the personal_metric column is the personal or the global metric."""
    out = {k: v for k, v in feats.items() if k not in ("personal_metric", "global_metric")}
    if blend == "with_personal_metric":
        out["personal_metric"] = feats["personal_metric"]
    elif blend == "with_global_metric":
        out["personal_metric"] = feats["global_metric"]
    return out


class BlendScorer:
    """PipelineScorer without the LM: the run's final score (blend `name`, backoff, demotion) on given candidates."""

    def __init__(self, cache: FeatureCache, name: str):
        self.cache, self.name = cache, name

    def score_candidates(self, query, candidates, history=()) -> Scores:
        query = str(query[-1])
        known, feats = self.cache.get(query, history, candidates)
        final = self.cache.c.final_scores(view(feats, self.name), self.name) if known else np.zeros(0)
        by_id = dict(zip(known, final))
        return Scores(np.array([by_id.get(str(c), -np.inf) for c in candidates], dtype=np.float64))


def valid_columns(cache: FeatureCache, lists: CandidateLists) -> tuple[dict, np.ndarray]:
    """The blend stage's rows (eccr.jobs.train.list_blend_features): pairs whose items are all known, list order."""
    columns: dict[str, list] = {}
    labels: list[int] = []
    for pair in known_pairs(cache.c, lists):
        pool = [pair.positive, *pair.negatives]
        ids, feats = cache.get(pair.query, pair.history, pool)
        order = [ids.index(c) for c in pool]
        for name, values in feats.items():
            columns.setdefault(name, []).extend(np.asarray(values)[order].tolist())
        labels.extend([1] + [0] * len(pair.negatives))
    return {k: np.asarray(v) for k, v in columns.items()}, np.asarray(labels)


def measure(run_dir: Path, out: Path, args) -> dict:
    t0 = time.perf_counter()
    run, config = Run(run_dir), load_run_config(run_dir)
    seed = config.data.seed
    _, split = split_dataset(config)
    metric = metric_for_run(run.root, config.personal_metric, log=print, split=split)
    if args.history_weight is not None:  # the feature's lambda (PersonalMetricConfig.history_weight); fit unchanged
        metric.config = dataclasses.replace(metric.config, history_weight=args.history_weight)
    catalog = read_catalog(run.catalog)
    candidates = CandidateRanker.from_run(run, catalog, AttributeExtractor(catalog),
                                          max_memory=config.ranker.max_memory)
    shipped = candidates.blends["coherent"]
    cache = FeatureCache(candidates, metric)
    where = out / run.root.name
    where.mkdir(parents=True, exist_ok=True)
    valid = load_or_build_candidate_lists(split, "valid", CandidateListConfig(max_pairs=config.blend_max_pairs,
                                                                              seed=seed),
                                          where / "candidates_valid.json")
    test_path = run.root / "eccr_candidates_test.json"
    test = CandidateLists.load(test_path) if test_path.exists() else \
        load_or_build_candidate_lists(split, "test", CandidateListConfig(seed=seed), where / "candidates_test.json")
    if args.max_test_pairs and len(test.pairs) > args.max_test_pairs:
        keep = np.sort(np.random.default_rng(seed).permutation(len(test.pairs))[:args.max_test_pairs])
        test = dataclasses.replace(test, pairs=[test.pairs[i] for i in keep])
    columns, labels = valid_columns(cache, valid)
    print(f"{run.root}: {len(labels) // 21} valid lists featurised ({time.perf_counter() - t0:.0f} s)", flush=True)
    blends = {}
    for name in BLENDS:
        blends[name] = Blend.fit(view(columns, name), labels, seed=seed)
        blends[name].save(where / f"blend_{name}.json")
    candidates.blends = {**candidates.blends, **blends, "shipped": shipped}
    systems = {name: BlendScorer(cache, name) for name in (*BLENDS, "shipped")}
    min_items = metric.config.min_items
    subsets = {"all": test, "returning": dataclasses.replace(test, pairs=[p for p in test.pairs
                                                                          if len(p.history) >= min_items])}
    result: dict = {"run": str(run.root), "valid_lists": int(labels.sum()), "test_pairs": len(test.pairs),
                    "history_weight": metric.config.history_weight,
                    "population_weights": dict(zip(metric.sources.names, np.round(metric.population, 4).tolist())),
                    "weights": {name: {k: round(v, 4) for k, v in blends[name].weights.items()} for name in BLENDS},
                    "valid_feature_auc": {}, "subsets": {}}
    for name in ("personal_metric", "global_metric"):  # the column alone on the valid rows
        result["valid_feature_auc"][name] = round(_auc(columns[name], labels), 4)
    for subset, lists in subsets.items():
        if not lists.pairs:
            result["subsets"][subset] = {"pairs": 0}
            continue
        res = run_eccr_protocol(lists, systems, EccrProtocolConfig(seed=seed),
                                BootstrapConfig(resamples=args.resamples, seed=seed))
        rows = {name: {m: r.summary[m].as_dict() for m in ("HR@5", "NDCG@5")} for name, r in res.items()}
        comparisons = {f"{name} - without": paired_bootstrap(res[name].per_query["HR@5"],
                                                             res["without"].per_query["HR@5"], args.resamples,
                                                             seed=seed).as_dict()
                       for name in BLENDS[1:]}
        comparisons["with_personal_metric - with_global_metric"] = paired_bootstrap(
            res["with_personal_metric"].per_query["HR@5"], res["with_global_metric"].per_query["HR@5"],
            args.resamples, seed=seed).as_dict()
        result["subsets"][subset] = {"pairs": len(lists.pairs), "systems": rows, "paired_hr@5": comparisons}
        print(f"{run.root.name} [{subset}, {len(lists.pairs)} pairs] " + ", ".join(
            f"{n} {rows[n]['HR@5']['mean']:.3f}" for n in rows), flush=True)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def _auc(scores, labels) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, np.nan_to_num(scores, neginf=-1e9)))


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, r in results.items() if r]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    width = 0.25
    groups = [(n, s) for n in names for s in ("all", "returning") if results[n]["subsets"][s].get("pairs")]
    for b, blend in enumerate(BLENDS):
        means, err = [], [[], []]
        for n, s in groups:
            ci = results[n]["subsets"][s]["systems"][blend]["HR@5"]
            means.append(ci["mean"])
            err[0].append(ci["mean"] - ci["ci_low"])
            err[1].append(ci["ci_high"] - ci["mean"])
        axes[0].bar(np.arange(len(groups)) + (b - 1) * width, means, width, yerr=err, label=blend, alpha=0.85)
    axes[0].set_xticks(range(len(groups)), [f"{n}\n{s} ({results[n]['subsets'][s]['pairs']})" for n, s in groups],
                       fontsize=8)
    axes[0].set(ylabel="HR@5 (honest ECCR lists, test)", title="eccr blend with / without the metric feature")
    axes[0].legend(fontsize=8)
    features = [f for f in ALL_FEATURES if any(f in results[n]["weights"]["with_personal_metric"] for n in names)]
    for k, n in enumerate(names):
        w = results[n]["weights"]["with_personal_metric"]
        axes[1].barh(np.arange(len(features)) + k * 0.4, [w.get(f, 0.0) for f in features], 0.4, label=n)
    axes[1].set_yticks(np.arange(len(features)) + 0.2, features, fontsize=8)
    axes[1].axvline(0, color="k", lw=0.5)
    axes[1].set(xlabel="standardised blend weight (fitted on valid)", title="blend with the personal metric")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["runs/pm_blend/synth_run", "runs/electronic"])
    parser.add_argument("--max-test-pairs", type=int, default=0, help="seeded sample of the test lists (0 = all)")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--history-weight", type=float, default=None,
                        help="the feature's lambda: log(k(q, c) + lambda mean_h k(h, c)); default: the run's metric's")
    parser.add_argument("--out", default="runs/results/personal_metric")
    args = parser.parse_args()
    tag = "" if args.history_weight is None else f"_hw{args.history_weight:g}"
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for run_dir in args.runs:
        results[Path(run_dir).name] = measure(Path(run_dir), out / tag.strip("_") if tag else out, args)
    payload = {"command": " ".join(["python", *sys.argv]), "results": results}
    print(json.dumps(payload, indent=1))
    (out / f"bench_personal_metric_blend{tag}.json").write_text(json.dumps(payload, indent=1) + "\n")
    plot(results, out / f"bench_personal_metric_blend{tag}.png")
    print(f"wrote {out / f'bench_personal_metric_blend{tag}.json'} and {out / f'bench_personal_metric_blend{tag}.png'}")


if __name__ == "__main__":
    main()
