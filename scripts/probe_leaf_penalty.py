"""Would the shipped ranking recommend fewer substitutes, and find more partners, if items of the query's own leaf
category were pushed down? A probe of `eccr` with a penalty on its served score, on both honest protocols.

    .venv/bin/python scripts/probe_leaf_penalty.py --run runs/electronic --part valid --penalties 0 0.5 1 2 4

On the full catalogue, items of q's leaf make up about a third of eccr's electronic top 10 and about a twentieth of
the positives (`report.md`, "Full catalogue"); the blend weighs `same_leaf` on the ECCR lists, where few
negatives share q's leaf unless the partner does. Here eccr's score minus `penalty` (in the calibrated log-odds the
ranking is served in) for every candidate in q's leaf: full-catalogue Recall@10 / @50 and the top 10's same-leaf
share (the pool is asked for twice the depth so items below the cut can rise), and ECCR HR@5. Choose on
`--part valid`; test is for reporting. Prints a table and writes leaf_penalty.json to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.evaluate.config import EccrProtocolConfig, RetrievalProtocolConfig
from eccr.evaluate.protocols import run_eccr_protocol
from eccr.evaluate.protocols.retrieval import run_retrieval_protocol
from eccr.evaluate.systems import build_systems
from eccr.pipeline import Recommender
from eccr.rank.base import Scores
from eccr.run import split_dataset


class Remembered:
    """`system` with its answers kept: every penalty re-ranks the same eccr scores, which are computed once."""

    def __init__(self, system):
        self.system, self._scores, self._retrieved = system, {}, {}

    def score_candidates(self, query, candidates, history=()):
        key = (tuple(map(str, query)), tuple(map(str, candidates)), tuple(map(str, history)))
        if key not in self._scores:
            self._scores[key] = self.system.score_candidates(query, candidates, history)
        return self._scores[key]

    def retrieve(self, query, k, among=None):
        key = (tuple(map(str, query)), k, among)
        if key not in self._retrieved:
            self._retrieved[key] = self.system.retrieve(query, k, among=among)
        return self._retrieved[key]


class LeafPenalty:
    """`system`'s scores minus `penalty` for candidates in the query's leaf category."""

    def __init__(self, system, recommender: Recommender, penalty: float):
        self.system, self.rec, self.penalty, self.name = system, recommender, penalty, f"eccr-{penalty:g}"

    def _same_leaf(self, query: str, candidates: Sequence[str]) -> np.ndarray:
        items = self.rec.items
        leaf = items.leaf(query) if query in items.rows else ""
        return np.array([bool(leaf) and c in items.rows and items.leaf(c) == leaf for c in candidates], dtype=float)

    def score_candidates(self, query, candidates, history=()):
        scores = np.asarray(self.system.score_candidates(query, candidates, history).scores, dtype=np.float64)
        return Scores(scores - self.penalty * self._same_leaf(str(query[-1]), [str(c) for c in candidates]))

    def retrieve(self, query, k, among=None):
        ids, scores = self.system.retrieve(query, 2 * k, among=among)
        scores = np.asarray(scores, dtype=np.float64) - self.penalty * self._same_leaf(str(query[-1]), ids)
        order = np.argsort(-scores, kind="stable")[:k]
        return [ids[i] for i in order], scores[order]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--part", default="valid", choices=["valid", "test"])
    ap.add_argument("--penalties", nargs="+", type=float, default=[0.0, 0.5, 1.0, 2.0, 4.0])
    ap.add_argument("--out", default=None, help="default runs/results/leaf_penalty-<run name>-<part>")
    args = ap.parse_args()
    rec = Recommender.from_run(args.run, use_lm=False)
    _, split = split_dataset(rec.run_config)
    systems = build_systems(rec, with_lm=False, only=["eccr", "text_cosine"])
    lists = build_candidate_lists(split, args.part, CandidateListConfig())
    reference_lists = run_eccr_protocol(lists, {"text_cosine": systems["text_cosine"]}, EccrProtocolConfig())
    reference = run_retrieval_protocol(split, {"text_cosine": systems["text_cosine"]}, RetrievalProtocolConfig(),
                                       part=args.part)["text_cosine"]
    rows = [{"system": "text cosine", "penalty": None,
             "HR@5": reference_lists["text_cosine"].summary["HR@5"].mean,
             **{m: s.mean for m, s in reference.summary.items()},
             "top10_same_leaf": reference.extra["top_same_leaf_share"], "seconds": None}]
    eccr = Remembered(systems["eccr"])
    for penalty in args.penalties:
        start = time.time()
        system = LeafPenalty(eccr, rec, penalty)
        on_lists = run_eccr_protocol(lists, {system.name: system}, EccrProtocolConfig())[system.name]
        full = run_retrieval_protocol(split, {system.name: system}, RetrievalProtocolConfig(), part=args.part)[system.name]
        rows.append({"system": "eccr", "penalty": penalty, "HR@5": on_lists.summary["HR@5"].mean,
                     **{m: s.mean for m, s in full.summary.items()},
                     "top10_same_leaf": full.extra["top_same_leaf_share"], "seconds": round(time.time() - start, 1)})
        print(rows[-1], flush=True)
    metrics = ["HR@5"] + [m for m in rows[0] if m.startswith(("Recall", "NDCG"))]
    print(f"\n{args.run}, {args.part} part: {len(lists.pairs)} ECCR lists, {reference.extra['queries']} full-catalogue "
          f"queries; positives in q's leaf {reference.extra['positives_same_leaf_share']:.3f}\n")
    print("| system | penalty | " + " | ".join(metrics) + " | top 10 in q's leaf |")
    print("|---" * (len(metrics) + 3) + "|")
    for r in rows:
        penalty = "–" if r["penalty"] is None else f"{r['penalty']:g}"
        print(f"| {r['system']} | {penalty} | " + " | ".join(f"{r[m]:.4f}" for m in metrics)
              + f" | {r['top10_same_leaf']:.3f} |")
    out = Path(args.out or f"runs/results/leaf_penalty-{Path(args.run).name}-{args.part}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaf_penalty.json").write_text(json.dumps(
        {"run": args.run, "part": args.part, "positives_same_leaf": reference.extra["positives_same_leaf_share"],
         "rows": rows}, indent=1))
    print(f"\nwrote {out / 'leaf_penalty.json'}")


if __name__ == "__main__":
    main()
