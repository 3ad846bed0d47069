"""Benchmark the synthetic generator: time and peak memory from 10k to 1M items / 100k to 10M interactions.

Each size runs in its own subprocess so that its peak RSS is its own. Stages measured:
  tables   synthetic_tables(): compact frames (categorical ids)
  dataset  wrapping them in the schema's Dataset (ids become pandas strings, Behaviour sorts by time)
  write    write_dataset_parquet()
  read     read_dataset_parquet()
Wall seconds (`_s`) depend on what else runs on the machine; `_cpu_s` columns are this process's CPU seconds.
Prints a table, writes results.json and bench_synth.png to --out (default runs/bench/).

    python scripts/bench_synth.py                         # 10k/100k, 100k/1M, 1M/10M (a few minutes)
    python scripts/bench_synth.py --sizes 10000x10000     # items x users; interactions = 10 per user
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SIZES = "10000x10000,100000x100000,1000000x1000000"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _frame_mib(frame) -> float:
    return float(frame.memory_usage(deep=True).sum()) / 2**20


def measure_one(n_items: int, n_users: int, seed: int, read_back: bool) -> dict:
    from eccr.data.schema import BEHAVIOUR_COLUMNS, CATALOG_COLUMNS, Behaviour, Bundles, Catalog, Dataset
    from eccr.data.synth import read_dataset_parquet, synthetic_tables, write_dataset_parquet

    row: dict = {"items": n_items, "users": n_users, "baseline_mib": round(_peak_mib())}
    started, cpu = time.perf_counter(), time.process_time()
    tables = synthetic_tables(n_items, n_users, seed)
    row["tables_s"] = time.perf_counter() - started
    row["tables_cpu_s"] = time.process_time() - cpu  # CPU seconds: unaffected by other load on the machine
    row["tables_peak_mib"] = _peak_mib()
    row["interactions"] = len(tables.behaviour)
    row["bundles"] = int(tables.bundles["bundle_id"].nunique())
    row["compact_behaviour_mib"] = _frame_mib(tables.behaviour.loc[:, list(BEHAVIOUR_COLUMNS)])

    started, cpu = time.perf_counter(), time.process_time()
    ds = Dataset(name="bench", catalog=Catalog(tables.catalog.loc[:, list(CATALOG_COLUMNS)]),
                 behaviour=Behaviour(tables.behaviour.loc[:, list(BEHAVIOUR_COLUMNS)]),
                 bundles=Bundles(tables.bundles))
    row["dataset_s"] = time.perf_counter() - started
    row["dataset_cpu_s"] = time.process_time() - cpu
    row["dataset_peak_mib"] = _peak_mib()
    row["schema_behaviour_mib"] = _frame_mib(ds.behaviour.events)
    del tables

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        write_dataset_parquet(ds, tmp)
        row["write_s"] = time.perf_counter() - started
        row["parquet_mib"] = sum(p.stat().st_size for p in Path(tmp).glob("*.parquet")) / 2**20
        if read_back:
            del ds
            started = time.perf_counter()
            back = read_dataset_parquet(tmp)
            row["read_s"] = time.perf_counter() - started
            assert len(back.behaviour) == row["interactions"]
    row["peak_mib"] = _peak_mib()
    return row


def _print_table(rows: list[dict]) -> None:
    header = ("items", "users", "interactions", "tables_s", "tables_cpu_s", "dataset_s", "dataset_cpu_s", "write_s", "read_s", "tables_peak_mib",
              "peak_mib", "compact_behaviour_mib", "schema_behaviour_mib", "parquet_mib")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for r in rows:
        print(" | ".join(f"{r.get(h, float('nan')):.1f}" if isinstance(r.get(h), float) else str(r.get(h, "-"))
                         for h in header))


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["interactions"] for r in rows]
    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("tables_s", "generate (compact)"), ("dataset_s", "to schema Dataset"),
                       ("write_s", "write Parquet"), ("read_s", "read Parquet")):
        if all(key in r for r in rows):
            ax_time.plot(x, [r[key] for r in rows], marker="o", label=label)
    ax_time.set(xscale="log", yscale="log", xlabel="interactions", ylabel="seconds", title="time")
    ax_time.legend()
    for key, label in (("tables_peak_mib", "peak RSS after generate"), ("peak_mib", "peak RSS overall"),
                       ("compact_behaviour_mib", "behaviour frame, categorical"),
                       ("schema_behaviour_mib", "behaviour frame, schema strings")):
        ax_mem.plot(x, [r[key] for r in rows], marker="o", label=label)
    ax_mem.set(xscale="log", yscale="log", xlabel="interactions", ylabel="MiB", title="memory")
    ax_mem.legend(fontsize=8)
    fig.suptitle("eccr synthetic generator (10 purchases per user)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated ITEMSxUSERS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench", help="folder for results.json and bench_synth.png")
    parser.add_argument("--no-read", action="store_true", help="skip reading the Parquet files back")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode: one size, JSON on stdout
    args = parser.parse_args(argv)

    if args.one:
        n_items, n_users = (int(v) for v in args.one.lower().split("x"))
        print(json.dumps(measure_one(n_items, n_users, args.seed, not args.no_read)))
        return 0
    rows = []
    for size in args.sizes.split(","):
        command = [sys.executable, __file__, "--one", size, "--seed", str(args.seed)] + \
                  (["--no-read"] if args.no_read else [])
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"size {size} failed:\n{done.stderr}", file=sys.stderr)
            return 1
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"done {size}: {rows[-1]['tables_s']:.1f} s to generate, peak {rows[-1]['peak_mib']:.0f} MiB",
              file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    _print_table(rows)
    _plot(rows, out / "bench_synth.png")
    print(f"wrote {out / 'results.json'} and {out / 'bench_synth.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
