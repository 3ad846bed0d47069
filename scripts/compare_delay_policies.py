"""Training with labels that arrive late: the complement scorer on "what will the buyer of q come back for?" lists,
with the newest labels (1) as observed, (2) dropped for the last N days, (3) weighted by P/Q (issue #12, part B;
Rastogi's keynote, part "Delayed feedback", ../shared/papers/directed-graphs-delayed-feedback-uncertainty.txt).

    .venv/bin/python scripts/compare_delay_policies.py        # ~3 min on one core (synthetic), plus the real counts
    .venv/bin/python scripts/compare_delay_policies.py --seeds 0 1 2   # three data + model seeds, ~3 min each

Synthetic data with the answer known (eccr/data/synth.py): 3,000 items, 3,000 users over 12 months; half of the
complements are bought in a later session after an exponential delay of mean 20 days; a product line (every other
anchor type) is launched 6 months before the end, so a temporal split (60 / 10 / 30% of sessions) sees only its
first weeks in the train part, where its later complements have not arrived yet. The complement scorer
(`ComplementConfig.training_lists="later"`) reads planted text vectors (type centre + platform centre + noise, as in
tests/rank/test_complement.py) and the title words. It is trained four ways, `delay_weighting` none / drop / pq,
and, as the known answer, on the train part's labels looked up past the cutoff (complete labels). HR@5 is measured
on the test part's later-complement lists whose labels are complete (queries at least the 60-day horizon before
the data's end), with 95% intervals from 1,000 bootstrap resamples of the query items, overall and on the new line.
With `--seeds`, the whole comparison is repeated per seed (the synthetic data, its planted vectors and the scorer's
initialisation all follow the seed): per policy the mean HR@5 over seeds and its spread (standard deviation, min,
max), and per seed the paired difference to (1) with its bootstrap interval.

The real data (../shared/data/amazon_bundle_intents/electronic, clothing): how many later-complement lists each part
holds, against the bundle lists (eccr.evaluate.delay.later_list_counts, as in `eccr evaluate`'s report): too few to
train on or to move a weight.

Writes delay_policies.json and delay_policies.png to --out (default runs/results/delay).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from eccr.data.candidate_lists import CandidateListConfig
from eccr.data.later_lists import build_later_lists, delay_policy_weights
from eccr.data.schema import Behaviour, Bundles, Catalog, Dataset
from eccr.data.splits import temporal_split
from eccr.data.synth import SyntheticConfig, synthetic_tables
from eccr.evaluate.delay import later_list_counts
from eccr.rank.complement import _list_tensors, fit_complement_scorer
from eccr.rank.config import ComplementConfig
from eccr.represent.vectors import ItemVectors

DOMAINS = ("../shared/data/amazon_bundle_intents/electronic", "../shared/data/amazon_bundle_intents/clothing")
HORIZON = 60.0
DROP_DAYS = 30.0
SYNTH = SyntheticConfig(interactions_per_user=6.0, n_types=20, months=12, delayed_complement_rate=0.5,
                        mean_delay_days=20.0, bundle_rate=0.2, new_line_months=6.0)
POLICIES = ("complete", "none", "drop", "pq")
LABELS = {"complete": "complete labels (known answer)", "none": "(1) all recent as observed",
          "drop": f"(2) drop the last {DROP_DAYS:g} days", "pq": "(3) P/Q weights"}


def planted_world(n_items: int = 3000, n_users: int = 3000, seed: int = 0, dim: int = 32):
    """The synthetic split, planted text vectors and the new line's query mask helper."""
    tables = synthetic_tables(n_items, n_users, seed, SYNTH)
    catalog = tables.catalog
    ds = Dataset(f"synthetic-delay-{n_items}x{n_users}", Catalog(catalog[["item_id", "title", "category", "brand",
                                                                           "text"]].copy()),
                 Behaviour(tables.behaviour[["user_id", "session_id", "item_id", "timestamp"]].copy()),
                 Bundles(tables.bundles))
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=(SYNTH.n_types, dim))
    platform = 0.5 * rng.normal(size=(SYNTH.n_platforms, dim))
    vectors = (centre[catalog["product_type"].to_numpy()] + platform[catalog["platform"].to_numpy()]
               + 0.3 * rng.normal(size=(len(catalog), dim)))
    text = ItemVectors(catalog["item_id"].astype(str).tolist(), vectors.astype(np.float32))
    new_line = set(tables.graph.anchor_types[1::2].tolist())
    item_type = dict(zip(catalog["item_id"].astype(str), catalog["product_type"].astype(int)))
    return temporal_split(ds, 0.1, 0.3), text, {i for i, t in item_type.items() if t in new_line}


