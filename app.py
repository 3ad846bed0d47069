"""The eccr Gradio demo for one trained run: `python app.py --run runs/demo [--host 127.0.0.1] [--port 7860]`.

Thin on purpose: the page is built by eccr.serve.ui.build_demo from the same Recommender the CLI uses.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_RUN = Path("runs/demo")
HOW_TO_TRAIN = ("Train one first:\n"
                "    make demo\n"
                "or\n"
                "    eccr train --data demo --out runs/demo --quick\n"
                "then run: python app.py --run runs/demo")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="eccr demo: explainable, coherent complement recommendation")
    parser.add_argument("--run", type=Path, default=None,
                        help=f"trained run directory (default: {DEFAULT_RUN} if it exists)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0 to share on the network)")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on")
    parser.add_argument("--max-per-type", type=int, default=2,
                        help="at most this many recommendations of one product type before other types (0 = off)")
    return parser.parse_args(argv)


def find_run(requested: Path | None) -> Path | None:
    if requested is not None:
        return requested if requested.is_dir() else None
    for candidate in (DEFAULT_RUN, Path(__file__).resolve().parent / DEFAULT_RUN):
        if candidate.is_dir():
            return candidate
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    run_dir = find_run(args.run)
    if run_dir is None:
        where = f"{args.run} does not exist or is not a directory" if args.run else f"no run given and no {DEFAULT_RUN}"
        print(f"eccr demo: no trained run ({where}).\n{HOW_TO_TRAIN}", file=sys.stderr)
        return 2
    try:
        from eccr.pipeline import Recommender  # lazy: torch and the models load only when there is a run
        recommender = Recommender.from_run(run_dir, max_per_type=args.max_per_type)
    except Exception as exc:  # noqa: BLE001 - one readable line instead of a traceback
        print(f"eccr demo: could not load the run {run_dir}: {type(exc).__name__}: {exc}\n{HOW_TO_TRAIN}",
              file=sys.stderr)
        return 2
    from eccr.serve.ui import build_demo

    print(f"eccr demo: serving {run_dir} on http://{args.host}:{args.port}", flush=True)
    build_demo(recommender).launch(server_name=args.host, server_port=args.port, show_error=False, quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
