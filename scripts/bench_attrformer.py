"""Training and scoring speed of AttrFormer (eccr/rank/attrformer.py), its SASRec ablation and attention CF on
synthetic sequences (random Gaussian item vectors, random brands/leaves, co-purchase pairs), one CPU thread.

    .venv/bin/python scripts/bench_attrformer.py                    # 20k items, 2,000 users of 20 items, ~2 min
    .venv/bin/python scripts/bench_attrformer.py --items 100000 --dim 128

Training: sequences per second over `--seconds` of training (batches of 64, 100 negatives, memory 50).
Scoring: ms per query (a 20-item memory) for 1,000 candidates and for the whole catalogue. Prints a markdown table
and writes OUT/bench_attrformer.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eccr.rank.attention_cf import AttentionCFScorer
from eccr.rank.attrformer import AttrFormerScorer, item_attributes, train_attrformer
from eccr.rank.config import AttrFormerConfig, RankerConfig
from eccr.rank.train import train_attention_cf
from eccr.represent.vectors import ItemVectors


def synthetic(items: int, users: int, length: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"i{k}" for k in range(items)]
    vectors = ItemVectors(ids, rng.standard_normal((items, dim)).astype(np.float32))
    sequences = [[ids[j] for j in rng.choice(items, length, replace=False)] for _ in range(users)]
    brands = {i: f"b{rng.integers(50)}" for i in ids}
    leaves = {i: f"c{rng.integers(200)}" for i in ids}
    baskets = [[ids[a], ids[b]] for a, b in rng.integers(items, size=(items, 2))]
    return vectors, item_attributes(ids, brands, leaves, baskets, neighbours=10), sequences


def time_scoring(scorer, vectors: ItemVectors, candidates: list[str], repeats: int = 10) -> float:
    ids = vectors.ids
    start = time.perf_counter()
    for r in range(repeats):
        scorer.score_candidates([ids[r]], candidates, history=list(ids[100 + 20 * r:119 + 20 * r]))
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0, help="training time per model")
    parser.add_argument("--out", default="runs/bench")
    args = parser.parse_args()
    torch.set_num_threads(1)
    vectors, attributes, sequences = synthetic(args.items, args.users, args.length, args.dim)
    ranker = RankerConfig(max_seconds=args.seconds, max_epochs=1000, eval_every=10**9, progress=False, hops=4)
    rows = []
    for name in ("attrformer", "sasrec", "attention_cf"):
        start = time.perf_counter()
        if name == "attention_cf":
            result = train_attention_cf(vectors, sequences, ranker, ordered=True)
            scorer, steps = AttentionCFScorer(result.model, vectors), result.state.step
        else:
            trained = train_attrformer(vectors, attributes, sequences, ranker, AttrFormerConfig(),
                                       relations=() if name == "sasrec" else None)
            scorer, steps = AttrFormerScorer(trained.model, vectors), trained.history[-1]["step"]
        seconds = time.perf_counter() - start
        rows.append({"model": name, "train_steps": steps, "train_seconds": round(seconds, 1),
                     "sequences_per_second": round(steps * ranker.batch_size / seconds, 1),
                     "ms_per_query_1k": round(time_scoring(scorer, vectors, vectors.ids[:1000]), 2),
                     "ms_per_query_catalogue": round(time_scoring(scorer, vectors, vectors.ids, repeats=3), 1),
                     "parameters": sum(p.numel() for p in scorer.model.parameters())})
    print(f"{args.items:,} items, {args.dim}-d vectors, {args.users:,} users x {args.length} items, 1 thread\n")
    print("| model | train seq/s | score 1k cand. (ms/query) | score whole catalogue (ms/query) | parameters |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['sequences_per_second']} | {r['ms_per_query_1k']} | {r['ms_per_query_catalogue']} | "
              f"{r['parameters']:,} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_attrformer.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
