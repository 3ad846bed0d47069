"""Later-period check: runs scored on the last sessions of the full data, with "seen" meaning bought in ANY earlier
session (how a check on later data defines it), and whether training on the most recent sessions helps.

The README's runs learn behaviour from the train part only (the first 70% of sessions) and are scored on the test
part (the last 20%) with "seen" meaning bought in the train part. A shop, or an independent check on later data,
counts an item as seen when it was bought in any session it has, so items first bought in the valid part are
seen for it and cold for the run. `evaluate` scores runs on the last `--test-fraction` of a dataset's sessions
(the same lists for every run, honest as in eccr.data.candidate_lists) with no valid part, so every earlier
session decides the status.

`truncate` writes a copy of a bundle-intent folder (the ../shared/data layout) without those last sessions: the
"data you have" of a simulated later check. Two runs trained on it differ only in how recent their training
sessions are:

    python scripts/measure_later_period.py truncate ../shared/data/amazon_bundle_intents/electronic runs/later/electronic-data
    eccr train --data runs/later/electronic-data --out runs/later/electronic-split --no-lm --ranker.max_seconds 300 \\
        --complement_encoder.enabled false                          # README split: train 70%, valid 10%, test 20%
    eccr train --data runs/later/electronic-data --out runs/later/electronic-recent --no-lm --ranker.max_seconds 300 \\
        --complement_encoder.enabled false --data.test_fraction 0.002   # train on nearly all of it, valid the last 10%
    python scripts/measure_later_period.py evaluate ../shared/data/amazon_bundle_intents/electronic \\
        runs/later/electronic-split runs/later/electronic-recent runs/electronic --out runs/results/later_period-electronic

(the README's own run, trained on the first 70% of the full data, can be scored on the same lists.) With
`truncate --known-items-only` the copy's catalogue also lacks the items first bought later, as the project's did
when a check brought later data: `evaluate` adds them to the run before scoring, as `eccr explain --catalog` does. Prints and
writes `<out>.json` (HR@5 of the ECCR lists, Recall@10/50 of the full catalogue, 95% intervals, p of each
system against text cosine) and `<out>.md`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

SYSTEMS = ("eccr", "text_cosine", "tuned_cosine")
# bundle-intent files keyed by session or bundle, and the ones with their own timestamp
BY_SESSION = ("session_item.csv", "session_bundle.csv")
BY_BUNDLE = ("bundle_item.csv", "bundle_intent.csv", "user_bundle.csv")
TIMED = ("user_item.csv",)
ITEM_FILES = ("item_titles.csv", "item_categories.csv", "item_idx_mapping.csv")  # the catalogue, keyed by item


def truncate(data: str | Path, out: str | Path, test_fraction: float = 0.2, known_items_only: bool = False) -> dict:
    """Copy the bundle-intent folder `data` to `out` without the sessions (and their bundles and timed rows) at or
    after the cutoff of the last `test_fraction` of its sessions, as eccr.data.splits.temporal_split cuts it.
    Catalogue files are copied whole (the shop knows its items before anyone buys them), or with
    `known_items_only` keep the items bought before the cutoff only: the project's catalogue as a check on later
    data finds it, whose new items reach the run at explain time (`evaluate` adds them)."""
    from eccr.data.load import load_dataset
    from eccr.data.splits import temporal_split

    data, out = Path(data), Path(out)
    split = temporal_split(load_dataset(str(data)), 0.0, test_fraction)
    cut = split.test_start
    # the split's train part: sessions before the cutoff and untimed ones (sessions without a user)
    kept_sessions = {str(s) for s in set(split.train.behaviour.events["session_id"])
                     | set(split.train.bundles.rows["session_id"])}
    out.mkdir(parents=True, exist_ok=True)
    sessions = pd.read_csv(data / "user_session.csv", dtype=str, keep_default_na=False)
    session_bundle = pd.read_csv(data / "session_bundle.csv", dtype=str)
    kept_bundles = set(session_bundle.loc[session_bundle["session ID"].isin(kept_sessions), "bundle ID"])
    counts = {"cutoff": cut, "sessions": [len(kept_sessions), len(kept_sessions) + len(
                  set(split.test.behaviour.events["session_id"]) | set(split.test.bundles.rows["session_id"]))],
              "bundles": [len(kept_bundles), session_bundle["bundle ID"].nunique()]}
    # the items bought before the cutoff: those of the split's train part, which is what the copy keeps
    known_items = ({str(i) for i in split.train.behaviour.events["item_id"]}
                   | {str(i) for i in split.train.bundles.rows["item_id"]}) if known_items_only else None
    sessions[sessions["session ID"].isin(kept_sessions)].to_csv(out / "user_session.csv", index=False)
    for path in sorted(data.glob("*.csv")):
        if path.name == "user_session.csv":
            continue
        if path.name in BY_SESSION + BY_BUNDLE + TIMED:
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            if path.name in BY_SESSION:
                table = table[table["session ID"].isin(kept_sessions)]
            elif path.name in BY_BUNDLE:
                table = table[table["bundle ID"].isin(kept_bundles)]
            else:
                table = table[pd.to_numeric(table["timestamp"]) < cut]
            table.to_csv(out / path.name, index=False)
        elif known_items is not None and path.name in ITEM_FILES:
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            counts.setdefault("items", [int(table["item ID"].isin(known_items).sum()), len(table)])
            table[table["item ID"].isin(known_items)].to_csv(out / path.name, index=False)
        else:
            (out / path.name).write_bytes(path.read_bytes())
    (out / "TRUNCATED.json").write_text(json.dumps({"from": str(data), "test_fraction": test_fraction,
                                                    "known_items_only": known_items_only, **counts},
                                                   indent=1) + "\n")
    return counts


def evaluate(data: str, runs: list[str], out: str, test_fraction: float = 0.2) -> dict:
    """Each run's eccr, text cosine (and tuned cosine where the run has it) on the last `test_fraction` of `data`'s
    sessions, every earlier session deciding seen status; one list file shared by all runs. Items of `data` a
    run's catalogue lacks are added to it first, as `eccr explain --catalog` adds them."""
    from eccr.data.load import load_dataset
    from eccr.data.splits import temporal_split
    from eccr.evaluate.config import EccrProtocolConfig, EvaluationConfig
    from eccr.evaluate.harness import evaluate_systems
    from eccr.evaluate.systems import build_systems
    from eccr.pipeline import Recommender

    dataset = load_dataset(data)
    split = temporal_split(dataset, 0.0, test_fraction)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    config = EvaluationConfig(protocols=("eccr", "retrieval"), part="test", main_system="eccr",
                              valid_fraction=0.0, test_fraction=test_fraction,
                              candidates_path=f"{out}_lists.json", eccr=EccrProtocolConfig(seed=0))
    report: dict = {"data": data, "test_fraction": test_fraction, "test_start": split.test_start, "runs": {}}
    for run in runs:
        rec = Recommender.from_run(run, use_lm=False)
        added = len(rec.add_items(dataset.catalog))
        results = evaluate_systems(split, build_systems(rec, only=SYSTEMS), config=config)
        rows = {}
        for r in results.results:
            for metric in ("HR@5", "Recall@10", "Recall@50"):
                if metric in r.summary:
                    rows.setdefault(r.system, {})[metric] = r.summary[metric].as_dict()
            for status, summary in r.extra.get("by_positive_status", {}).items():
                if summary:  # HR@5 of the lists whose positive is seen / cold
                    rows[r.system][f"HR@5 {status}"] = summary
        for c in results.comparisons:
            if c["other"] == "text_cosine" and c["metric"] in ("HR@5", "Recall@50"):
                rows["eccr"][c["metric"]]["p_vs_text_cosine"] = c["p_value"]
        seen_share = next((r.extra["positive_seen_share"] for r in results.results if r.protocol == "eccr"), None)
        report["runs"][run] = {"systems": rows, "lists": results.info.get("eccr_pairs"), "positive_seen_share": seen_share,
                               "items_added": added}
        for system, metrics in rows.items():
            print(run, system, {m: round(v["mean"], 3) for m, v in metrics.items()}, flush=True)
    Path(f"{out}.json").write_text(json.dumps(report, indent=1) + "\n")
    Path(f"{out}.md").write_text(markdown(report))
    return report


