"""Blinded rating of explanations: held-out pairs, each explained by several sources, through `eccr human-eval`.

    .venv/bin/python scripts/measure_explanations.py --run runs/demo --pairs 200
    .venv/bin/python scripts/export_explanation_rating.py --report runs/demo/report-explanations/explanations.json \
        --pairs 50 --out runs/demo/rating-explanations
    # raters fill runs/demo/rating-explanations/for_raters/ratings_template.csv (one copy each), then
    eccr human-eval import FILLED_1.csv FILLED_2.csv --key runs/demo/rating-explanations/key.json \
        --out runs/demo/rating-explanations/report

The pairs are the report's held-out (test part) bundle pairs; each becomes one "query" whose only recommendation
is the pair's partner, and every source is one "system": what the product shows (`shown`: the LM's sentence when
it passes the grounding check, else the template), the raw LM sentence before that check (`raw_lm`, when the run
has an LM), the grounded template (`template`) and the titles-only reference "B goes with A." (`titles_only`).
The export shuffles the sources' option letters per pair, so raters see the same pair under A, B, C, D with
different sentences and cannot tell which is which. Their `explanation_score` (1 = wrong or misleading … 5 =
correct, specific and useful) is the measure; the pair's coherence columns are the same for every option.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from eccr.evaluate.faithfulness import titles_only
from eccr.evaluate.human_eval import export_human_eval

SOURCES = ("shown", "raw_lm", "template")  # fields of the report's sentences; "titles_only" is made here


def _pair_id(i: int) -> str:
    return f"pair{i:03d}"


def answer_files(report: dict, n_pairs: int, seed: int, out: Path, exclude: frozenset[str] = frozenset()
                 ) -> dict[str, Path]:
    """One `eccr explain`-style JSON-lines file per source, over a seeded sample of the report's pairs (pairs whose
    id is in `exclude`, e.g. those of an earlier export, are not drawn)."""
    sentences = report["sentences"]
    eligible = [i for i in range(len(sentences)) if _pair_id(i) not in exclude]
    if n_pairs > len(eligible):
        raise SystemExit(f"--pairs {n_pairs}: the report has {len(eligible)} pairs to draw from")
    picked = sorted(np.random.default_rng([seed, 7]).choice(eligible, n_pairs, replace=False).tolist())
    with_lm = any(sentences[i]["raw_lm"] for i in picked)
    sources = [s for s in SOURCES if with_lm or s != "raw_lm"] + ["titles_only"]
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for system in sources:
        path = out / f"answers_{system}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for i in picked:
                row = sentences[i]
                text = titles_only(row["title_a"], row["title_b"]) if system == "titles_only" else (row[system] or "")
                f.write(json.dumps({"query_id": _pair_id(i), "query": {"title": row["title_a"]},
                                    "recommendations": [{"item_id": f"{_pair_id(i)}-partner", "title": row["title_b"],
                                                         "explanation": text}]}, ensure_ascii=False) + "\n")
        files[system] = path
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", required=True, help="explanations.json of scripts/measure_explanations.py")
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude", nargs="*", default=[], metavar="KEY",
                        help="key.json of earlier exports: their pairs are not drawn again (a fresh set to check on)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    report = json.loads(Path(args.report).read_text())
    out = Path(args.out)
    exclude = frozenset(q for key in args.exclude for q in json.loads(Path(key).read_text())["queries"])
    files = answer_files(report, args.pairs, args.seed, out / "answers", exclude)
    paths = export_human_eval(files, out, n_queries=args.pairs, top_k=1, seed=args.seed)
    print(f"{args.pairs} pairs x {len(files)} sources ({', '.join(files)}): raters fill {paths.ratings_csv} "
          f"(instructions: {paths.instructions}); the key is {paths.key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
