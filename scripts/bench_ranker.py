"""Benchmark of the ranking stage on synthetic data: AttentionCF training and scoring throughput, latency, peak
memory, FAISS retrieval latency, and scoring FLOP/s against this CPU's measured matmul peak.

Item vectors are random Gaussian, dim 64 by default (--dim). Users have 50 memory items and 1,000 candidates.

    .venv/bin/python scripts/bench_ranker.py                      # 10k and 100k items, ~2-4 min on 2 cores
    .venv/bin/python scripts/bench_ranker.py --sizes 1000000      # 1M items: the HNSW build dominates (see README)

Prints a markdown table and writes OUT/bench_ranker.json and OUT/bench_ranker.png.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eccr.rank.attention_cf import AttentionCF, AttentionCFScorer
from eccr.rank.config import RankerConfig, RetrievalConfig
from eccr.rank.retrieval import ItemIndex
from eccr.rank.train import RankerTrainer
from eccr.represent.vectors import ItemVectors


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best observed float32 GFLOP/s of an n x n x n torch matmul (2 n^3 FLOPs)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def flops_per_candidate(d: int, hidden: int, hops: int, memory: int) -> int:
    """h(x_q): 2 d d'; per hop: scores 2 M d' + weighted sum 2 M d' (softmax ignored); phi: 2 d'."""
    return 2 * d * hidden + hops * 4 * memory * hidden + 2 * hidden


def flops_memory_encoding(d: int, hidden: int, hops: int, memory: int) -> int:
    """Keys and values for every hop, once per user: 2 (f and g) * K * M * 2 d d'."""
    return 2 * hops * memory * 2 * d * hidden


def bench_training(iv: ItemVectors, args, rng) -> dict:
    n = len(iv)
    sequences = [[iv.ids[i] for i in rng.integers(0, n, size=int(rng.integers(5, 40)))] for _ in range(4000)]
    config = RankerConfig(hops=args.hops, hidden=args.hidden, max_seconds=args.train_seconds, eval_every=10**9,
                          progress=False, max_epochs=100)
    model = AttentionCF(iv.dim, args.hops, args.hidden)
    trainer = RankerTrainer(model, iv, sequences, config, valid_fraction=0.01)
    t = time.perf_counter()
    state = trainer.train(resume=False).state
    wall = time.perf_counter() - t
    return {"train_steps": state.step, "train_seconds": state.seconds, "train_wall_seconds": wall,
            "train_examples_per_s": state.step * config.batch_size / max(state.seconds, 1e-9),
            "train_candidates_per_s": state.step * config.batch_size * (config.negatives + config.future_items)
            / max(state.seconds, 1e-9)}


def bench_scoring(iv: ItemVectors, args, rng) -> dict:
    model = AttentionCF(iv.dim, args.hops, args.hidden).eval()
    scorer = AttentionCFScorer(model, iv)
    n = len(iv)
    latencies = []
    for r in range(args.queries + 3):
        memory = [iv.ids[i] for i in rng.integers(0, n, size=args.memory)]
        candidates = [iv.ids[i] for i in rng.integers(0, n, size=args.candidates)]
        t = time.perf_counter()
        scorer.score_candidates(memory[-1:], candidates, memory[:-1])
        if r >= 3:  # warm-up
            latencies.append(time.perf_counter() - t)
    lat = np.array(latencies)
    per_query = args.candidates * flops_per_candidate(iv.dim, args.hidden, args.hops, args.memory) \
        + flops_memory_encoding(iv.dim, args.hidden, args.hops, args.memory)
    return {"score_p50_ms": float(np.percentile(lat, 50) * 1e3), "score_p99_ms": float(np.percentile(lat, 99) * 1e3),
            "scores_per_s": float(args.candidates / np.median(lat)),
            "score_gflops": float(per_query / np.median(lat) / 1e9)}


