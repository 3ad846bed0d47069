"""Probe: do "items like q were bundled with items like c" carry to new items? No training: for a query q, its
`k` nearest train-part items by text cosine that have bundle partners in the train part, and a candidate c scores
the similarity-weighted mean over those neighbours of c's best cosine to one of their partners. Printed: HR@5
(all / cold / seen positives, ties against the score) on the valid and test lists (1 + 20) for text cosine, the
neighbour score and text cosine + w × the neighbour score. Choose k and w on VALID, read test.

    python scripts/probe_neighbour_partners.py ../shared/data/amazon_bundle_intents/electronic --run runs/electronic

(`--run`: a trained run whose frozen text vectors are read from RUN/vectors/text). Writes
runs/results/neighbour_partners-<dataset>.json.
"""
import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.data.load import load_dataset
from eccr.data.splits import temporal_split
from eccr.evaluate.metrics import positive_first_metrics
from eccr.represent.vectors import ItemVectors
from eccr.run import Run

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("data")
parser.add_argument("--run", required=True)
parser.add_argument("--k", type=int, nargs="+", default=[5, 20], help="neighbours of the query")
parser.add_argument("--w", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0], help="weights of the mix")
parser.add_argument("--out", default="runs/results")
args = parser.parse_args()

dataset = load_dataset(args.data)
split = temporal_split(dataset, 0.1, 0.2)
text = ItemVectors.load(Run(args.run).text).normalized()
X = text.vectors.astype(np.float32)
row_of = {item: r for r, item in enumerate(text.ids)}
parts = {part: build_candidate_lists(split, part, CandidateListConfig()).complete(row_of) for part in ("valid", "test")}
partners = defaultdict(set)
train_pairs = split.train.all_pairs()
for a, b in zip(train_pairs["source"], train_pairs["target"]):
    if a in row_of and b in row_of:
        partners[row_of[a]].add(row_of[b])
        partners[row_of[b]].add(row_of[a])
sources = np.array(sorted(partners))
partner_rows = {s: np.array(sorted(partners[s])) for s in sources}


def scores(pairs, k: int):
    q = np.array([row_of[p.query] for p in pairs])
    c = np.array([[row_of[x] for x in (p.positive, *p.negatives)] for p in pairs])
    cosine = np.einsum("nd,nkd->nk", X[q], X[c])
    to_sources = X[q] @ X[sources].T
    neighbour = np.zeros_like(cosine)
    for i in range(len(pairs)):
        sim = np.where(sources == q[i], -np.inf, to_sources[i])
        top = np.argsort(-sim)[:k]
        weights = np.maximum(sim[top], 0)
        for t, weight in zip(top, weights):
            neighbour[i] += weight * (X[c[i]] @ X[partner_rows[sources[t]]].T).max(1)
        neighbour[i] /= max(weights.sum(), 1e-9)
    return cosine, neighbour


def hit_rates(score, pairs) -> dict:
    hit = positive_first_metrics(score, ["HR@5"])["HR@5"]
    seen = np.array([p.positive_seen for p in pairs])
    return {"all": round(float(hit.mean()), 4), "cold": round(float(hit[~seen].mean()), 4),
            "seen": round(float(hit[seen].mean()), 4)}


result = {"config": vars(args), "train_items_with_partners": len(sources), "rows": []}
for k in args.k:
    scored = {part: scores(pairs, k) for part, pairs in parts.items()}
    for name, w in [("text cosine", None), ("neighbour score", 0.0)] + [("cosine + w x neighbour", w) for w in args.w]:
        row = {"k": k, "system": name, "w": w}
        for part, (cosine, neighbour) in scored.items():
            score = cosine if w is None else (neighbour if name == "neighbour score" else cosine + w * neighbour)
            row[part] = hit_rates(score, parts[part])
        result["rows"].append(row)
        print(row, flush=True)
Path(args.out).mkdir(parents=True, exist_ok=True)
target = Path(args.out) / f"neighbour_partners-{dataset.name}.json"
target.write_text(json.dumps(result, indent=1))
print("wrote", target)
