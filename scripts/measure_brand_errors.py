"""Share of top-k recommendations for branded devices that are accessories made for another brand, model or mount.

    .venv/bin/python scripts/measure_brand_errors.py --run runs/electronic_coh \
        --data ../shared/data/amazon_bundle_intents/electronic

"An accessory made for a brand or model the query is not (a Nikon battery for a Canon camera) is a coherence
error." An error is a (query → item) pair that eccr.coherence.pair_flags calls `incompatible` (the item's
"for …" phrase names another brand, only other models of the query's brand, or another lens mount).

Queries are devices of a known brand: eccr.coherence.looks_like_device (its leaf category names a device —
cameras, camcorders, phones, tablets, laptops, desktops, consoles, headphones, headsets, TVs, monitors, printers,
projectors, players, e-readers, GPS — or, for items without a category, the head of its title does), no
compatibility phrase of their own, and a brand from the extractor (brand column or title-initial brand word,
or a product line such as iPad -> Apple) that is not a category word ("Digital", "Car"). They are the query
items of the test part of the temporal split (`temporal_split(ds, 0.1, 0.2)`, bundle queries of its test part);
with fewer than --min-queries of them, every such device of the catalogue is a query instead (the report says so).

Because the product demotes what that rule flags, every pair is also judged by a second, independent rule written
for this script only (`IndependentCheck`, no code shared with eccr.coherence): the item's "for / compatible with /
fits / replacement for …" phrase names device brands or product lines from a hand-written list (iPhone -> Apple)
and none of them is named in the query's title. Both shares are reported.

Per system ("eccr"; "eccr-no-flag", eccr whose blend ignores the `incompatible` feature and does not demote the
items it flags, since the product uses the very flag measured here; "text-cosine"; "co-occurrence") the share of the top-k items that are errors, beside two
references: the shoppers' own bundle partners of device items (every bundle of the dataset: each branded device
in a bundle and each other titled item of that bundle), and k random titled items per query (seeded). Writes
brand_errors.json and brand_errors.png to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import ClassVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eccr.coherence import AttributeExtractor, pair_flags
from eccr.data.load import load_dataset
from eccr.data.splits import heldout_queries, temporal_split

SYSTEMS = ("eccr", "eccr-no-flag", "text-cosine", "co-occurrence")
# "eccr-no-flag" is eccr with the blend weight of the `incompatible` feature set to 0 and no demotion: the product
# uses the very flag measured here, so "eccr" alone would partly measure the detector against itself.


def error_kind(evidence: list[str]) -> str:
    """Which rule flagged the pair: another model, another lens mount, or another brand / product line."""
    against = [e for e in evidence if ", not " in e]
    if not against:
        return ""
    if against[0].endswith("not this model"):
        return "model"
    return "mount" if " mount, not " in against[0] else "brand"


def branded_devices(extractor: AttributeExtractor, rows: dict[str, dict], ids) -> list[str]:
    """The ids that are devices (category, else title) with a known, non-generic brand."""
    out = []
    for i in ids:
        row = rows.get(i)
        if not row or not row.get("title") or not extractor.is_device(i, row["title"], tuple(row["category"])):
            continue
        if extractor.brands_of(i, row["title"]) - extractor.generic_words:
            out.append(i)
    return out


class IndependentCheck:
    """The second rule: an accessory whose "for …" phrase (up to 10 words; phrases that also say "Android",
    "universal", "all", "most", "other", "devices" are taken as universal) names device brands or product lines,
    none of them named in the query's title.

    Its brand list is written here by hand (device makers and the product lines that name them); the electronic
    data has no brand column, and eccr.coherence learns its brands from titles, so the two rules share nothing."""

    PHRASE = re.compile(r"\b(?:for|compatible with|fits|replacement for|designed for)\s+((?:[\w&+./-]+[\s,]*){1,10})",
                        re.IGNORECASE)
    UNIVERSAL: ClassVar[set[str]] = {"android", "universal", "all", "most", "other", "devices", "smartphones"}
    LINES: ClassVar[dict[str, str]] = {"iphone": "apple", "ipad": "apple", "ipod": "apple", "macbook": "apple", "imac": "apple",
             "galaxy": "samsung", "kindle": "amazon", "surface": "microsoft", "xbox": "microsoft",
             "playstation": "sony", "ps3": "sony", "ps4": "sony", "psp": "sony", "vita": "sony", "wii": "nintendo",
             "3ds": "nintendo", "ds": "nintendo", "lumia": "nokia", "nexus": "google", "pixel": "google",
             "chromebook": "google", "gopro": "gopro", "hero3": "gopro", "hero4": "gopro", "powershot": "canon",
             "eos": "canon", "coolpix": "nikon", "cyber-shot": "sony", "handycam": "sony", "lumix": "panasonic",
             "finepix": "fujifilm", "thinkpad": "lenovo", "ideapad": "lenovo", "pavilion": "hp", "envy": "hp",
             "inspiron": "dell", "xps": "dell", "latitude": "dell", "nook": "barnes", "droid": "motorola"}
    BRANDS: ClassVar[set[str]] = {"apple", "samsung", "canon", "nikon", "sony", "gopro", "panasonic", "olympus", "fujifilm", "fuji",
              "pentax", "kodak", "leica", "lg", "motorola", "htc", "nokia", "blackberry", "google", "microsoft",
              "dell", "hp", "lenovo", "asus", "acer", "toshiba", "amazon", "garmin", "tomtom", "nintendo", "bose",
              "beats", "jbl", "plantronics", "logitech", "epson", "brother", "lexmark", "vizio", "sharp", "philips",
              "sennheiser", "jabra", "fitbit", "polaroid", "casio", "barnes", "huawei", "zte", "alcatel", "kyocera"}

    def _brands_in(self, text: str) -> set[str]:
        words = re.findall(r"[\w+-]+", text.lower())
        return {w for w in words if w in self.BRANDS} | {self.LINES[w] for w in words if w in self.LINES}

    def is_error(self, query: dict, item: dict) -> bool:
        named = set()
        for phrase in self.PHRASE.findall(str(item.get("title") or "")):
            if not self.UNIVERSAL & set(re.findall(r"[\w+-]+", phrase.lower())):
                named |= self._brands_in(phrase)
        return bool(named) and not (named & self._brands_in(str(query.get("title") or "")))


class Tally:
    independent: IndependentCheck | None = None

    def __init__(self) -> None:
        self.pairs = self.errors = self.queries = self.queries_with_error = self.independent_errors = 0
        self.kinds: Counter = Counter()
        self.examples: list[dict] = []
        self.independent_examples: list[dict] = []

    def add_query(self, query: dict, items: list[dict], extractor: AttributeExtractor, keep_examples: int) -> None:
        self.queries += 1
        hit = False
        for item in items:
            flags = pair_flags(query, item, extractor)
            self.pairs += 1
            if self.independent and self.independent.is_error(query, item):
                self.independent_errors += 1
                if len(self.independent_examples) < keep_examples:
                    self.independent_examples.append({"query": query["title"][:90], "item": item["title"][:110]})
            if flags.incompatible:
                hit = True
                self.errors += 1
                self.kinds[error_kind(flags.evidence)] += 1
                if len(self.examples) < keep_examples:
                    self.examples.append({"query": query["title"][:90], "item": item["title"][:110],
                                          "evidence": [e for e in flags.evidence if ", not " in e]})
        self.queries_with_error += hit

    def summary(self) -> dict:
        return {"queries": self.queries, "pairs": self.pairs, "errors": self.errors,
                "share": round(self.errors / self.pairs, 4) if self.pairs else None,
                "queries_with_an_error": self.queries_with_error,
                "independent_errors": self.independent_errors,
                "independent_share": round(self.independent_errors / self.pairs, 4) if self.pairs else None,
                "independent_examples": self.independent_examples,
                "by_rule": dict(self.kinds), "examples": self.examples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a trained run directory (eccr train --out …)")
    parser.add_argument("--data", required=True, help="the dataset the run was trained on")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--min-queries", type=int, default=30,
                        help="fewer test-part device queries than this: use every catalogue device")
    parser.add_argument("--max-queries", type=int, default=0, help="cap on queries (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=5, help="flagged pairs kept per system in the JSON")
    parser.add_argument("--out", default="runs/bench/")
    args = parser.parse_args()

    from eccr.pipeline import Recommender, RecommenderConfig

    t0 = time.perf_counter()
    ds = load_dataset(args.data)
    rec = Recommender(args.run, RecommenderConfig(use_lm=False))
    extractor = rec.extractor
    rows = {i: rec.item_row(i) for i in rec.titled}
    Tally.independent = IndependentCheck()

    split = temporal_split(ds, 0.1, 0.2)
    test_queries = list(dict.fromkeys(heldout_queries(split.test, seed=args.seed)["query"]))
    queries = branded_devices(extractor, rows, test_queries)
    source = f"test part of the temporal split: {len(queries)} of {len(test_queries)} bundle queries are branded devices"
    if len(queries) < args.min_queries:
        fallback = branded_devices(extractor, rows, rec.titled)
        source += (f" (< {args.min_queries}), so every branded device of the catalogue is a query instead: "
                   f"{len(fallback)}")
        queries = fallback
    if args.max_queries:
        queries = random.Random(args.seed).sample(queries, min(args.max_queries, len(queries)))
    print(f"queries: {source}; using {len(queries)}")

    results: dict[str, dict] = {}
    for system in [s for s in args.systems.split(",") if s]:
        tally, t = Tally(), time.perf_counter()
        weights, demote = rec.blend.weights, rec.config.demote_incompatible
        if system == "eccr-no-flag":
            rec.blend.weights = {**weights, "incompatible": 0.0}
            rec.config.demote_incompatible = False
        try:
            for q in queries:
                recommendation = rec.recommend(q, k=args.k, explain=False, system=system.removesuffix("-no-flag"))
                tally.add_query(rows[q], [rows[i.item_id] for i in recommendation.items], extractor, args.examples)
        finally:
            rec.blend.weights, rec.config.demote_incompatible = weights, demote
        results[system] = {**tally.summary(), "seconds": round(time.perf_counter() - t, 1),
                           **({"blend_weight_incompatible": weights.get("incompatible")} if system == "eccr" else {})}

    # reference 1: what shoppers bundled with branded devices (every bundle of the dataset)
    bundles = ds.bundles.rows.groupby("bundle_id")["item_id"].apply(lambda s: list(dict.fromkeys(s)))
    device_set = set(branded_devices(extractor, rows, {i for items in bundles for i in items}))
    tally = Tally()
    for items in bundles:
        for d in items:
            if d in device_set:
                tally.add_query(rows[d], [rows[i] for i in items if i != d and i in rows], extractor, args.examples)
    results["shoppers' bundles"] = tally.summary()

    # reference 2: k random titled items per query
    rng, tally = random.Random(args.seed), Tally()
    for q in queries:
        pool = rng.sample(rec.titled, args.k + 1)
        tally.add_query(rows[q], [rows[i] for i in pool if i != q][: args.k], extractor, args.examples)
    results["random items"] = tally.summary()

    print(f"\nshare of (query device -> item) pairs flagged incompatible, top {args.k}")
    print(f"{'':<20} {'queries':>8} {'pairs':>7} {'errors':>7} {'share':>7} {'independent':>12} "
          f"{'queries with >=1':>17}  by rule")
    for name, r in results.items():
        share = f"{100 * r['share']:.1f}%" if r["share"] is not None else "-"
        independent = f"{100 * r['independent_share']:.1f}%" if r["independent_share"] is not None else "-"
        print(f"{name:<20} {r['queries']:>8} {r['pairs']:>7} {r['errors']:>7} {share:>7} {independent:>12} "
              f"{r['queries_with_an_error']:>17}  {r['by_rule']}")
    for name in [s for s in results if results[s]["examples"]][:1]:
        print(f"\nexamples ({name}):")
        for e in results[name]["examples"]:
            print(f"  {e['query'][:60]}  ->  {e['item'][:70]}  {e['evidence']}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"data": args.data, "run": args.run, "k": args.k, "seed": args.seed, "queries": len(queries),
              "query_source": source, "results": results, "seconds": round(time.perf_counter() - t0, 1)}
    (out / "brand_errors.json").write_text(json.dumps(report, indent=1))
    _plot(results, args.k, out / "brand_errors.png")
    print(f"\nwrote {out / 'brand_errors.json'} and {out / 'brand_errors.png'}")


def _plot(results: dict[str, dict], k: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, r in results.items() if r["share"] is not None]
    shares = [100 * results[n]["share"] for n in names]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    colors = {"shoppers' bundles": "#7a9a5a", "random items": "#999999"}
    bars = ax.bar(names, shares, color=[colors.get(n, "#3b6ea8") for n in names])
    for bar, n in zip(bars, names):
        ax.annotate(f"{results[n]['errors']}/{results[n]['pairs']}", (bar.get_x() + bar.get_width() / 2,
                    bar.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("% flagged incompatible")
    ax.set_title(f"Accessories for another brand/model/mount in the top {k} for branded devices", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
