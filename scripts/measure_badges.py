"""Do the badges follow the ranking? The coherence judge's probability as served (from the score that ranks,
eccr.rank.uncertainty.RankingRule) against the judge's own rule (the ensemble's mean), on the same pairs.

    .venv/bin/python scripts/measure_badges.py --run runs/electronic --out runs/results/badges/electronic

1. The honest lists of a part (test by default; the same lists as `eccr evaluate`'s coherence section): precision
   and recall of the verdict at the judge's target precision, calibration error and ROC AUC of the probability, and
   the share of candidate pairs within a list that the probability orders as the ranking does.
2. What a shopper sees: the top k of `--queries` catalogue items (seeded sample; 0 = every titled item) as served,
   probabilities from both rules; how many lists show a probability that rises down the list, and how many cards are
   called coherent.

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
from eccr.jobs.evaluate import _ranking_rule_report
from eccr.pipeline import Recommender
from eccr.run import split_dataset


def served_lists(rec: Recommender, queries: list[str], k: int) -> dict:
    """Per rule: lists whose probability rises somewhere down the served top k, and cards called coherent."""
    out = {"queries": len(queries), "k": k, "rules": {}}
    rising = {"score that ranks (served)": 0, "ensemble mean (the judge's own rule)": 0}
    coherent = dict.fromkeys(rising, 0)
    for query in queries:
        items = rec.recommend(query, k=k, explain=False).items
        ids = [i.item_id for i in items]
        own = rec.judge.judge([query], ids)
        for name, probabilities, verdicts in (
                ("score that ranks (served)", [i.coherent_probability for i in items], [i.coherent for i in items]),
                ("ensemble mean (the judge's own rule)", [v["probability"] for v in own],
                 [v["coherent"] for v in own])):
            rising[name] += any(later > earlier for earlier, later in pairwise(probabilities))
            coherent[name] += sum(bool(v) for v in verdicts)
    for name, rises in rising.items():
        out["rules"][name] = {"lists_with_a_rise": rises, "cards_called_coherent": coherent[name]}
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
    report = {"run": args.run, "part": args.part, "lists": _ranking_rule_report(rec, lists)}
    queries = list(rec.titled)
    if args.queries and args.queries < len(queries):
        queries = random.Random(args.seed).sample(queries, args.queries)
    report["served"] = served_lists(rec, queries, args.k)
    print(ranking_rule_markdown(report["lists"], args.part))
    served = report["served"]
    print(f"Served top {served['k']} of {served['queries']} queries:\n")
    print("| probability from | lists where it rises down the list | cards called coherent |\n|---|---|---|")
    for name, r in served["rules"].items():
        print(f"| {name} | {r['lists_with_a_rise']} | {r['cards_called_coherent']} |")
    out = Path(args.out or Path(args.run) / "report-badges")
    out.mkdir(parents=True, exist_ok=True)
    (out / "badges.json").write_text(json.dumps(report, indent=1, default=lambda x: float(np.asarray(x))))
    print(f"\nwritten to {out / 'badges.json'}")


if __name__ == "__main__":
    main()
