"""How the candidate pool's sources move full-catalogue recall: the retrieval protocol for `eccr` under pool settings.

    .venv/bin/python scripts/measure_pool_size.py --run runs/electronic --part valid \
        --settings full-fused content content:text_k=150 content:text_k=200 content:text_k=300 \
                   content:text_k=200:near_k=0

`eccr` ranks only its pool (`CandidateRanker.retrieve`: the directed index's top k, the fused neighbours, the text
neighbours, past co-purchases), so the pool decides which positives the full-catalogue protocol can find below the
top 10. A setting is a neighbour index and `PoolSize` overrides:

- `content`: the shipped fused neighbour index, over `eccr.represent.fuse.content_vectors` (text + directed blocks);
- `full-fused`: the index over the full fused vectors (behaviour block and the "never bought" flag included), as
  runs before 2026-12-05 had it, built here in memory: its neighbours lean to items of the query's seen status;
- `:k=N`, `:near_k=N`, `:text_k=N` override the pool's sources (`k` is the protocol's own 3·50 + removed otherwise).

The protocol asks `eccr` for one pool per seen/unseen stratum holding a positive (eccr/evaluate/protocols/
retrieval.py); `--one-pool` asks for one pool per query as the protocol did before 2026-12-05, where a pool that
leans to the positives' usual status reaches deeper into their stratum.

Choose on `--part valid`; test is for reporting. Prints a table (text cosine for reference) and writes
pool_size.json to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eccr.evaluate.config import RetrievalProtocolConfig
from eccr.evaluate.protocols.retrieval import run_retrieval_protocol
from eccr.evaluate.systems import build_systems
from eccr.pipeline import Recommender
from eccr.rank.candidates import PoolSize
from eccr.rank.retrieval import ItemIndex
from eccr.run import split_dataset

INDEXES = ("content", "full-fused")
_SIZE_FIELDS = {"k": "retrieve_k", "near_k": "retrieve_near_k", "text_k": "retrieve_text_k"}


def parse_setting(spec: str) -> tuple[str, dict[str, int]]:
    """"content:text_k=200:near_k=0" -> ("content", {"retrieve_text_k": 200, "retrieve_near_k": 0})."""
    index, *overrides = spec.split(":")
    if index not in INDEXES:
        raise ValueError(f"setting {spec!r}: the index must be one of {INDEXES}")
    out = {}
    for o in overrides:
        key, _, value = o.partition("=")
        if key not in _SIZE_FIELDS or not value.isdigit():
            raise ValueError(f"setting {spec!r}: {o!r} is not k=N, near_k=N or text_k=N")
        out[_SIZE_FIELDS[key]] = int(value)
    return index, out


class OnePool:
    """The system with `retrieve(query, k)` only, so the protocol cuts both strata from one pool."""

    def __init__(self, system):
        self.system = system

    def score_candidates(self, query, candidates, history=()):
        return self.system.score_candidates(query, candidates, history)

    def retrieve(self, query, k):
        return self.system.retrieve(query, k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--part", default="valid", choices=["valid", "test"])
    ap.add_argument("--settings", nargs="+", default=["full-fused", "content", "content:text_k=200"])
    ap.add_argument("--one-pool", action="store_true", help="one pool per query for both strata (the old protocol)")
    ap.add_argument("--out", default=None, help="default runs/results/pool_size-<run name>-<part>[-one-pool]")
    args = ap.parse_args()
    settings = [(spec, *parse_setting(spec)) for spec in args.settings]
    rec = Recommender.from_run(args.run, use_lm=False)
    _, split = split_dataset(rec.run_config)
    systems = build_systems(rec, with_lm=False)
    ranker = rec.candidates
    indexes = {"content": ranker.near_index,
               "full-fused": ItemIndex.build(ranker.fused, rec.run_config.retrieval)}
    columns = {"content": ranker.near_columns, "full-fused": np.arange(ranker.fused.dim)}  # the query side
    defaults = PoolSize()
    rows = []
    reference = run_retrieval_protocol(split, {"text_cosine": systems["text_cosine"]}, RetrievalProtocolConfig(),
                                       part=args.part)["text_cosine"]
    rows.append({"setting": "text cosine (whole catalogue)", **{m: s.mean for m, s in reference.summary.items()},
                 "top10_unseen": reference.extra["top_unseen_share"], "seconds": None})
    for spec, index, overrides in settings:
        rec.config.retrieve_near_k, rec.config.retrieve_text_k = defaults.near_k, defaults.text_k
        for field, value in overrides.items():
            setattr(rec.config, field, value)
        ranker.near_index, ranker.near_columns = indexes[index], columns[index]
        start = time.time()
        eccr = OnePool(systems["eccr"]) if args.one_pool else systems["eccr"]
        result = run_retrieval_protocol(split, {"eccr": eccr}, RetrievalProtocolConfig(),
                                        part=args.part)["eccr"]
        rows.append({"setting": spec, **{m: s.mean for m, s in result.summary.items()},
                     "top10_unseen": result.extra["top_unseen_share"], "seconds": round(time.time() - start, 1)})
        print(rows[-1], flush=True)
    metrics = [m for m in rows[0] if m.startswith(("Recall", "NDCG"))]
    print(f"\n{args.run}, {args.part} part, full-catalogue protocol{', one pool' * args.one_pool} "
          f"({reference.extra['queries']} queries; positives "
          f"{reference.extra['positives_unseen_share']:.1%} unseen)\n")
    print("| setting | " + " | ".join(metrics) + " | top 10 unseen |")
    print("|---" * (len(metrics) + 2) + "|")
    for r in rows:
        print(f"| {r['setting']} | " + " | ".join(f"{r[m]:.4f}" for m in metrics) + f" | {r['top10_unseen']:.3f} |")
    out = Path(args.out or f"runs/results/pool_size-{Path(args.run).name}-{args.part}{'-one-pool' * args.one_pool}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "pool_size.json").write_text(json.dumps({"run": args.run, "part": args.part, "rows": rows}, indent=1))
    print(f"\nwrote {out / 'pool_size.json'}")


if __name__ == "__main__":
    main()
