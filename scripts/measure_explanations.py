"""The explanation report of `eccr evaluate --explanations N` without the ranking protocols: faithfulness and
specificity (eccr/evaluate/faithfulness.py: names both items, hallucinated claims, masked distinctness, length) of
what is shown, the raw LM, the template and the titles-only reference "B goes with A.", plus BLEU/ROUGE, on N
held-out (test part) bundle pairs with an intent.

    .venv/bin/python scripts/measure_explanations.py --run runs/demo --pairs 60
    .venv/bin/python scripts/measure_explanations.py --run runs/demo --pairs 200 --explain lm --out OUT  # LM first
    .venv/bin/python scripts/measure_explanations.py --run runs/electronic --pairs 200 --no-lm

Writes explanations.json and explanations.md to --out (default RUN/report-explanations).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eccr.data.lookup import read_catalog
from eccr.evaluate.faithfulness import (
    PairContext,
    catalog_type_words,
    faithfulness,
    faithfulness_markdown,
    titles_only,
)
from eccr.jobs.evaluate import explanation_markdown, explanation_report
from eccr.pipeline import Recommender
from eccr.run import Run, split_dataset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="the trained run (not needed with --rescore)")
    parser.add_argument("--pairs", type=int, default=200, help="held-out bundle pairs to explain")
    parser.add_argument("--no-lm", action="store_true", help="template only (runs without an adapter are so anyway)")
    parser.add_argument("--explain", default=None, choices=("reason_first", "lm", "grounded"),
                        help="what is shown (RecommenderConfig.explain; default: its default, reason_first)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--rescore", default=None, metavar="JSON",
                        help="re-score the sentences of an earlier explanations.json (no model is loaded; "
                             "with --run, the product types are read from that run's catalogue)")
    args = parser.parse_args()
    if args.rescore:
        report = json.loads(Path(args.rescore).read_text())
        if args.run:
            report["type_words"] = sorted(catalog_type_words(read_catalog(Run(args.run).catalog)))
        elif "type_words" not in report:
            parser.error(f"{args.rescore} predates type_words: pass --run RUN to read its catalogue's categories")
        types = frozenset(report["type_words"])
        contexts = [PairContext(**{k: r[k] for k in ("title_a", "title_b", "categories", "incompatible",
                                                     "bought_together")}) for r in report["sentences"]]
        report["faithfulness"] = {name: faithfulness([r[key] for r in report["sentences"]], contexts, types).as_dict()
                                  for name, key in (("shown", "shown"), ("raw LM", "raw_lm"),
                                                    ("template", "template"))}
        report["faithfulness"]["titles only"] = faithfulness([titles_only(c.title_a, c.title_b) for c in contexts],
                                                             contexts, types).as_dict()
        Path(args.rescore).write_text(json.dumps(report, indent=1, ensure_ascii=False))
        print(faithfulness_markdown(report["faithfulness"]))
        return 0
    if not args.run:
        parser.error("--run is required (or --rescore JSON)")
    t = time.perf_counter()
    rec = Recommender.from_pretrained(args.run, use_lm=not args.no_lm,
                                      **({"explain": args.explain} if args.explain else {}))
    _, split = split_dataset(rec.run_config)
    report = explanation_report(rec, split, args.pairs, seed=rec.run_config.data.seed)
    report["seconds"] = round(time.perf_counter() - t, 1)
    report["lm"] = rec.lm is not None
    report["explain"] = rec.config.explain
    out = Path(args.out) if args.out else Path(args.run) / "report-explanations"
    out.mkdir(parents=True, exist_ok=True)
    (out / "explanations.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    markdown = explanation_markdown(report)
    (out / "explanations.md").write_text(markdown)
    print(markdown)
    print(f"LM loaded: {report['lm']}; {report['seconds']} s; written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
