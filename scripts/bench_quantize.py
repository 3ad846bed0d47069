"""Benchmark the semantic-ID quantizers: fit/encode time, collisions before/after, codebook use, error.

Data: the real Amazon electronic titles (TF-IDF + SVD, cheap and weight-free; skipped if the data is absent)
and a synthetic clustered set (100k items by default). Prints a table and writes bench_quantize.json and
bench_quantize.png to --out.

    .venv/bin/python scripts/bench_quantize.py                       # both datasets, both quantizers
    .venv/bin/python scripts/bench_quantize.py --synthetic-items 20000 --skip-real
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eccr.quantize.config import QuantizerConfig, RQVAEConfig
from eccr.quantize.metrics import collision_rate
from eccr.quantize.semantic_ids import build_semantic_ids, disambiguate
from eccr.represent.vectors import ItemVectors

REPO = Path(__file__).resolve().parents[1]
ELECTRONIC = Path(os.environ.get("ECCR_SHARED_DATA", REPO.parent / "shared" / "data")) / \
    "amazon_bundle_intents" / "electronic"


def title_vectors(folder: Path, dim: int = 64) -> ItemVectors:
    """TF-IDF + truncated SVD of item titles, L2-normalised."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    from eccr.data.bundle_intents import load_bundle_intents
    items = load_bundle_intents(folder).catalog.titled().items
    tfidf = TfidfVectorizer(min_df=2, sublinear_tf=True).fit_transform(items["title"])
    X = TruncatedSVD(dim, random_state=0).fit_transform(tfidf)
    return ItemVectors(items["item_id"].tolist(), X).normalized()


def synthetic_vectors(n: int, dim: int = 64, tops: int = 200, subs: int = 40, leaves: int = 20,
                      seed: int = 0) -> ItemVectors:
    """A three-scale catalogue: 200 departments x 40 product types x 20 variants (scales 2, 1, 0.5) plus
    small noise (0.05). Items drawn into the same variant are near-duplicates, as in real catalogues."""
    rng = np.random.default_rng(seed)
    top, sub, leaf = rng.integers(0, tops, n), rng.integers(0, subs, n), rng.integers(0, leaves, n)
    top_centers = 2.0 * rng.standard_normal((tops, dim))
    sub_offsets = 1.0 * rng.standard_normal((tops, subs, dim))
    leaf_offsets = 0.5 * rng.standard_normal((tops * subs * leaves, dim))
    X = (top_centers[top] + sub_offsets[top, sub] + leaf_offsets[(top * subs + sub) * leaves + leaf]
         + 0.05 * rng.standard_normal((n, dim)))
    return ItemVectors([f"syn{i}" for i in range(n)], X.astype(np.float32))


def bench_one(name: str, vectors: ItemVectors, config: QuantizerConfig) -> dict:
    _, quantizer, report = build_semantic_ids(vectors, config)
    row = {"dataset": name, **report.to_dict(),
           "epochs": config.rqvae.epochs if config.kind == "rqvae" else None}
    # the other collision strategy on the same codes, for comparison
    codes = quantizer.encode(vectors.vectors)
    Z, books = quantizer.embed(vectors.vectors), quantizer.codebooks()
    for strategy in ("extra_level", "nearest_free"):
        start = time.perf_counter()
        unique = disambiguate(codes, Z, books, strategy)
        row[f"{strategy}_seconds"] = time.perf_counter() - start
        row[f"{strategy}_collision_rate_after"] = collision_rate(unique)
        row[f"{strategy}_moved_share"] = float((unique[:, :codes.shape[1]] != codes).any(1).mean())
    return row


def print_table(rows: list[dict]) -> None:
    head = (f"{'dataset':<12}{'quantizer':<9}{'items':>8}{'fit s':>8}{'enc s':>7}{'coll%':>7}{'max':>5}"
            f"{'after':>7}{'nf moved%':>10}{'use% a/b/c':>16}{'perplexity a/b/c':>20}{'relMSE':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        use = "/".join(f"{100 * u['share_used']:.0f}" for u in r["usage"])
        ppl = "/".join(f"{u['perplexity']:.0f}" for u in r["usage"])
        after = max(r["extra_level_collision_rate_after"], r["nearest_free_collision_rate_after"])
        print(f"{r['dataset']:<12}{r['quantizer']:<9}{r['n_items']:>8}{r['fit_seconds']:>8.1f}"
              f"{r['encode_seconds']:>7.2f}{100 * r['collision_rate_before']:>7.2f}"
              f"{r['largest_collision_before']:>5}{100 * after:>7.1f}{100 * r['nearest_free_moved_share']:>10.2f}"
              f"{use:>16}{ppl:>20}{r['relative_mse']:>8.3f}")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    labels = [f"{r['dataset']}\n{r['quantizer']}" for r in rows]
    x = np.arange(len(rows))
    for level in range(len(rows[0]["usage"])):
        axes[0].bar(x + 0.25 * (level - 1), [r["usage"][level]["perplexity"] / r["usage"][level]["size"]
                                             for r in rows], 0.25, label=f"level {'abc'[level]}")
    axes[0].set_title("codebook perplexity / size (1 = uniform use)")
    axes[0].legend()
    axes[1].bar(x, [100 * r["collision_rate_before"] for r in rows])
    axes[1].set_title("items colliding before disambiguation (%); 0 after")
    axes[2].bar(x, [r["relative_mse"] for r in rows])
    axes[2].set_title("relative reconstruction MSE")
    for ax in axes:
        ax.set_xticks(x, labels, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--synthetic-items", type=int, default=100_000)
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--rqvae-epochs", type=int, default=RQVAEConfig().epochs,
                        help="RQ-VAE epochs on the real titles")
    parser.add_argument("--rqvae-epochs-synthetic", type=int, default=10,
                        help="RQ-VAE epochs on the synthetic set (batch 1024; keeps the run to minutes)")
    args = parser.parse_args()

    datasets = []
    if not args.skip_real:
        if ELECTRONIC.exists():
            datasets.append(("electronic", title_vectors(ELECTRONIC), args.rqvae_epochs, 256))
        else:
            print(f"skipping real titles: {ELECTRONIC} not found")
    if args.synthetic_items:
        datasets.append(("synthetic", synthetic_vectors(args.synthetic_items), args.rqvae_epochs_synthetic, 1024))

    rows = []
    for name, vectors, epochs, batch in datasets:
        for kind in ("kmeans", "rqvae"):
            config = QuantizerConfig(kind=kind)
            config.rqvae = replace(config.rqvae, epochs=epochs, batch_size=batch)
            rows.append(bench_one(name, vectors, config))
            print(f"done: {name} {kind} ({rows[-1]['fit_seconds']:.1f} s fit)", flush=True)
    if not rows:
        raise SystemExit("nothing to benchmark")
    print_table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_quantize.json").write_text(json.dumps(rows, indent=1))
    plot(rows, args.out / "bench_quantize.png")
    print(f"wrote {args.out / 'bench_quantize.json'} and {args.out / 'bench_quantize.png'}")


if __name__ == "__main__":
    main()
