"""How often each coherence flag fires on real bundle pairs vs pairs bought together but not bundled.

    .venv/bin/python scripts/measure_coherence.py --data ../shared/data/amazon_bundle_intents/electronic

A flag that separates the two kinds of pair is evidence the blend can use; one that fires equally on both is
noise. Pairs and flags come from eccr.coherence.labelled_pairs (every ordered pair of titled items sharing a
session); `same leaf` is the share whose two items have the same leaf category. Prints a table and writes
coherence_flags.json to --out.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from eccr.coherence import labelled_pairs
from eccr.data.load import load_dataset

FLAGS = ("relevant", "compatible", "incompatible", "substitute", "coherent", "same_leaf")


def flag_rates(pairs: pd.DataFrame, leaf: dict[str, str]) -> dict[str, dict[str, float]]:
    pairs = pairs.assign(same_leaf=[bool(leaf.get(a)) and leaf.get(a) == leaf.get(b)
                                    for a, b in zip(pairs["source"], pairs["target"])])
    groups = {"bundle pairs": pairs[pairs["complementary"]], "co-bought, not bundled": pairs[pairs["co_bought_incoherent"]]}
    return {name: {"pairs": int(len(g)), **{f: round(float(g[f].mean()), 4) if len(g) else None for f in FLAGS}}
            for name, g in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a dataset eccr can load (folder, file or spec)")
    parser.add_argument("--out", default="runs/bench/", help="folder for coherence_flags.json")
    args = parser.parse_args()
    ds = load_dataset(args.data)
    leaf = {r.item_id: (list(r.category) or [""])[-1] for r in ds.catalog.items.itertuples(index=False)}
    rates = flag_rates(labelled_pairs(ds), leaf)
    print(f"{ds.name}: share of pairs with each flag")
    print(f"{'':<24} {'pairs':>7} " + " ".join(f"{f:>12}" for f in FLAGS))
    for name, r in rates.items():
        print(f"{name:<24} {r['pairs']:>7} " + " ".join(f"{r[f]:>12}" for f in FLAGS))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "coherence_flags.json").write_text(json.dumps({"data": args.data, "rates": rates}, indent=1))


if __name__ == "__main__":
    main()
