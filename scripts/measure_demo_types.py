"""Do the demo's recommendations have the right types? Scored against the complement graph that generated the data.

    .venv/bin/python scripts/measure_demo_types.py --run runs/demo --out runs/results/demo_types

The embedded demo's shoppers are simulated from a directed graph over product types (eccr/data/demo/
complement_types.json: a camera calls for a battery, a memory card, a lens, a bag, a tripod) and from which
accessory fits which device (the catalogue's `fits` column). Neither is an input of the product, which learns from
the simulated baskets and the titles only, so they are the ground truth of what a demo query should get. For every
catalogue item as a query (or `--queries` of them, seeded), each system's top k (the demo's `max_per_type` 2) is
scored by:

- typed: the item's type is a complement type of the query's in the graph, either way (a battery for a camera, a
  camera for a battery), and not the query's own type;
- typed and fits: typed, and the two work together (`DemoCatalog.is_compatible`: an accessory lists the device, or
  fits a device the other accessory fits, or is universal);
- same type: a substitute (another camera for a camera);
- types: how many distinct types the top k holds (variety, which `max_per_type` asks for).

Queries are split by whether the query item was bought in the run's train part ("seen") or not ("cold": the later
months' new items, the common case), beside `k` random items per query (seeded). Also counts the queries by how
many of eccr's top k the demo's default `explain="reason_first"` asks the LM about (the cards whose grounded
template states no reason). Prints a table and writes demo_types.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eccr.coherence import PairFlags, template_states_reason
from eccr.data.demo import read_complement_graph, read_demo_catalog
from eccr.pipeline import Recommender, RecommenderConfig

SYSTEMS = ("eccr", "text-cosine", "co-occurrence")


def scores(demo, graph, query: int, items: list[int]) -> dict[str, float]:
    q_type = demo.types[query]
    typed = [demo.types[i] != q_type and (graph.weight(q_type, demo.types[i]) > 0 or graph.weight(demo.types[i], q_type) > 0)
             for i in items]
    return {"typed": sum(typed) / len(items),
            "typed_fits": sum(t and demo.is_compatible(query, i) for t, i in zip(typed, items)) / len(items),
            "same_type": sum(demo.types[i] == q_type for i in items) / len(items),
            "types": len({demo.types[i] for i in items})}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a run trained on the embedded demo (eccr train --data demo)")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--max-per-type", type=int, default=2, help="as the demo serves (0: the evaluation's order)")
    parser.add_argument("--type-margin", type=float, default=RecommenderConfig.type_margin,
                        help="RecommenderConfig.type_margin (inf: the cap alone decides)")
    parser.add_argument("--type-floor", type=float, default=RecommenderConfig.type_floor,
                        help="RecommenderConfig.type_floor")
    parser.add_argument("--queries", type=int, default=0, help="a seeded sample of this many queries (0: every item)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worst", type=int, default=0, help="also print this many queries with eccr's lowest typed+fits")
    parser.add_argument("--out", type=Path, default=Path("runs/results/demo_types"))
    args = parser.parse_args()
    demo, graph = read_demo_catalog(), read_complement_graph()
    rec = Recommender.from_pretrained(args.run, use_lm=False, max_per_type=args.max_per_type,
                                      type_margin=args.type_margin, type_floor=args.type_floor)
    known = set(rec.items.rows)
    ids = [i for i in demo.items["item_id"] if i in known]
    if len(ids) < len(demo.items) // 2:
        raise SystemExit(f"{args.run}: only {len(ids)} of the demo's {len(demo.items)} items; not a demo run?")
    rng = random.Random(args.seed)
    queries = sorted(rng.sample(ids, args.queries)) if 0 < args.queries < len(ids) else ids
    seen = {item for basket in rec.train_sequences for item in basket}
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    per_query: list[tuple[float, str, list[str]]] = []  # eccr's typed+fits, query, its top k
    lm_asked: Counter[int] = Counter()  # queries by how many of eccr's top k the LM writes for (explain="reason_first")
    for query in queries:
        q = demo.position_of[query]
        group = "seen" if query in seen else "cold"
        ranked = {system: rec.recommend(query, k=args.k, system=system, explain=False, judge=False).items
                  for system in SYSTEMS}
        picks = {system: [demo.position_of[r.item_id] for r in items] for system, items in ranked.items()}
        lm_asked[sum(not template_states_reason(rec.items.rows[query], rec.items.rows[r.item_id],
                                                PairFlags.from_dict(r.flags)) for r in ranked["eccr"])] += 1
        picks["random"] = [demo.position_of[i] for i in rng.sample([i for i in ids if i != query], args.k)]
        scored = {system: scores(demo, graph, q, items) for system, items in picks.items() if items}
        if "eccr" in scored:
            per_query.append((scored["eccr"]["typed_fits"], query, [r.item_id for r in ranked["eccr"]]))
        for system, cell in scored.items():
            for g in (group, "all"):
                rows.setdefault((system, g), []).append(cell)
    table = {f"{system}/{group}": {"queries": len(r), **{m: round(sum(x[m] for x in r) / len(r), 4) for m in r[0]}}
             for (system, group), r in sorted(rows.items())}
    print(f"run {args.run}; top {args.k}, max_per_type {args.max_per_type}; {len(queries)} queries "
          f"({sum(q in seen for q in queries)} seen in the train part)")
    print(f"{'system':14} {'queries':>8} {'typed':>7} {'typed+fits':>11} {'same type':>10} {'types':>6}")
    for group in ("all", "seen", "cold"):
        for system in (*SYSTEMS, "random"):
            cell = table.get(f"{system}/{group}")
            if cell:
                print(f"{system + ' ' + group:14} {cell['queries']:8d} {cell['typed']:7.3f} {cell['typed_fits']:11.3f} "
                      f"{cell['same_type']:10.3f} {cell['types']:6.2f}")
    print("queries by how many of eccr's top k the LM is asked about (explain='reason_first': the templates that "
          "state no reason): " + ", ".join(f"{n}: {lm_asked[n]}" for n in range(args.k + 1)))
    title = dict(zip(demo.items["item_id"], demo.items["title"]))
    for score, query, top in sorted(per_query)[:args.worst]:
        print(f"\n{score:.2f}  {title[query]} [{query}]" + "".join(f"\n      {title[i]}" for i in top))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "demo_types.json").write_text(json.dumps({"run": args.run, "k": args.k, "max_per_type": args.max_per_type,
                                                          "type_margin": str(args.type_margin),
                                                          "type_floor": str(args.type_floor),
                                                          "queries": len(queries), "table": table,
                                                          "lm_asked": {n: lm_asked[n] for n in range(args.k + 1)}},
                                                         indent=1))
    print(f"wrote {args.out / 'demo_types.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
