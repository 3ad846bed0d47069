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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        # a group without its sub-command: show that group's help
        sub = {"data": "data"}.get(args.command or "")
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
