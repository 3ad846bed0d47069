"""Do the badges follow the ranking? The coherence judge's probability as served (from the score that ranks,
eccr.rank.uncertainty.RankingRule) against the judge's own rule (the ensemble's mean), on the same pairs.

    .venv/bin/python scripts/measure_badges.py --run runs/electronic --out runs/results/badges/electronic

1. The honest lists of a part (test by default; the same lists as `eccr evaluate`'s coherence section): precision
   and recall of the verdict at the judge's target precision, calibration error and ROC AUC of the probability, and
   the share of candidate pairs within a list that the probability orders as the ranking does.
2. What a shopper sees: the top k served for `--queries` query items of the part's bundles (seeded sample; 0 = all),
   with both rules: how many lists show a probability that rises down the list, how many cards are called
   coherent, and how many of those (and of the others) are the query's bundle partners in that part — a lower bound
   on the verdict's precision, since a recommendation nobody bundled can still be right.

Needs a run whose judge has a ranking rule (`eccr train --config RUN --out RUN --stages blend` fits it). Prints a
table and writes badges.json to --out.
"""
from __future__ import annotations

import argparse
import json
import random
from itertools import pairwise
from pathlib import Path

import numpy as np

from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.evaluate.uncertainty import ranking_rule_markdown
from eccr.jobs.evaluate import badge_report
from eccr.pipeline import Recommender
from eccr.run import split_dataset


def served_lists(rec: Recommender, partners: dict[str, set[str]], k: int) -> dict:
    """Per rule: lists whose probability rises somewhere down the served top k, cards called coherent, and bundle
    partners among the cards called coherent and among the others."""
    names = ("score that ranks (served)", "ensemble mean (the judge's own rule)")
    out = {"queries": len(partners), "k": k, "rules": {}}
    counts = {name: dict.fromkeys(("lists_with_a_rise", "coherent", "coherent_partners", "unsure",
                                   "unsure_partners"), 0) for name in names}
    for query, bundled in partners.items():
        items = rec.recommend(query, k=k, explain=False).items
        own = rec.judge.judge([query], [i.item_id for i in items], incompatible=[i.flags["incompatible"] for i in items])
        for name, probabilities, verdicts in (
                (names[0], [i.coherent_probability for i in items], [i.coherent for i in items]),
                (names[1], [v["probability"] for v in own], [v["coherent"] for v in own])):
            c = counts[name]
            c["lists_with_a_rise"] += any(later > earlier for earlier, later in pairwise(probabilities))
            for item, verdict in zip(items, verdicts):
                key = "coherent" if verdict else "unsure"
                c[key] += 1
                c[key + "_partners"] += item.item_id in bundled
    for name, c in counts.items():
        out["rules"][name] = {**c, "coherent_partner_share": c["coherent_partners"] / c["coherent"] if c["coherent"]
                              else float("nan"),
                              "unsure_partner_share": c["unsure_partners"] / c["unsure"] if c["unsure"]
                              else float("nan")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--part", default="test", choices=("valid", "test"))
    parser.add_argument("--queries", type=int, default=300, help="served lists to check (0: every titled item)")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for badges.json (default RUN/report-badges)")
    args = parser.parse_args()
    rec = Recommender.from_pretrained(args.run, use_lm=False)
    if rec.judge is None or rec.judge.ranking_rule is None:
        raise SystemExit(f"{args.run}: no coherence judge with a ranking rule; fit it with `eccr train --config "
                         f"{args.run} --out {args.run} --stages blend`")
    _, split = split_dataset(rec.run_config)
    lists = build_candidate_lists(split, args.part, CandidateListConfig(seed=rec.run_config.data.seed))
    report = {"run": args.run, "part": args.part, "lists": badge_report(rec, lists)}
    pairs = getattr(split, args.part).bundles.directed_pairs()
    partners: dict[str, set[str]] = {}
    for source, target in zip(pairs["source"].astype(str), pairs["target"].astype(str)):
        if rec.is_titled(source):
            partners.setdefault(source, set()).add(target)
    queries = sorted(partners)
    if args.queries and args.queries < len(queries):
        queries = random.Random(args.seed).sample(queries, args.queries)
    report["served"] = served_lists(rec, {q: partners[q] for q in queries}, args.k)
    print(ranking_rule_markdown(report["lists"], args.part))
    served = report["served"]
    print(f"Served top {served['k']} of {served['queries']} {args.part} queries (partners: their {args.part} bundle "
          "partners):\n")
    print("| probability from | lists where it rises | called coherent (partners) | the others (partners) |\n"
          "|---|---|---|---|")
    for name, r in served["rules"].items():
        print(f"| {name} | {r['lists_with_a_rise']} | {r['coherent']} ({r['coherent_partners']}) | "
              f"{r['unsure']} ({r['unsure_partners']}) |")
    out = Path(args.out or Path(args.run) / "report-badges")
    out.mkdir(parents=True, exist_ok=True)
    (out / "badges.json").write_text(json.dumps(report, indent=1, default=lambda x: float(np.asarray(x))))
    print(f"\nwritten to {out / 'badges.json'}")


if __name__ == "__main__":
    main()
