"""How often each coherence flag fires on real bundle pairs vs pairs bought together but not bundled vs random pairs.

    .venv/bin/python scripts/measure_coherence.py --data ../shared/data/amazon_bundle_intents/electronic

A flag that separates the kinds of pair is evidence the blend can use; one that fires equally on all is noise.
Session pairs and their flags come from eccr.coherence.labelled_pairs (every ordered pair of titled items sharing a
session); random pairs are `--random-pairs` ordered pairs of distinct titled catalogue items (seeded), flagged the
same way. `same leaf` is the share whose two items have the same leaf category. Prints a table and writes
coherence_flags.json to --out.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from eccr.coherence import AttributeExtractor, compatibility_phrase, labelled_pairs, pair_flags, size_ranges
from eccr.data.categories import leaf_category
from eccr.data.load import load_dataset

FLAGS = ("relevant", "compatible", "incompatible", "substitute", "coherent", "same_leaf")


def random_pairs(ds, extractor: AttributeExtractor, n: int, seed: int = 0) -> pd.DataFrame:
    """`n` ordered pairs of distinct titled items drawn uniformly (with replacement), flagged like session pairs."""
    titled = ds.catalog.items[ds.catalog.items["title"].str.len() > 0]
    rows = [r._asdict() for r in titled.itertuples(index=False)]
    if len(rows) < 2 or n <= 0:
        return pd.DataFrame(columns=["source", "target", "complementary", "co_bought_incoherent", *FLAGS[:-1]])
    rng = np.random.default_rng(seed)
    src = rng.integers(0, len(rows), n)
    dst = (src + rng.integers(1, len(rows), n)) % len(rows)  # never the item itself
    records = [{"source": rows[i]["item_id"], "target": rows[j]["item_id"], "complementary": False,
                "co_bought_incoherent": False, **pair_flags(rows[i], rows[j], extractor).as_dict()}
               for i, j in zip(src, dst)]
    return pd.DataFrame.from_records(records)


def flag_rates(pairs: pd.DataFrame, leaf: dict[str, str], random: pd.DataFrame | None = None
               ) -> dict[str, dict[str, float]]:
    def with_leaf(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(same_leaf=[bool(leaf.get(a)) and leaf.get(a) == leaf.get(b)
                                       for a, b in zip(frame["source"], frame["target"])])

    pairs = with_leaf(pairs)
    groups = {"bundle pairs": pairs[pairs["complementary"]], "co-bought, not bundled": pairs[pairs["co_bought_incoherent"]]}
    if random is not None and len(random):
        groups["random pairs"] = with_leaf(random)
    return {name: {"pairs": len(g), **{f: round(float(g[f].mean()), 4) if len(g) else None for f in FLAGS}}
            for name, g in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a dataset eccr can load (folder, file or spec)")
    parser.add_argument("--out", default="runs/bench/", help="folder for coherence_flags.json")
    parser.add_argument("--random-pairs", type=int, default=20000, help="random item pairs to flag (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ds = load_dataset(args.data)
    extractor = AttributeExtractor(ds.catalog)
    leaf = {r.item_id: leaf_category(r.category) for r in ds.catalog.items.itertuples(index=False)}
    rates = flag_rates(labelled_pairs(ds, extractor), leaf, random_pairs(ds, extractor, args.random_pairs, args.seed))
    print(f"{ds.name}: share of pairs with each flag")
    print(f"{'':<24} {'pairs':>7} " + " ".join(f"{f:>12}" for f in FLAGS))
    for name, r in rates.items():
        print(f"{name:<24} {r['pairs']:>7} " + " ".join(f"{r[f]:>12}" for f in FLAGS))
    sized = sum(bool(size_ranges(compatibility_phrase(t))) for t in ds.catalog.items["title"])
    print(f"titles whose compatibility phrase gives screen sizes (the screen-size rule can fire): {sized}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "coherence_flags.json").write_text(json.dumps({"data": args.data, "random_pairs": args.random_pairs,
                                                          "seed": args.seed, "rates": rates}, indent=1))


if __name__ == "__main__":
    main()
