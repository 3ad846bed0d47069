"""Measure item representations on real bundle data: complement retrieval, direction and substitute share.

    .venv/bin/python scripts/measure_asymmetry.py --data ../shared/data/amazon_bundle_intents/electronic

Fits everything on the temporal split's train part (directed towers early-stop on the valid part) and measures on
the test part's bundle queries (`--split valid` measures on valid instead, for tuning). Retrieval is among all
titled items, the query excluded; ties are pessimistic (eccr.evaluate.metrics), so a query without a vector
(cold, for behaviour cosine) is a miss. Methods:
  text       cosine of MiniLM title vectors
  category   P(target category path | source category path) on train bundles, ties broken by text cosine
  behaviour  cosine of skip-gram vectors (train sessions)
  directed   s(A)·t(B) of the feature towers
Also: mean |score(A→B) − score(B→A)| over test bundle pairs, the share of pairs (with different accessory-ness)
where main→accessory scores higher, and the share of each method's top-10 in the query's own category path
(substitutes). Writes metrics.json and asymmetry.png to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eccr.data.bundle_intents import load_bundle_intents
from eccr.data.splits import heldout_queries, temporal_split
from eccr.evaluate.metrics import ranking_metrics
from eccr.represent.behaviour import behaviour_vectors
from eccr.represent.config import BehaviourConfig, DirectedConfig, TextConfig
from eccr.represent.directed import accessory_score, directed_vectors, fit_directed
from eccr.represent.text import text_vectors
from eccr.represent.vectors import ItemVectors

K = 10


def aligned(vectors: ItemVectors, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(normalised matrix rows for ids, zeros where missing; present mask)."""
    pos = vectors.position(ids)
    out = np.zeros((len(ids), vectors.dim), np.float32)
    out[pos >= 0] = vectors.normalized().vectors[pos[pos >= 0]]
    return out, pos >= 0


def category_prior(train_bundles, paths: dict[str, str]) -> dict[str, dict[str, float]]:
    """P(target path | source path) over ordered pairs of train bundles (items without a path skipped)."""
    counts: dict[str, Counter] = {}
    for items in train_bundles.rows.groupby("bundle_id")["item_id"].agg(list):
        items = [i for i in dict.fromkeys(items) if paths.get(i)]
        for a in items:
            for b in items:
                if a != b:
                    counts.setdefault(paths[a], Counter())[paths[b]] += 1
    return {s: {t: c / sum(cnt.values()) for t, c in cnt.items()} for s, cnt in counts.items()}


