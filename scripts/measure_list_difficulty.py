"""Why cold lists are hard: what a content model could learn from the train part about the test part's honest lists.

    .venv/bin/python scripts/measure_list_difficulty.py                      # electronic and clothing, ~1 min each
    .venv/bin/python scripts/measure_list_difficulty.py --data DATASET ...   # any dataset eccr loads

For the honest ECCR lists of `--part` (eccr/data/candidate_lists.py: a bundle partner p of q among 20 negatives of
p's seen status), split by that status, it reports:
- leaf-pair coverage: the share of (q, p) whose (leaf of q → leaf of p) occurs among the train part's directed
  bundle pairs (at the leaf and at the parent level): where it does not, no type relation learned in training
  can point at p;
- q and p in one leaf (a bundle of look-alikes, where similarity is the right signal);
- text cosine HR@5 (ties against it) and, per negative kind, the share of negatives that score at least as high as
  p under text cosine: where a learned scorer has to beat cosine.
Prints a markdown table and writes list_difficulty.json and list_difficulty.png to --out.
"""
from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eccr.data.candidate_lists import NEGATIVE_KINDS, CandidateListConfig, build_candidate_lists
from eccr.data.categories import leaf_category
from eccr.data.load import load_dataset
from eccr.data.splits import temporal_split
from eccr.evaluate.metrics import positive_first_metrics
from eccr.rank.baselines import TextCosine
from eccr.represent.text import text_vectors

DOMAINS = ("../shared/data/amazon_bundle_intents/electronic", "../shared/data/amazon_bundle_intents/clothing")


def parent_category(path) -> str:
    parts = [str(p) for p in (path if isinstance(path, (list, tuple, np.ndarray)) else [])]
    return " > ".join(parts[:-1]) if len(parts) > 1 else ""


def measure(data: str, part: str) -> dict:
    ds = load_dataset(data)
    split = temporal_split(ds)
    text_cosine = TextCosine(text_vectors(ds.catalog))
    leaf = {str(r.item_id): leaf_category(r.category) for r in ds.catalog.items.itertuples(index=False)}
    parent = {str(r.item_id): parent_category(r.category) for r in ds.catalog.items.itertuples(index=False)}
    train_pairs = split.train.bundles.directed_pairs()
    sources, targets = train_pairs["source"].astype(str), train_pairs["target"].astype(str)
    leaf_pairs = {(leaf.get(s), leaf.get(t)) for s, t in zip(sources, targets)}
    parent_pairs = {(parent.get(s), parent.get(t)) for s, t in zip(sources, targets)}
    lists = build_candidate_lists(split, part, CandidateListConfig())
    rows = defaultdict(lambda: defaultdict(list))
    for item in lists.pairs:
        status = "seen" if item.positive_seen else "cold"
        candidates = [item.positive, *item.negatives]
        scores = text_cosine.score_candidates([item.query], candidates).scores
        for key in (status, "all"):
            row = rows[key]
            row["scores"].append(scores)
            row["leaf_pair_in_train"].append((leaf.get(item.query), leaf.get(item.positive)) in leaf_pairs)
            row["parent_pair_in_train"].append((parent.get(item.query), parent.get(item.positive)) in parent_pairs)
            row["same_leaf"].append(leaf.get(item.query) == leaf.get(item.positive))
            for kind, score in zip(item.kinds, scores[1:]):
                row[f"beats_{kind}"].append(score >= scores[0])
    out = {"data": data, "name": ds.name, "part": part, "by_status": {}}
    for key, row in rows.items():
        hr5 = positive_first_metrics(row["scores"], ["HR@5"])["HR@5"]
        out["by_status"][key] = {
            "lists": len(row["scores"]), "text_cosine_hr@5": float(np.mean(hr5)),
            **{name: float(np.mean(row[name])) for name in ("leaf_pair_in_train", "parent_pair_in_train", "same_leaf")},
            "negatives_scoring_at_least_p": {kind: {"share": float(np.mean(row[f"beats_{kind}"])),
                                                    "negatives": len(row[f"beats_{kind}"])}
                                             for kind in NEGATIVE_KINDS if row[f"beats_{kind}"]}}
    return out


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 3.8), squeeze=False)
    for ax, result in zip(axes[0], results):
        width = 0.38
        for offset, status in ((-width / 2, "seen"), (width / 2, "cold")):
            if status not in result["by_status"]:
                continue
            shares = result["by_status"][status]["negatives_scoring_at_least_p"]
            kinds = [k for k in NEGATIVE_KINDS if k in shares]
            ax.bar(np.arange(len(kinds)) + offset, [shares[k]["share"] for k in kinds], width, label=status)
            ax.set_xticks(np.arange(len(kinds)), kinds)
        ax.set_ylabel("negatives scoring ≥ the positive (text cosine)")
        ax.set_title(f"{result['name']} ({result['part']})")
        ax.set_ylim(0, 1)
        ax.legend(title="positive")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=list(DOMAINS))
    parser.add_argument("--part", default="test", choices=("train", "valid", "test"))
    parser.add_argument("--out", default="runs/results/list_difficulty")
    args = parser.parse_args()
    results = [measure(d, args.part) for d in args.data]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "list_difficulty.json").write_text(json.dumps(results, indent=2))
    plot(results, out / "list_difficulty.png")
    print("| data | positive | lists | leaf pair in train bundles | parent pair in train | q, p one leaf | "
          "text cosine HR@5 | negatives ≥ p: co-bought / same leaf / near category / random |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        for status in ("seen", "cold", "all"):
            r = result["by_status"].get(status)
            if r is None:
                continue
            shares = r["negatives_scoring_at_least_p"]
            beats = " / ".join(f"{shares[k]['share']:.3f}" if k in shares else "–" for k in NEGATIVE_KINDS)
            print(f"| {result['name']} | {status} | {r['lists']:,} | {r['leaf_pair_in_train']:.3f} | "
                  f"{r['parent_pair_in_train']:.3f} | {r['same_leaf']:.3f} | {r['text_cosine_hr@5']:.3f} | {beats} |")
    print(f"\nwrote {out / 'list_difficulty.json'} and {out / 'list_difficulty.png'}")


if __name__ == "__main__":
    main()