def list_hits(scorer, lists, vectors) -> tuple[np.ndarray, np.ndarray]:
    """(hit@5 per complete list, its query row), ties against the model."""
    queries, candidates = _list_tensors(lists, vectors)
    table = torch.from_numpy(scorer.vectors.vectors.astype(np.float32))
    words = torch.from_numpy(scorer.word_rows)
    scorer.net.eval()
    with torch.no_grad():
        scores = scorer.net(table[queries], table[candidates], words[queries], words[candidates])
    rank = 1 + (scores[:, 1:] >= scores[:, :1]).sum(1)
    return (rank <= 5).numpy().astype(float), queries.numpy()


def bootstrap(hits: dict[str, np.ndarray], groups: np.ndarray, n: int = 1000, seed: int = 0) -> dict:
    """Mean and 95% interval per policy, and of each policy minus "none", resampling query items."""
    _, g = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, g.max() + 1, g.max() + 1), minlength=g.max() + 1)
                       for _ in range(n)])  # (n, groups)
    size = counts @ np.bincount(g, minlength=g.max() + 1)
    out = {}
    for name, h in hits.items():
        sums = counts @ np.bincount(g, weights=h, minlength=g.max() + 1)
        diff = counts @ np.bincount(g, weights=h - hits["none"], minlength=g.max() + 1)
        out[name] = {"hr@5": float(h.mean()), "low": float(np.percentile(sums / size, 2.5)),
                     "high": float(np.percentile(sums / size, 97.5)),
                     "minus_observed": float((h - hits["none"]).mean()),
                     "minus_observed_low": float(np.percentile(diff / size, 2.5)),
                     "minus_observed_high": float(np.percentile(diff / size, 97.5)), "lists": len(h)}
    return out


def synthetic_comparison(config: ComplementConfig, seed: int = 0) -> dict:
    split, text, new_line = planted_world(seed=seed)
    lists = CandidateListConfig()
    train = build_later_lists(split, "train", lists, HORIZON)
    oracle = build_later_lists(split, "train", lists, HORIZON, complete_labels=True)
    test = build_later_lists(split, "test", lists, HORIZON, complete_labels=True)
    complete = test.age_days >= HORIZON
    test.lists.pairs = [p for p, ok in zip(test.lists.pairs, complete) if ok]
    new_q = np.array([p.query in new_line for p in train.lists.pairs])
    new_o = np.array([p.query in new_line for p in oracle.lists.pairs])
    counts = {"train_lists_observed": len(train.lists.pairs), "train_lists_complete": len(oracle.lists.pairs),
              "new_line_observed": int(new_q.sum()), "new_line_complete": int(new_o.sum()),
              "test_lists_complete": len(test.lists.pairs),
              "weights": {p: {"sum": float(w.sum()), "new_line_sum": float(w[new_q].sum()), "max": float(w.max())}
                          for p in ("none", "drop", "pq")
                          for w in [delay_policy_weights(train, p, DROP_DAYS, config.delay_max_weight)]}}
    hits, seconds, histories = {}, {}, {}
    for policy in POLICIES:
        start = time.perf_counter()
        cfg = ComplementConfig(**{**config.to_dict(), "training_lists": "later",
                                  "delay_weighting": "none" if policy == "complete" else policy,
                                  "later_horizon_days": HORIZON, "delay_drop_days": DROP_DAYS})
        scorer = fit_complement_scorer(text, split, cfg, lists, complete_labels=policy == "complete")
        hits[policy], queries = list_hits(scorer, test.lists, scorer.vectors)
        seconds[policy] = round(time.perf_counter() - start, 1)
        histories[policy] = scorer.history
        print(f"  {policy}: HR@5 {hits[policy].mean():.3f} on {len(queries)} test lists ({seconds[policy]} s)",
              flush=True)
    ids = np.array(scorer.vectors.ids, dtype=object)[queries]
    on_new = np.array([q in new_line for q in ids])
    return {"config": {"synthetic": SYNTH.__dict__, "complement": config.to_dict(), "horizon_days": HORIZON,
                       "drop_days": DROP_DAYS, "seed": seed},
            "counts": counts, "seconds": seconds, "histories": histories,
            "all": bootstrap(hits, queries),
            "new_line": bootstrap({k: v[on_new] for k, v in hits.items()}, queries[on_new]),
            "old_line": bootstrap({k: v[~on_new] for k, v in hits.items()}, queries[~on_new])}


