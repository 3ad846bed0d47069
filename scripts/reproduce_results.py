"""Regenerate the README's results: in-domain and cross-domain, on the honest protocols, shipped ranking vs text cosine.

    .venv/bin/python scripts/reproduce_results.py            # trains what is missing, evaluates, prints the tables

For each domain of ../shared/data/amazon_bundle_intents (electronic, clothing) it runs the README's commands:
`eccr train --data DOMAIN --out runs/DOMAIN --no-lm --ranker.max_seconds 300` (stages whose output is current are kept),
`eccr evaluate --run runs/DOMAIN` (its own temporal split, test part) and, for each other domain,
`eccr evaluate --run runs/DOMAIN --data OTHER --protocols eccr retrieval` (a domain the run has never seen: its
items enter as cold items). Then it reads each report's metrics.json and prints one table: the shipped ranking
(`eccr`) against the run's own text cosine on ECCR HR@5 (ratio and paired-bootstrap p) and full-catalogue
Recall@50, with 95% intervals. Writes results.json and results.md to --out.

    .venv/bin/python scripts/reproduce_results.py --frozen-encoder   # the ablation: no tuned text encoder

The default runs fine-tune the text encoder for complements (eccr/represent/complement_encoder.py; blend feature
"tuned_cosine", used where it beats the frozen encoder on valid). `--frozen-encoder` uses runs/DOMAIN-frozen,
trained with `--complement_encoder.enabled false`, and writes results-frozen.*.

    .venv/bin/python scripts/reproduce_results.py --later-period   # also the later-period check (about 3 hours)

adds, per domain, the README's "Counted as a check on later data counts it", "Would training on the latest
sessions help?" and "Items the project never had" (scripts/measure_later_period.py: the truncated data, two runs
trained on it, and the later-period scores of those and of runs/DOMAIN, written to OUT/later_period-DOMAIN.{json,md};
a third run on a copy whose catalogue lacks the later items, scored beside the split run in
OUT/later_period_known-DOMAIN.{json,md}).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

DOMAINS = ("electronic", "clothing")
MAIN, BASELINE = "eccr", "text_cosine"


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def headline(metrics: dict, protocol: str, metric: str) -> dict[str, dict]:
    out = {}
    for r in metrics["results"]:
        if r["protocol"] == protocol and metric in r["summary"]:
            out[r["system"]] = r["summary"][metric]
    return out


def comparison(metrics: dict, protocol: str, metric: str, other: str) -> dict | None:
    return next((c for c in metrics["comparisons"] if c["protocol"] == protocol and c["metric"] == metric
                 and c["other"] == other), None)


def row(label: str, metrics: dict) -> dict:
    hr, recall = headline(metrics, "eccr", "HR@5"), headline(metrics, "retrieval", "Recall@50")
    cmp = comparison(metrics, "eccr", "HR@5", BASELINE) or {}
    return {"setting": label, "pairs": metrics["info"].get("eccr_pairs"),
            "eccr_hr5": hr.get(MAIN), "text_hr5": hr.get(BASELINE),
            "ratio": hr[MAIN]["mean"] / hr[BASELINE]["mean"] if hr.get(BASELINE, {}).get("mean") else None,
            "p_value": cmp.get("p_value"), "eccr_recall50": recall.get(MAIN), "text_recall50": recall.get(BASELINE),
            "best_hr5": max(hr, key=lambda s: hr[s]["mean"]) if hr else None}


def p_text(p: float | None) -> str:
    """Bootstrap p-values are multiples of 1/resamples: 0 means below that."""
    return "–" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3g}")


def cell(summary: dict | None) -> str:
    return "–" if not summary else f"{summary['mean']:.3f} [{summary['ci_low']:.3f}, {summary['ci_high']:.3f}]"


def later_period(eccr: list[str], data: Path, runs: Path, shipped: Path, out: Path, domain: str) -> None:
    """The README's later-period commands for one domain (each `eccr train` keeps stages that are current)."""
    script = str(Path(__file__).with_name("measure_later_period.py"))

    def copy(name: str, *flags: str) -> Path:  # the truncated data, made once
        folder = runs / "later" / name
        if not (folder / "TRUNCATED.json").exists():
            run([sys.executable, script, "truncate", str(data), str(folder), *flags])
        return folder

    def train(truncated: Path, name: str, *flags: str) -> Path:
        folder = runs / "later" / f"{domain}-{name}"
        run(eccr + ["train", "--data", str(truncated), "--out", str(folder), "--no-lm", "--ranker.max_seconds", "300",
                    "--ranker.progress", "false", "--complement_encoder.enabled", "false", *flags])
        return folder

    truncated = copy(f"{domain}-data")
    later = [train(truncated, "split"), train(truncated, "recent", "--data.test_fraction", "0.002")]
    run([sys.executable, script, "evaluate", str(data), *map(str, later), str(shipped),
         "--out", str(out / f"later_period-{domain}")])
    # items the project never had: the catalogue of the copy holds only the items bought before the cutoff
    known = train(copy(f"{domain}-known-data", "--known-items-only"), "known")
    run([sys.executable, script, "evaluate", str(data), str(known), str(later[0]),
         "--out", str(out / f"later_period_known-{domain}")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data/amazon_bundle_intents")
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--out", default="runs/results")
    parser.add_argument("--skip-evaluate", action="store_true", help="only read existing reports")
    parser.add_argument("--frozen-encoder", action="store_true",
                        help="runs without the tuned text encoder (runs/DOMAIN-frozen)")
    parser.add_argument("--later-period", action="store_true",
                        help="also the later-period check of scripts/measure_later_period.py (runs/later/)")
    args = parser.parse_args()
    suffix, extra = ("-frozen", ["--complement_encoder.enabled", "false"]) if args.frozen_encoder else ("", [])
    eccr = [sys.executable, "-m", "eccr.cli"]
    root, runs = Path(args.data_root), Path(args.runs)
    rows = []
    for domain in DOMAINS:
        run_dir = runs / f"{domain}{suffix}"
        if not args.skip_evaluate:  # stages whose output is current are kept; stale ones (e.g. blends) are refitted
            run(eccr + ["train", "--data", str(root / domain), "--out", str(run_dir), "--no-lm",
                        "--ranker.max_seconds", "300", "--ranker.progress", "false", *extra])
            run(eccr + ["evaluate", "--run", str(run_dir)])
        rows.append(row(f"{domain} (in-domain, test part)",
                        json.loads((run_dir / "report-test" / "metrics.json").read_text())))
        for other in DOMAINS:
            if other == domain:
                continue
            if not args.skip_evaluate:
                run(eccr + ["evaluate", "--run", str(run_dir), "--data", str(root / other),
                            "--protocols", "eccr", "retrieval"])
            report = run_dir / f"report-test-on-{other}" / "metrics.json"
            rows.append(row(f"{domain} → {other} (never seen)", json.loads(report.read_text())))
    if args.later_period:
        for domain in DOMAINS:
            later_period(eccr, root / domain, runs, runs / f"{domain}{suffix}", Path(args.out), domain)
    lines = [("| trained on → evaluated on | pairs | eccr HR@5 | text cosine HR@5 | ratio | p (paired) | "
              "eccr Recall@50 | text cosine Recall@50 |"), "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['pairs']} | {cell(r['eccr_hr5'])} | {cell(r['text_hr5'])} | "
                     f"{r['ratio']:.2f}× | {p_text(r['p_value'])} | "
                     f"{cell(r['eccr_recall50'])} | {cell(r['text_recall50'])} |")
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"results{suffix}.json").write_text(json.dumps(rows, indent=1))
    (out / f"results{suffix}.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
