"""The `eccr` command line: data → train → evaluate → recommend → explain → human-eval → demo."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model hub: weights come from packages or local folders
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _cmd_data_stats(args: argparse.Namespace) -> int:
    from eccr.data.load import load_dataset
    from eccr.data.stats import dataset_stats, format_stats

    stats = dataset_stats(load_dataset(args.data))
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from eccr.data.synth import generate_synthetic, write_dataset_parquet

    ds = generate_synthetic(args.items, args.users, seed=args.seed)
    out = write_dataset_parquet(ds, args.out)
    print(f"wrote {len(ds.catalog):,} items and {len(ds.behaviour):,} interactions to {out}")
    return 0


def _cmd_human_eval_export(args: argparse.Namespace) -> int:
    from eccr.serve.human_eval import export_human_eval

    systems = {}
    for spec in args.system:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"eccr: --system expects NAME=FILE, got {spec!r}")
        systems[name] = path
    paths = export_human_eval(systems, args.out, n_queries=args.queries, top_k=args.top_k, seed=args.seed)
    print(f"rater files: {Path(paths.ratings_csv).parent}  (give raters this folder only)")
    print(f"key (keep away from raters): {paths.key}")
    return 0


def _cmd_human_eval_import(args: argparse.Namespace) -> int:
    from eccr.serve.human_eval import import_human_eval, summary_markdown

    summary = import_human_eval(args.answers, args.key, args.out, seed=args.seed)
    print(summary_markdown(summary))
    print(f"report written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eccr", description="Explainable, coherent complement recommendation.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    data = commands.add_parser("data", help="inspect and generate datasets")
    data_cmds = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    stats = data_cmds.add_parser("stats", help="summary of a dataset: items, users, sessions, bundles, drops")
    stats.add_argument("--data", required=True, help="'demo', a dataset folder/file, or a generic spec")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(func=_cmd_data_stats)
    synth = data_cmds.add_parser("synth", help="synthetic dataset of any size (same schema) for scale tests")
    synth.add_argument("--items", type=int, required=True)
    synth.add_argument("--users", type=int, required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", required=True, help="output folder (Parquet files; load with --data FOLDER)")
    synth.set_defaults(func=_cmd_data_synth)

    human = commands.add_parser("human-eval", help="blinded human evaluation: export sheets, import ratings")
    human_cmds = human.add_subparsers(dest="human_command", metavar="HUMAN_EVAL_COMMAND")
    export = human_cmds.add_parser("export", help="blinded, shuffled rating sheets from 2+ systems' answers")
    export.add_argument("--system", action="append", required=True, metavar="NAME=FILE",
                        help="a system's answers (JSON lines from `eccr explain`); give 2 or more")
    export.add_argument("--out", required=True, help="output folder (for_raters/ + key.json)")
    export.add_argument("--queries", type=int, default=50, help="queries to sample (default 50)")
    export.add_argument("--top-k", type=int, default=1, help="recommendations per system and query (default 1)")
    export.add_argument("--seed", type=int, default=0)
    export.set_defaults(func=_cmd_human_eval_export)
    imp = human_cmds.add_parser("import", help="validate filled sheets, un-blind, report coherent rates")
    imp.add_argument("answers", nargs="+", help="filled CSVs and/or Label Studio JSON exports, one per rater")
    imp.add_argument("--key", required=True, help="key.json written by export")
    imp.add_argument("--out", required=True, help="report folder (summary.json, summary.md, summary.png)")
    imp.add_argument("--seed", type=int, default=0)
    imp.set_defaults(func=_cmd_human_eval_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        # a group without its sub-command: show that group's help
        sub = args.command if args.command in ("data", "human-eval") else None
        parser.parse_args(([sub] if sub else []) + ["--help"])
        return 2
    from eccr.data.schema import DataError

    try:
        return int(args.func(args) or 0)
    except DataError as err:
        print(f"eccr: data error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("eccr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
