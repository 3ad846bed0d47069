"""Do the coherence flags agree with what the demo catalogue says fits? Counts over every pair of a kind.

    .venv/bin/python scripts/measure_demo_flags.py          # about 20 s

The embedded demo catalogue states which accessory fits which device (its `fits` column; `DemoCatalog.is_compatible`
also makes two accessories of one device fit each other). The product never reads that column, so it can check the
title-only flags of eccr.coherence.pair_flags:

- device × accessory with a compatibility phrase: `incompatible` on a pair that fits is a false alarm;
- accessory × accessory, both with a phrase (rival makers, other models of one line);
- device × accessory whose phrase gives screen sizes: fits and misfits claimed from sizes ("fits 55-inch",
  "made for 17-42 inch, not 65-inch") against the catalogue.

`tests/test_coherence.py` asserts bounds on the same counts. Prints a table and writes demo_flags.json to --out.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from eccr.coherence import AttributeExtractor, compatibility_phrase, pair_flags, size_ranges
from eccr.data.demo import read_demo_catalog


def agreement(demo, kinds: tuple[str, ...] = ("device x accessory", "accessory x accessory", "device x sized")
              ) -> dict[str, dict[str, int]]:
    """Per kind of pair: pairs, and among them flagged incompatible where the catalogue says they fit (false
    alarms) or do not (caught), not flagged where they do not fit (missed), and — from sizes only — fits and misfits
    claimed that the catalogue confirms or contradicts."""
    extractor = AttributeExtractor(demo.catalog())
    items = demo.items.set_index("item_id")
    rows = {i: {"item_id": i, **r} for i, r in items[["title", "category", "brand", "text"]].to_dict("index").items()}
    devices = list(items.index[items["role"] == "device"])
    phrased = [i for i in items.index[items["role"] == "accessory"] if compatibility_phrase(items.at[i, "title"])]
    sized = [i for i in phrased if size_ranges(compatibility_phrase(items.at[i, "title"]))]
    pairs = {"device x accessory": [(d, a) for a in phrased for d in devices],
             "accessory x accessory": [(a, b) for n, a in enumerate(phrased) for b in phrased[n + 1:]],
             "device x sized": [(d, a) for a in sized for d in devices]}
    out = {}
    for kind in kinds:
        counts = dict.fromkeys(("pairs", "false_alarms", "caught", "missed", "size_fits_right", "size_misfits_right",
                                "size_claims_wrong"), 0)
        for a, b in pairs[kind]:
            flags = pair_flags(rows[a], rows[b], extractor)
            fits = demo.is_compatible(demo.position_of[a], demo.position_of[b])
            counts["pairs"] += 1
            counts["false_alarms"] += flags.incompatible and fits
            counts["caught"] += flags.incompatible and not fits
            counts["missed"] += not flags.incompatible and not fits
            if kind == "device x sized" and any("inch" in e for e in flags.evidence):
                right = flags.compatible == fits and flags.incompatible != fits
                counts["size_fits_right" if fits else "size_misfits_right"] += right
                counts["size_claims_wrong"] += not right
        out[kind] = counts
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/results/demo_flags"))
    args = parser.parse_args()
    table = agreement(read_demo_catalog())
    print(f"{'pairs of the demo':22} {'pairs':>7} {'false alarms':>13} {'caught':>7} {'missed':>7} {'caught %':>9} "
          f"{'size claims: fits / misfits right, wrong':>41}")
    for kind, c in table.items():
        share = c["caught"] / max(c["caught"] + c["missed"], 1)
        print(f"{kind:22} {c['pairs']:7d} {c['false_alarms']:13d} {c['caught']:7d} {c['missed']:7d} {share:9.1%} "
              f"{c['size_fits_right']:>24d} / {c['size_misfits_right']}, {c['size_claims_wrong']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "demo_flags.json").write_text(json.dumps(table, indent=1))
    print(f"wrote {args.out / 'demo_flags.json'}")


if __name__ == "__main__":
    main()