def real_counts(data: str) -> dict:
    from eccr.data.load import load_dataset

    ds = load_dataset(data)
    split = temporal_split(ds, 0.1, 0.2)
    row = {"data": data, "name": ds.name, **later_list_counts(split, HORIZON)}
    weights = delay_policy_weights(build_later_lists(split, "train", CandidateListConfig(), HORIZON), "pq", DROP_DAYS)
    row["train"]["pq_weight_max"] = float(weights.max()) if len(weights) else None
    return row


def across_seeds(runs: list[dict]) -> dict:
    """Per group and policy: HR@5 mean, standard deviation, min and max over the seeds, and per seed the paired
    difference to (1) with its bootstrap interval (and the mean of those differences)."""
    out = {}
    for group in ("all", "new_line", "old_line"):
        out[group] = {}
        for policy in POLICIES:
            rows = [run[group][policy] for run in runs]
            hr = np.array([r["hr@5"] for r in rows])
            diff = np.array([r["minus_observed"] for r in rows])
            out[group][policy] = {
                "hr@5_mean": float(hr.mean()), "hr@5_sd": float(hr.std(ddof=1)) if len(hr) > 1 else 0.0,
                "hr@5_min": float(hr.min()), "hr@5_max": float(hr.max()), "hr@5_per_seed": hr.tolist(),
                "minus_observed_mean": float(diff.mean()),
                "minus_observed_per_seed": [[r["minus_observed"], r["minus_observed_low"], r["minus_observed_high"]]
                                            for r in rows],
                "lists_per_seed": [r["lists"] for r in rows]}
    return out


