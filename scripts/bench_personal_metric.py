"""Benchmark of the personalised item-to-item metric (Hoang et al. 2022; eccr/rank/personal_metric.py) against the
same metric with one global weight vector: training and scoring speed, recovery of planted source weights, and
HR@5 / NDCG@5 on the honest ECCR lists (eccr/data/candidate_lists.py) for returning shoppers.

Synthetic: `eccr data synth` users with planted source preferences (SyntheticConfig.planted_preferences); each
user leans on one facet -- same platform (brand source), type-graph complement (behaviour source), same category
group (category source). The behaviour vectors are skip-gram vectors of the train sessions of half the users (A);
the metric is fitted on, and evaluated for, the other half (B), so a user's own purchases never shaped the
vectors their weights are fitted on (fitted in-sample, behaviour separates a user's items from random ones
perfectly and swamps every other source -- the real-data runs show it).

Real: the electronic and clothing runs (runs/<domain>, needs `eccr train` first): the number of returning shoppers,
the fitted population weights, and the metric on the run's saved ECCR test lists.

    .venv/bin/python scripts/bench_personal_metric.py                  # ~5 min on 2 cores
    .venv/bin/python scripts/bench_personal_metric.py --users 1000 --real   # quick synthetic + real runs

Prints a table and writes OUT/bench_personal_metric.json and OUT/bench_personal_metric.png.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eccr.data.candidate_lists import CandidateListConfig, CandidateLists, build_candidate_lists
from eccr.data.schema import CATALOG_COLUMNS, Behaviour, Bundles, Catalog, Dataset
from eccr.data.splits import temporal_split
from eccr.data.synth import PREFERENCE_FACETS, SyntheticConfig, synthetic_tables
from eccr.evaluate.config import BootstrapConfig, EccrProtocolConfig
from eccr.evaluate.metrics import paired_bootstrap
from eccr.evaluate.protocols import run_eccr_protocol
from eccr.rank.config import PersonalMetricConfig
from eccr.rank.personal_metric import ItemSources, PersonalMetricScorer, fit_personal_metric, metric_for_run
from eccr.represent.behaviour import behaviour_vectors
from eccr.represent.config import BehaviourConfig

FACET_SOURCE = {"platform": "brand", "graph": "behaviour", "group": "category"}
SOURCES = ("behaviour", "category", "brand")


def eccr_metrics(lists: CandidateLists, systems: dict, bootstrap: BootstrapConfig) -> dict:
    if not lists.pairs:
        return {name: None for name in systems}
    results = run_eccr_protocol(lists, systems, EccrProtocolConfig(), bootstrap)
    out = {}
    for name, r in results.items():
        out[name] = {m: {"mean": round(s.mean, 4), "low": round(s.ci_low, 4), "high": round(s.ci_high, 4)}
                     for m, s in r.summary.items()}
        out[name]["pairs"] = len(lists.pairs)
    return out


def paired_difference(lists: CandidateLists, a, b, metric: str = "HR@5", seed: int = 0) -> dict:
    """a - b on the same pairs with a 95% paired bootstrap interval over pairs (eccr.evaluate.metrics)."""
    res = run_eccr_protocol(lists, {"a": a, "b": b}, EccrProtocolConfig(), BootstrapConfig(resamples=200))
    diff = paired_bootstrap(res["a"].per_query[metric], res["b"].per_query[metric], resamples=1000, seed=seed)
    return {"mean": round(diff.mean_difference, 4), "low": round(diff.ci_low, 4), "high": round(diff.ci_high, 4),
            "pairs": diff.n}


def synthetic(args) -> dict:
    cfg = SyntheticConfig(planted_preferences=args.planted, interactions_per_user=args.interactions,
                          bundle_rate=args.bundle_rate)
    t0 = time.perf_counter()
    tables = synthetic_tables(args.items, args.users, seed=args.seed, config=cfg)
    ds = Dataset(name="synthetic-planted", catalog=Catalog(tables.catalog.loc[:, list(CATALOG_COLUMNS)]),
                 behaviour=Behaviour(tables.behaviour.loc[:, ["user_id", "session_id", "item_id", "timestamp"]]),
                 bundles=Bundles(tables.bundles), source="scripts/bench_personal_metric.py")
    split = temporal_split(ds, 0.1, 0.2)
    events = split.train.behaviour.events
    user_number = events["user_id"].astype(str).str[1:].astype(int)
    half_a = events[user_number % 2 == 0]
    behaviour = behaviour_vectors(Behaviour(half_a), BehaviourConfig(epochs=args.skipgram_epochs),
                                  catalog_ids=ds.catalog.items["item_id"])
    sources = ItemSources.from_catalog(tables.catalog, {"behaviour": behaviour}, SOURCES)
    histories = {u: h for u, h in split.train.behaviour.user_sequences().items() if int(str(u)[1:]) % 2 == 1}
    counts = split.train.behaviour.item_counts().to_dict()
    prepare_s = time.perf_counter() - t0
    config = PersonalMetricConfig(sources=SOURCES, population_users=args.population_users)

    t = time.perf_counter()
    metric = fit_personal_metric(sources, histories, config, personal=False, item_counts=counts, log=print)
    population_s = time.perf_counter() - t
    t = time.perf_counter()
    users = list(histories)
    fitted = metric.fit_users([histories[u] for u in users], metric._counts)
    users_s = time.perf_counter() - t
    metric.user_weights = {u: fitted[n] for n, u in enumerate(users)}

    # recovery: planted facet weight vs fitted source weight, over the fitted (non-thin) users
    rows = [n for n, u in enumerate(users) if len(set(histories[u])) >= config.min_items]
    planted = tables.user_preferences[[int(users[n][1:]) for n in rows]]
    w = fitted[rows]
    share = w / w.sum(1, keepdims=True)
    recovery = {"corr_planted_facet_x_fitted_share": {  # every facet against every source: facets overlap (a graph
        facet: {source: round(float(np.corrcoef(planted[:, f], share[:, s])[0, 1]), 3)   # user repeats leaf types)
                for s, source in enumerate(sources.names)} for f, facet in enumerate(PREFERENCE_FACETS)}}
    for f, facet in enumerate(PREFERENCE_FACETS):
        s = sources.names.index(FACET_SOURCE[facet])
        recovery[facet] = {"source": FACET_SOURCE[facet],
                           "pearson_weight": round(float(np.corrcoef(planted[:, f], w[:, s])[0, 1]), 3),
                           "pearson_share": round(float(np.corrcoef(planted[:, f], share[:, s])[0, 1]), 3),
                           "spearman_share": round(float(pd.Series(planted[:, f]).corr(pd.Series(share[:, s]),
                                                                                        method="spearman")), 3)}

    # honest ECCR lists of the test part; B users (the fitted half) with and without earlier items
    lists = build_candidate_lists(split, "test", CandidateListConfig(seed=args.seed))
    session_user = dict(zip(split.test.behaviour.events["session_id"].astype(str),
                            split.test.behaviour.events["user_id"].astype(str)))
    in_b = [p for p in lists.pairs if int(session_user.get(p.session_id, "U0")[1:]) % 2 == 1]
    returning = dataclasses.replace(lists, pairs=[p for p in in_b if len(p.history) >= config.min_items])
    systems = {"personal_metric": PersonalMetricScorer(metric, personal=True),
               "global_metric": PersonalMetricScorer(metric, personal=False),
               "personal_metric+history": PersonalMetricScorer(metric, personal=True, name="p+h", history_weight=1.0),
               "global_metric+history": PersonalMetricScorer(metric, personal=False, name="g+h", history_weight=1.0)}
    t = time.perf_counter()
    quality = eccr_metrics(returning, systems, BootstrapConfig(resamples=300))
    eval_s = time.perf_counter() - t
    difference = paired_difference(returning, systems["personal_metric"], systems["global_metric"])

    # scoring speed: a fresh scorer (no cache) on 50 returning pairs; the global scorer on the same
    sample = returning.pairs[:50]
    speed = {}
    for name, personal in (("personal_first_call", True), ("global", False)):
        scorer = PersonalMetricScorer(metric, personal=personal)
        t = time.perf_counter()
        for p in sample:
            scorer.score_candidates([p.query], [p.positive, *p.negatives], p.history)
        speed[name + "_ms"] = round(1000 * (time.perf_counter() - t) / max(len(sample), 1), 2)
    return {"data": {"items": args.items, "users": args.users, "planted_preferences": args.planted,
                     "interactions_per_user": args.interactions, "bundle_rate": args.bundle_rate,
                     "events": len(ds.behaviour), "fitted_users": len(rows),
                     "test_pairs": len(lists.pairs), "test_pairs_half_b": len(in_b),
                     "test_pairs_half_b_returning": len(returning.pairs)},
            "population_weights": dict(zip(sources.names, np.round(metric.population, 4).tolist())),
            "recovery": recovery, "eccr_returning_half_b": quality,
            "personal_minus_global_hr5": difference,
            "seconds": {"prepare": round(prepare_s, 1), "fit_population": round(population_s, 1),
                        "fit_users": round(users_s, 1), "users_per_second": round(len(users) / users_s, 1),
                        "evaluate_4_systems": round(eval_s, 1)},
            "scoring": speed, "_planted": planted.tolist(), "_share": share.tolist()}


def real(domain: str, runs: Path, out: Path) -> dict | None:
    run = runs / domain
    if not (run / "config.json").exists() or not (run / "eccr_candidates_test.json").exists():
        print(f"skip {domain}: {run} has no trained run with ECCR test lists")
        return None
    from eccr.run import load_run_config, split_dataset

    ds, split = split_dataset(load_run_config(run))
    sessions = ds.behaviour.events.groupby("user_id")["session_id"].nunique()
    copy = out / f"{domain}_run"  # the metric is fitted into a copy: the run itself is left alone
    copy.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "catalog.parquet"):
        shutil.copy(run / name, copy / name)
    shutil.copytree(run / "vectors", copy / "vectors", dirs_exist_ok=True)
    t = time.perf_counter()
    metric = metric_for_run(copy, log=print)
    fit_s = time.perf_counter() - t
    lists = CandidateLists.load(run / "eccr_candidates_test.json")
    with_history = dataclasses.replace(lists, pairs=[p for p in lists.pairs if p.history])
    systems = {"personal_metric": PersonalMetricScorer(metric), "global_metric": PersonalMetricScorer(metric, False)}
    return {"users": len(sessions), "users_with_2+_sessions": int((sessions >= 2).sum()),
            "test_pairs": len(lists.pairs), "test_pairs_with_history": len(with_history.pairs),
            "test_users_with_earlier_sessions": len(set(split.test.behaviour.events["user_id"])
                                                        & set(split.train.behaviour.events["user_id"])),
            "population_weights": dict(zip(metric.sources.names, np.round(metric.population, 4).tolist())),
            "fit_seconds": round(fit_s, 1),
            "eccr_all_pairs": eccr_metrics(lists, systems, BootstrapConfig(resamples=300)),
            "eccr_pairs_with_history": eccr_metrics(with_history, systems, BootstrapConfig(resamples=300))}


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    syn = result["synthetic"]
    planted, share = np.asarray(syn["_planted"]), np.asarray(syn["_share"])
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for f, facet in enumerate(PREFERENCE_FACETS):
        source = FACET_SOURCE[facet]
        s = list(syn["population_weights"]).index(source)
        axes[f].scatter(planted[:, f], share[:, s], s=4, alpha=0.4)
        axes[f].set(xlabel=f"planted weight of '{facet}'", ylabel=f"fitted share of '{source}'",
                    title=f"{facet} -> {source}: r = {syn['recovery'][facet]['pearson_share']}")
    q = syn["eccr_returning_half_b"]
    names = list(q)
    hr = [q[n]["HR@5"]["mean"] for n in names]
    err = np.array([[q[n]["HR@5"]["mean"] - q[n]["HR@5"]["low"], q[n]["HR@5"]["high"] - q[n]["HR@5"]["mean"]]
                    for n in names]).T
    axes[3].bar(range(len(names)), hr, yerr=err, color=["C0", "C1", "C0", "C1"], alpha=0.8)
    axes[3].set_xticks(range(len(names)), [n.replace("_metric", "").replace("+", "\n+") for n in names], fontsize=8)
    axes[3].set(ylabel="HR@5 (ECCR lists, returning)", title="synthetic, fitted half")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--interactions", type=float, default=20.0, help="mean purchases per user")
    parser.add_argument("--planted", type=float, default=0.8, help="SyntheticConfig.planted_preferences")
    parser.add_argument("--bundle-rate", type=float, default=0.2)
    parser.add_argument("--population-users", type=int, default=1000)
    parser.add_argument("--skipgram-epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", action="store_true", help="also the electronic and clothing runs")
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--out", default="runs/results/personal_metric")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"command": " ".join(sys.argv), "synthetic": synthetic(args)}
    if args.real:
        result["real"] = {d: real(d, Path(args.runs), out) for d in ("electronic", "clothing")}
    public = {k: v for k, v in result["synthetic"].items() if not k.startswith("_")}
    print(json.dumps({**result, "synthetic": public}, indent=1))
    (out / "bench_personal_metric.json").write_text(json.dumps({**result, "synthetic": public}, indent=1) + "\n")
    plot(result, out / "bench_personal_metric.png")
    print(f"wrote {out / 'bench_personal_metric.json'} and {out / 'bench_personal_metric.png'}")


if __name__ == "__main__":
    main()
