"""How late does the complement of a purchase arrive? The delay behind delayed feedback, on the real data (issue #12,
part B; Rastogi's keynote, part "Delayed feedback", ../shared/papers/directed-graphs-delayed-feedback-uncertainty.txt).

    .venv/bin/python scripts/measure_delay.py \
        --data ../shared/data/amazon_bundle_intents/electronic ../shared/data/amazon_bundle_intents/clothing

A directed complement pair is (a, b) with a and b in one labelled bundle (any part of the data), or, more loosely,
(leaf(a), leaf(b)) for two different leaf categories that share a bundle somewhere. For every user who bought a and
later (or in the same session) b, the delay is the first b's time minus the first a's time. The table gives the share
of such pairs that arrive in the same session and within 1, 7, 30 and 90 days, and how many users could show a delay
at all (two or more sessions). The same measurement on synthetic data with a planted delay (40% of complements
bought later, exponential with mean 10 days) checks that it finds what was planted.

Then planted delays where the answer is known (eccr.data.delay.PlantedDelays: two kinds of complement, converting
at the same rate after a mean delay of 2 and 20 days, the rate rising by +-50% over 180 days): each kind's chance
to convert within 60 days, estimated at day 180 from the last 30 days of examples as observed, from the 30 days
before the last 60 (dropped), and weighted by P/Q. Writes delay.json and delay.png to --out.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from eccr.data.delay import PlantedDelays, compare_label_policies, complement_delays
from eccr.data.load import load_dataset
from eccr.data.synth import SyntheticConfig, synthetic_tables
from eccr.evaluate.delay import delay_shares, measure_delays

DOMAINS = ("../shared/data/amazon_bundle_intents/electronic", "../shared/data/amazon_bundle_intents/clothing")
WINDOWS = (1, 7, 30, 90)  # days


def measure(data: str) -> dict:
    """The delay table of one dataset: eccr.evaluate.delay.measure_delays, the table `eccr evaluate` reports."""
    return {"data": data, **measure_delays(load_dataset(data), WINDOWS)}


def measure_synthetic(rate: float = 0.4, mean_days: float = 10.0, seed: int = 0) -> dict:
    """The same measurement on `eccr data synth` data with delayed complements planted (one session per user;
    complement pairs = the generator's type graph, keyed by product type)."""
    config = SyntheticConfig(interactions_per_user=3.0, n_types=20, delayed_complement_rate=rate,
                             mean_delay_days=mean_days)
    tables = synthetic_tables(3000, 2000, seed=seed, config=config)
    events = tables.behaviour.astype({c: str for c in ("user_id", "session_id", "item_id")})
    key = dict(zip(tables.catalog["item_id"].astype(str), tables.catalog["product_type"].astype(int)))
    delays = complement_delays(events, tables.graph.edges()[["source", "target"]], key)
    sessions = events.groupby("user_id")["session_id"].nunique()
    return {"data": f"synthetic: {rate:.0%} of complements delayed, exponential mean {mean_days:g} d",
            "name": "synthetic", "users": int(events["user_id"].nunique()),
            "users_with_2plus_sessions": int((sessions >= 2).sum()), "sessions": int(events["session_id"].nunique()),
            "undated_events": 0.0, "definitions": {"product-type pairs of the graph": delay_shares(delays, WINDOWS)},
            "cross_session_mean_delay_days": float(delays.loc[~delays["same_session"], "delay_days"].mean())}


def planted_comparison(seed: int = 0) -> list[dict]:
    planted = PlantedDelays({"fast": 0.3, "slow": 0.3}, {"fast": 2.0, "slow": 20.0}, days=180, trend=0.5)
    table = compare_label_policies(planted.simulate(200_000, seed), cut_days=180, horizon_days=60, window_days=30,
                                   drop_days=60)
    table.insert(1, "truth", [planted.truth(k, 165, 60) for k in table["kind"]])  # the recent window's middle
    return table.to_dict("records")


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["same session"] + [f"≤ {d} d" for d in WINDOWS]
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = [(f"{r['name']}: {name} (n={row['pairs']})", [row["same_session"]] + [row[f"within_{d}d"] for d in WINDOWS])
            for r in results for name, row in r["definitions"].items()]
    width = 0.8 / max(len(bars), 1)
    for k, (label, values) in enumerate(bars):
        ax.bar(np.arange(len(labels)) + k * width, values, width, label=label)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of directed complement pairs bought by one user")
    ax.set_title("When does the complement arrive after the first item?")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(DOMAINS), help="datasets eccr can load")
    parser.add_argument("--out", default="runs/results/delay", help="folder for delay.json and delay.png")
    args = parser.parse_args()
    results = [measure(d) for d in args.data] + [measure_synthetic()]
    print(f"{'domain':<11} {'pairs as':<33} {'pairs':>6} {'x-session':>9} {'same sess':>9} "
          + " ".join(f"{'≤' + str(d) + 'd':>6}" for d in WINDOWS) + f" {'>90d':>6}")
    for r in results:
        for name, row in r["definitions"].items():
            print(f"{r['name']:<11} {name:<33} {row['pairs']:>6} {row['cross_session_pairs']:>9} "
                  f"{row['same_session']:>9.4f} " + " ".join(f"{row[f'within_{d}d']:>6.4f}" for d in WINDOWS)
                  + f" {row['later_than_90d']:>6.4f}")
        print(f"{'':<11} users {r['users']}, with 2+ dated sessions {r['users_with_2plus_sessions']}; "
              f"sessions {r['sessions']}; undated events {r['undated_events']:.1%}")
        if "cross_session_mean_delay_days" in r:
            print(f"{'':<11} {r['data']}; measured mean delay in another session "
                  f"{r['cross_session_mean_delay_days']:.1f} d")
    planted = planted_comparison()
    print("\nplanted delays (mean 2 vs 20 days), P(convert within 60 d) estimated at day 180 [estimate (examples)]")
    print(f"{'kind':<6} {'truth':>6} {'as observed':>16} {'drop last 60 d':>16} {'weighted P/Q':>16}")
    for r in planted:
        print(f"{r['kind']:<6} {r['truth']:>6.3f} " + " ".join(
            f"{r[k]:>7.3f} ({r[k + '_n']:>6})" for k in ("as_observed", "drop_recent", "weighted")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "delay.json").write_text(json.dumps({"real": results, "planted": planted}, indent=1))
    plot(results, out / "delay.png")


if __name__ == "__main__":
    main()