def plot(runs: list[dict], path: Path, seeds: list[int]) -> None:
    """One seed: bars with 95% bootstrap intervals. Several: the mean over seeds, its min-max as the error bar and
    one dot per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4))
    groups = [("all", "all test queries"), ("new_line", "new product line"), ("old_line", "older lines")]
    width = 0.8 / len(POLICIES)
    for k, policy in enumerate(POLICIES):
        x = np.arange(len(groups)) + k * width
        if len(runs) == 1:
            vals = [runs[0][g][policy] for g, _ in groups]
            mean = np.array([v["hr@5"] for v in vals])
            err = np.array([[v["hr@5"] - v["low"] for v in vals], [v["high"] - v["hr@5"] for v in vals]])
        else:
            hr = np.array([[run[g][policy]["hr@5"] for g, _ in groups] for run in runs])  # (seeds, groups)
            mean = hr.mean(0)
            err = np.stack([mean - hr.min(0), hr.max(0) - mean])
            for row in hr:
                ax.plot(x, row, "o", ms=3, color="black", zorder=3)
        ax.bar(x, mean, width, yerr=err, capsize=3, label=LABELS[policy])
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, [label for _, label in groups])
    ax.set_ylabel("HR@5 on test lists with complete labels")
    ax.set_ylim(0, 1.05)
    ax.set_title("Later-complement lists, planted censored delay (95% bootstrap intervals)" if len(runs) == 1 else
                 f"Later-complement lists, planted censored delay: mean of seeds {seeds} (min-max, dots)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_seed(synthetic: dict) -> None:
    c = synthetic["counts"]
    print(f"\ntrain lists: {c['train_lists_observed']} observed at the cutoff, {c['train_lists_complete']} with "
          f"complete labels; new line {c['new_line_observed']} of {c['new_line_complete']}; "
          f"test lists with complete labels {c['test_lists_complete']}")
    print("weights (sum over train lists, new line's sum, max): " + "; ".join(
        f"{p} {w['sum']:.0f}, {w['new_line_sum']:.0f}, {w['max']:.2f}" for p, w in c["weights"].items()))
    print(f"\n{'policy':<34} {'HR@5 all [95% CI]':>22} {'minus (1) [95% CI]':>26} {'HR@5 new line':>22} "
          f"{'minus (1)':>26}")
    for policy in POLICIES:
        a, n = synthetic["all"][policy], synthetic["new_line"][policy]
        print(f"{LABELS[policy]:<34} {a['hr@5']:.3f} [{a['low']:.3f}, {a['high']:.3f}]   "
              f"{a['minus_observed']:+.3f} [{a['minus_observed_low']:+.3f}, {a['minus_observed_high']:+.3f}]   "
              f"{n['hr@5']:.3f} [{n['low']:.3f}, {n['high']:.3f}]   "
              f"{n['minus_observed']:+.3f} [{n['minus_observed_low']:+.3f}, {n['minus_observed_high']:+.3f}]")
    print(f"(lists: all {synthetic['all']['none']['lists']}, new line {synthetic['new_line']['none']['lists']})")


def print_summary(summary: dict, seeds: list[int]) -> None:
    print(f"\nover seeds {seeds}: HR@5 mean (sd) [min, max]; minus (1) per seed [95% CI]")
    for group, title in (("all", "all test lists"), ("new_line", "new line")):
        print(f"\n{title}")
        for policy in POLICIES:
            r = summary[group][policy]
            diffs = "  ".join(f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" for d, lo, hi in r["minus_observed_per_seed"])
            print(f"{LABELS[policy]:<34} {r['hr@5_mean']:.3f} ({r['hr@5_sd']:.3f}) [{r['hr@5_min']:.3f}, "
                  f"{r['hr@5_max']:.3f}]   mean {r['minus_observed_mean']:+.3f}:  "
                  + (diffs if policy != "none" else "—"))
        print(f"(lists per seed: {summary[group]['none']['lists_per_seed']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", default=list(DOMAINS), help="real datasets to count lists on")
    parser.add_argument("--out", default="runs/results/delay", help="folder for delay_policies.json / .png")
    parser.add_argument("--seeds", "--seed", nargs="+", type=int, default=[0], dest="seeds",
                        help="repeat the synthetic comparison with each seed (data, planted vectors, scorer)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = []
    for seed in args.seeds:
        config = ComplementConfig(hidden=64, word_dim=32, max_epochs=6, patience=3, list_draws=2, seed=seed)
        print(f"synthetic seed {seed}, planted censored delay: training the complement scorer four ways", flush=True)
        runs.append(synthetic_comparison(config, seed))
        print_seed(runs[-1])
    summary = across_seeds(runs)
    if len(runs) > 1:
        print_summary(summary, args.seeds)
    real = []
    for data in args.data:
        real.append(real_counts(data))
    if real:
        print(f"\n{'domain':<11} {'part':<6} {'bundle lists':>12} {'later lists':>11} {'queries':>8} "
              f"{'with later compl.':>17} {'later < 60 d old':>16}")
        for r in real:
            for part in ("train", "valid", "test"):
                p = r[part]
                print(f"{r['name']:<11} {part:<6} {p['bundle_lists']:>12} {p['later_lists']:>11} {p['queries']:>8} "
                      f"{p['queries_with_later_complement']:>17} {p['later_lists_younger_than_horizon']:>16}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    synthetic = runs[0] if len(runs) == 1 else {"seeds": args.seeds, "summary": summary, "runs": runs}
    (out / "delay_policies.json").write_text(json.dumps({"synthetic": synthetic, "real": real}, indent=1))
    plot(runs, out / "delay_policies.png", args.seeds)
    print(f"\nwrote {out / 'delay_policies.json'} and {out / 'delay_policies.png'}")


if __name__ == "__main__":
    main()