def bench_retrieval(iv: ItemVectors, args, rng) -> dict:
    t = time.perf_counter()
    index = ItemIndex.build(iv, RetrievalConfig())
    build = time.perf_counter() - t
    queries = rng.normal(size=(args.queries + 3, iv.dim)).astype(np.float32)
    latencies = []
    for r, q in enumerate(queries):
        t = time.perf_counter()
        index.search(q[None], args.retrieve_k)
        if r >= 3:
            latencies.append(time.perf_counter() - t)
    lat = np.array(latencies)
    return {"faiss_index": index.kind, "faiss_build_s": build, "faiss_p50_ms": float(np.percentile(lat, 50) * 1e3),
            "faiss_p99_ms": float(np.percentile(lat, 99) * 1e3)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated catalogue sizes")
    parser.add_argument("--dim", type=int, default=64, help="item vector dimension (random Gaussian)")
    parser.add_argument("--hops", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--memory", type=int, default=50, help="memory items per user")
    parser.add_argument("--candidates", type=int, default=1000, help="candidates scored per user")
    parser.add_argument("--queries", type=int, default=50, help="timed users / retrieval queries per size")
    parser.add_argument("--retrieve-k", type=int, default=100)
    parser.add_argument("--train-seconds", type=float, default=8.0, help="training time per size")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and FAISS threads (1 by default: on a shared machine extra threads spin and "
                             "slow everything down; use the core count on a dedicated one)")
    parser.add_argument("--out", default="runs/bench/")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    started = time.perf_counter()
    peak = matmul_peak_gflops()
    rows = []
    for n in sizes:
        rng = np.random.default_rng(args.seed)
        t = time.perf_counter()
        iv = ItemVectors([f"i{k}" for k in range(n)], rng.standard_normal((n, args.dim), dtype=np.float32))
        row = {"items": n, "make_vectors_s": time.perf_counter() - t}
        row |= bench_training(iv, args, rng)
        row |= bench_scoring(iv, args, rng)
        row |= bench_retrieval(iv, args, rng)
        row["score_fraction_of_peak"] = row["score_gflops"] / peak
        row["peak_rss_mib"] = peak_rss_mib()  # process peak so far (sizes run in increasing order)
        rows.append(row)
        print(f"[{time.perf_counter() - started:.0f}s] {n} items done", file=sys.stderr)
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                          "matmul_peak_gflops": peak},
              "settings": vars(args) | {"flops_per_candidate": flops_per_candidate(args.dim, args.hidden, args.hops,
                                                                                   args.memory),
                                        "flops_memory_encoding": flops_memory_encoding(args.dim, args.hidden,
                                                                                       args.hops, args.memory)},
              "rows": rows, "total_seconds": time.perf_counter() - started}
    print(markdown(result))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_ranker.json").write_text(json.dumps(result, indent=2))
    plot(result, out / "bench_ranker.png")
    return result


def markdown(result: dict) -> str:
    s = result["settings"]
    machine = result["machine"]
    title = (f"AttentionCF K={s['hops']}, d'={s['hidden']}, d={s['dim']}, memory {s['memory']}, "
             f"{s['candidates']} candidates/user; {s['flops_per_candidate']:,} FLOPs/candidate + "
             f"{s['flops_memory_encoding']:,} per user; matmul peak "
             f"{machine['matmul_peak_gflops']:.1f} GFLOP/s ({machine['torch_threads']} threads)")
    header = ("| items | train ex/s | scores/s | score p50 ms | p99 ms | GFLOP/s (% peak) | FAISS | build s "
              "| FAISS p50 ms | p99 ms | peak RSS MiB |")
    lines = [title, "", header,
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['items']:,} | {r['train_examples_per_s']:.0f} | {r['scores_per_s']:,.0f} | "
                     f"{r['score_p50_ms']:.2f} | {r['score_p99_ms']:.2f} | {r['score_gflops']:.1f} "
                     f"({100 * r['score_fraction_of_peak']:.0f}%) | {r['faiss_index']} | {r['faiss_build_s']:.1f} | "
                     f"{r['faiss_p50_ms']:.2f} | {r['faiss_p99_ms']:.2f} | {r['peak_rss_mib']:.0f} |")
    lines.append(f"\ntotal {result['total_seconds']:.0f} s")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    labels = [f"{r['items']:,}" for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].bar(labels, [r["scores_per_s"] for r in rows])
    axes[0].set_title("AttentionCF candidate scores / s")
    axes[1].bar(labels, [r["train_examples_per_s"] for r in rows], color="tab:green")
    axes[1].set_title("training examples / s")
    x = np.arange(len(rows))
    axes[2].bar(x - 0.2, [r["faiss_p50_ms"] for r in rows], 0.4, label="p50")
    axes[2].bar(x + 0.2, [r["faiss_p99_ms"] for r in rows], 0.4, label="p99")
    axes[2].set_xticks(x, labels)
    axes[2].set_title(f"FAISS search latency (ms, k={result['settings']['retrieve_k']})")
    axes[2].legend()
    for ax in axes:
        ax.set_xlabel("catalogue items")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