def markdown(report: dict) -> str:
    lines = [f"Last {report['test_fraction']:.0%} of {report['data']} (seen = bought in any earlier session)", "",
             "| run | system | HR@5 | HR@5 seen / cold | Recall@10 | Recall@50 |", "|---|---|---|---|---|---|"]
    for run, body in report["runs"].items():
        for system, metrics in body["systems"].items():
            cells = [f"{metrics[m]['mean']:.3f} [{metrics[m]['ci_low']:.3f}, {metrics[m]['ci_high']:.3f}]"
                     if m in metrics else "–" for m in ("HR@5", "Recall@10", "Recall@50")]
            status = " / ".join(f"{metrics[m]['mean']:.3f}" if m in metrics else "–" for m in ("HR@5 seen", "HR@5 cold"))
            lines.append(f"| {run} | {system} | {cells[0]} | {status} | " + " | ".join(cells[1:]) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cut = commands.add_parser("truncate", help="a bundle-intent folder without its last sessions")
    cut.add_argument("data")
    cut.add_argument("out")
    cut.add_argument("--test-fraction", type=float, default=0.2)
    cut.add_argument("--known-items-only", action="store_true",
                     help="keep only the items bought before the cutoff in the catalogue files")
    score = commands.add_parser("evaluate", help="runs on the last sessions of the full data")
    score.add_argument("data")
    score.add_argument("runs", nargs="+")
    score.add_argument("--out", required=True, help="path prefix of the .json / .md / _lists.json written")
    score.add_argument("--test-fraction", type=float, default=0.2)
    args = parser.parse_args()
    if args.command == "truncate":
        print(truncate(args.data, args.out, args.test_fraction, args.known_items_only))
    else:
        evaluate(args.data, args.runs, args.out, args.test_fraction)


if __name__ == "__main__":
    main()