def evaluate(scores: np.ndarray, queries: pd.DataFrame, candidates: list[str], paths: list[str],
             query_paths: list[str], cold: np.ndarray) -> dict:
    """HR@K / NDCG@K overall, on cold and warm queries, and the same-path share of the top-K."""
    col = {c: i for i, c in enumerate(candidates)}
    relevant = np.zeros(scores.shape, bool)
    for r, pos in enumerate(queries["positives"]):
        relevant[r, [col[p] for p in pos if p in col]] = True
    per = ranking_metrics(list(scores), list(relevant), [f"HR@{K}", f"NDCG@{K}"])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    paths_arr = np.asarray(paths, dtype=object)
    same = [(np.asarray(paths_arr[t]) == qp).mean() if qp else np.nan for t, qp in zip(top, query_paths)]
    out = {"n": len(queries), f"HR@{K}": float(per[f"HR@{K}"].mean()), f"NDCG@{K}": float(per[f"NDCG@{K}"].mean()),
           "same_path_share_top10": float(np.nanmean(same))}
    for name, mask in (("cold", cold), ("warm", ~cold)):
        if mask.any():
            out[f"HR@{K}_{name}"] = float(per[f"HR@{K}"][mask].mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/amazon_bundle_intents/electronic")
    ap.add_argument("--out", default="runs/represent")
    ap.add_argument("--split", choices=["test", "valid"], default="test")
    ap.add_argument("--text-cache", default=TextConfig.cache_dir)
    ap.add_argument("--set", nargs="*", default=[], help="DirectedConfig overrides, e.g. epochs=10 dim=32")
    args = ap.parse_args()

    overrides = dict(kv.split("=", 1) for kv in args.set)
    types = {f.name: f.type for f in fields(DirectedConfig)}
    cast = {"int": int, "float": float, "bool": lambda v: v.lower() in ("1", "true", "yes")}
    directed_config = DirectedConfig(**{k: cast[types[k]](v) for k, v in overrides.items()})

    ds = load_bundle_intents(args.data)
    split = temporal_split(ds)
    part = split.test if args.split == "test" else split.valid
    timings = {}

    start = time.perf_counter()
    text = text_vectors(ds.catalog, TextConfig(cache_dir=args.text_cache))
    timings["text_seconds"] = round(time.perf_counter() - start, 2)
    timings["text_encode_seconds_on_miss"] = text.meta.get("seconds")
    titled = ds.catalog.items[ds.catalog.items["title"].str.len() > 0]
    candidates = [i for i in text.ids if i in set(titled["item_id"])]
    path_of = {i: " > ".join(c) for i, c in zip(ds.catalog.items["item_id"], ds.catalog.items["category"])}
    cand_paths = [path_of[c] for c in candidates]

    start = time.perf_counter()
    behaviour = behaviour_vectors(split.train.behaviour, BehaviourConfig(), catalog_ids=candidates)
    timings["behaviour_seconds"] = round(time.perf_counter() - start, 2)

    start = time.perf_counter()
    model = fit_directed(split.train, text, directed_config, valid_queries=heldout_queries(split.valid))
    timings["directed_fit_seconds"] = round(time.perf_counter() - start, 2)
    source, target = directed_vectors(model, ds.catalog, text)

    queries = heldout_queries(part)
    queries = queries[queries["query"].isin(set(candidates))].reset_index(drop=True)
    q_ids = list(queries["query"])
    seen = set(split.train.behaviour.events["item_id"]) | set(split.train.bundles.rows["item_id"])
    cold = np.array([q not in seen for q in q_ids])
    q_paths = [path_of[q] for q in q_ids]
    self_mask = np.asarray(candidates)[None, :] == np.asarray(q_ids)[:, None]

    text_q, _ = aligned(text, q_ids)
    text_c, _ = aligned(text, candidates)
    text_scores = text_q @ text_c.T
    prior = category_prior(split.train.bundles, path_of)
    prior_scores = np.array([[prior.get(qp, {}).get(cp, 0.0) for cp in cand_paths] for qp in q_paths])
    beh_q, beh_has_q = aligned(behaviour, q_ids)
    beh_c, beh_has_c = aligned(behaviour, candidates)
    behaviour_scores = np.where(beh_has_q[:, None] & beh_has_c[None, :], beh_q @ beh_c.T, -1.0)
    directed_scores = source.lookup(q_ids) @ target.lookup(candidates).T
    methods = {"text": text_scores, "category": prior_scores + 1e-3 * text_scores,
               "behaviour": behaviour_scores, "directed": directed_scores}

    results = {}
    for name, scores in methods.items():
        scores = np.where(self_mask, -np.inf, scores.astype(np.float64))
        results[name] = evaluate(np.nan_to_num(scores, neginf=-1e9), queries, candidates, cand_paths, q_paths, cold)
    truth_same = [np.mean([path_of[p] == path_of[q] for p in pos]) for q, pos in zip(q_ids, queries["positives"])
                  if path_of[q]]

    # direction on the unordered bundle pairs of the measured part
    pairs = {(min(a, b), max(a, b)) for a, b in zip(*(part.bundles.directed_pairs()[c] for c in ("source", "target")))
             if a in set(candidates) and b in set(candidates)}
    pairs = sorted(pairs)
    a_ids, b_ids = [p[0] for p in pairs], [p[1] for p in pairs]
    ab = np.einsum("nd,nd->n", source.lookup(a_ids), target.lookup(b_ids))
    ba = np.einsum("nd,nd->n", source.lookup(b_ids), target.lookup(a_ids))
    items = ds.catalog.items.set_index("item_id")
    acc = {i: accessory_score(items.at[i, "title"], items.at[i, "category"]) for i in set(a_ids) | set(b_ids)}
    acc_diff = np.array([acc[b] - acc[a] for a, b in pairs])  # > 0: b is the accessory
    main_to_acc = np.where(acc_diff > 0, ab, ba)[acc_diff != 0]
    acc_to_main = np.where(acc_diff > 0, ba, ab)[acc_diff != 0]
    asymmetry = {"n_pairs": len(pairs), "mean_abs_diff": float(np.mean(np.abs(ab - ba))),
                 "mean_abs_score": float(np.mean(np.abs(np.concatenate([ab, ba])))),
                 "n_pairs_with_accessory_difference": int((acc_diff != 0).sum()),
                 "accessory_direction_wins": float(np.mean(main_to_acc > acc_to_main)) if len(main_to_acc) else None}

    report = {"data": args.data, "split": args.split, "n_candidates": len(candidates), "n_queries": len(queries),
              "cold_query_share": float(cold.mean()), "behaviour_coverage_candidates": behaviour.meta.get("coverage"),
              "behaviour_coverage_queries": float(beh_has_q.mean()), "methods": results,
              "bundle_partner_same_path_share": float(np.mean(truth_same)), "asymmetry": asymmetry,
              "timings": timings, "directed_history": model.history, "directed_config": asdict(directed_config)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    print(f"{args.split}: {len(queries)} queries ({cold.mean():.0%} cold) over {len(candidates)} titled items")
    print(f"{'method':<10} {'HR@10':>7} {'NDCG@10':>8} {'HR cold':>8} {'HR warm':>8} {'same-path top10':>16}")
    for name, r in results.items():
        print(f"{name:<10} {r['HR@10']:7.3f} {r['NDCG@10']:8.3f} {r.get('HR@10_cold', float('nan')):8.3f} "
              f"{r.get('HR@10_warm', float('nan')):8.3f} {r['same_path_share_top10']:16.3f}")
    print(f"bundle partners in the query's own category path: {np.mean(truth_same):.3f}")
    print(f"asymmetry: mean |s(A)t(B) - s(B)t(A)| = {asymmetry['mean_abs_diff']:.3f} "
          f"(mean |score| {asymmetry['mean_abs_score']:.3f}) over {len(pairs)} pairs; main->accessory wins "
          f"{asymmetry['accessory_direction_wins']} of {asymmetry['n_pairs_with_accessory_difference']} pairs")
    print(f"behaviour coverage: {behaviour.meta.get('coverage')} of titled items, {beh_has_q.mean():.3f} of queries")
    print(f"timings: {timings}")
    plot(results, out / "asymmetry.png", args.split)


def plot(results: dict, path: Path, split: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    x = np.arange(len(names))
    axes[0].bar(x - 0.2, [results[n]["HR@10"] for n in names], 0.4, label="HR@10")
    axes[0].bar(x + 0.2, [results[n]["NDCG@10"] for n in names], 0.4, label="NDCG@10")
    axes[0].set_xticks(x, names)
    axes[0].set_title(f"bundle-partner retrieval ({split})")
    axes[0].legend()
    axes[1].bar(x, [results[n]["same_path_share_top10"] for n in names], color="grey")
    axes[1].set_xticks(x, names)
    axes[1].set_title("top-10 share in query's category (substitutes)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
