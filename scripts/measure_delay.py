"""How late does the complement of a purchase arrive? The delay behind delayed feedback, on the real data (issue #12,
part B; Rastogi's keynote, part "Delayed feedback", ../shared/papers/directed-graphs-delayed-feedback-uncertainty.txt).

    .venv/bin/python scripts/measure_delay.py \
        --data ../shared/data/amazon_bundle_intents/electronic ../shared/data/amazon_bundle_intents/clothing

A directed complement pair is (a, b) with a and b in one labelled bundle (any part of the data), or, more loosely,
(leaf(a), leaf(b)) for two different leaf categories that share a bundle somewhere. For every user who bought a and
later (or in the same session) b, the delay is the first b's time minus the first a's time. The table gives the share
of such pairs that arrive in the same session and within 1, 7, 30 and 90 days, and how many users could show a delay
at all (two or more sessions). Writes delay.json and delay.png to --out.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from eccr.data.categories import leaf_category
from eccr.data.load import load_dataset

DOMAINS = ("../shared/data/amazon_bundle_intents/electronic", "../shared/data/amazon_bundle_intents/clothing")
WINDOWS = (1, 7, 30, 90)  # days


def complement_delays(events: pd.DataFrame, pairs: pd.DataFrame, key: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per (user, a, b) with (key(a), key(b)) among `pairs` (columns source, target) and b bought by the
    user no earlier than a: the delay in days from the user's first a to their first b after it, and whether both
    are in one session. `key` maps an item to what the pairs name (None: the item itself)."""
    ev = events[["user_id", "session_id", "item_id", "timestamp"]].copy()
    ev["key"] = ev["item_id"].map(key) if key is not None else ev["item_id"]
    ev = ev.dropna(subset=["key"])
    ev = ev[ev["timestamp"] >= 0].sort_values("timestamp").drop_duplicates(["user_id", "item_id"])
    wanted = pairs[["source", "target"]].drop_duplicates()
    joined = ev.merge(ev, on="user_id", suffixes=("_a", "_b"))
    joined = joined[(joined["item_id_a"] != joined["item_id_b"]) & (joined["timestamp_b"] >= joined["timestamp_a"])]
    joined = joined.merge(wanted, left_on=["key_a", "key_b"], right_on=["source", "target"])
    joined = joined.assign(delay_days=(joined["timestamp_b"] - joined["timestamp_a"]) / 86400.0,
                           same_session=joined["session_id_a"] == joined["session_id_b"])
    first = joined.sort_values("delay_days").drop_duplicates(["user_id", "item_id_a", "key_b"])
    return first[["user_id", "item_id_a", "item_id_b", "delay_days", "same_session"]].reset_index(drop=True)


def delay_shares(delays: pd.DataFrame) -> dict:
    n = len(delays)
    row = {"pairs": n, "cross_session_pairs": int((~delays["same_session"]).sum()) if n else 0,
           "same_session": float(delays["same_session"].mean()) if n else float("nan")}
    for days in WINDOWS:
        row[f"within_{days}d"] = float((delays["delay_days"] <= days).mean()) if n else float("nan")
    row["later_than_90d"] = float((delays["delay_days"] > 90).mean()) if n else float("nan")
    return row


def measure(data: str) -> dict:
    ds = load_dataset(data)
    events = ds.behaviour.events
    pairs = ds.bundles.directed_pairs()
    leaf = {str(r.item_id): leaf_category(r.category) or None for r in ds.catalog.items.itertuples(index=False)}
    leaf_pairs = pd.DataFrame({"source": pairs["source"].map(leaf), "target": pairs["target"].map(leaf)}).dropna()
    leaf_pairs = leaf_pairs[leaf_pairs["source"] != leaf_pairs["target"]]
    sessions = events[events["timestamp"] >= 0].groupby("user_id")["session_id"].nunique()
    return {"data": data, "name": ds.name, "users": int(events["user_id"].nunique()),
            "users_with_2plus_sessions": int((sessions >= 2).sum()),
            "sessions": int(events["session_id"].nunique()),
            "undated_events": float((events["timestamp"] < 0).mean()),
            "definitions": {"item pairs from bundles": delay_shares(complement_delays(events, pairs)),
                            "leaf-category pairs from bundles": delay_shares(
                                complement_delays(events, leaf_pairs, leaf))}}


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
    results = [measure(d) for d in args.data]
    print(f"{'domain':<11} {'pairs as':<33} {'pairs':>6} {'x-session':>9} {'same sess':>9} "
          + " ".join(f"{'≤' + str(d) + 'd':>6}" for d in WINDOWS) + f" {'>90d':>6}")
    for r in results:
        for name, row in r["definitions"].items():
            print(f"{r['name']:<11} {name:<33} {row['pairs']:>6} {row['cross_session_pairs']:>9} "
                  f"{row['same_session']:>9.4f} " + " ".join(f"{row[f'within_{d}d']:>6.4f}" for d in WINDOWS)
                  + f" {row['later_than_90d']:>6.4f}")
        print(f"{'':<11} users {r['users']}, with 2+ dated sessions {r['users_with_2plus_sessions']}; "
              f"sessions {r['sessions']}; undated events {r['undated_events']:.1%}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "delay.json").write_text(json.dumps(results, indent=1))
    plot(results, out / "delay.png")


if __name__ == "__main__":
    main()
