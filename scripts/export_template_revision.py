"""Blinded rating of a template revision: the rated pairs whose grounded template changed, before against after.

    .venv/bin/python scripts/measure_explanations.py --run runs/demo-quick-teacher --pairs 200 \
        --out runs/demo-quick-teacher/report-explanations-reason-first
    .venv/bin/python scripts/export_template_revision.py --rating ratings/demo-explanations/dev \
        ratings/demo-explanations/check --report runs/demo-quick-teacher/report-explanations-reason-first/explanations.json \
        --out ratings/template-revision
    # raters fill ratings/template-revision/for_raters/ratings_template.csv (one copy each), then
    eccr human-eval import FILLED_1.csv FILLED_2.csv --key ratings/template-revision/key.json --out he-revision

Each `--rating` folder is an export of scripts/export_explanation_rating.py (its answers/answers_template.jsonl
holds the templates that were rated); the report is scripts/measure_explanations.py's on the same run and pairs,
made with today's code. A pair goes in when its template (first sentence: the crowd intent and "Shoppers bought
them together" are not what changed) differs; `before` and `after` are the two systems, under letters shuffled
per pair, and the import's paired explanation-score difference is the measure.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from eccr.evaluate.human_eval import export_human_eval


def _first_sentence(text: str) -> str:
    for tail in (" Shoppers bought them together", " Together they serve"):
        text = text.split(tail)[0]
    return text.strip()


def changed_pairs(rated_templates: list[Path], report: dict) -> list[tuple[str, dict, str]]:
    """(pair id, the rated answer line, today's template) for every rated pair whose template changed."""
    sentences = report["sentences"]
    out = []
    for path in rated_templates:
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            answer = json.loads(line)
            pair_id = answer["query_id"]
            index = int(pair_id.removeprefix("pair"))
            if index >= len(sentences):
                raise SystemExit(f"{path}:{line_no}: {pair_id} is beyond the report's {len(sentences)} pairs: "
                                 "not the same run or pairs")
            row = sentences[index]
            rec = answer["recommendations"][0]
            if (row["title_a"], row["title_b"]) != (answer["query"]["title"], rec["title"]):
                raise SystemExit(f"{path}:{line_no}: {pair_id} is another pair in the report "
                                 f"({row['title_a']!r} → {row['title_b']!r}): not the same run or pairs")
            if _first_sentence(row["template"]) != _first_sentence(rec["explanation"]):
                out.append((pair_id, answer, row["template"]))
    return out


def answer_files(changed: list[tuple[str, dict, str]], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for system in ("before", "after"):
        path = files[system] = out / f"answers_{system}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for _, answer, template in changed:
                rec = answer["recommendations"][0]
                if system == "after":
                    rec = dict(rec, explanation=template)
                f.write(json.dumps(dict(answer, recommendations=[rec]), ensure_ascii=False) + "\n")
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rating", nargs="+", required=True, help="folders of scripts/export_explanation_rating.py")
    parser.add_argument("--report", required=True, help="explanations.json of scripts/measure_explanations.py")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    report = json.loads(Path(args.report).read_text())
    changed = changed_pairs([Path(r) / "answers" / "answers_template.jsonl" for r in args.rating], report)
    if not changed:
        print("no rated template changed")
        return 0
    out = Path(args.out)
    files = answer_files(changed, out / "answers")
    paths = export_human_eval(files, out, n_queries=len(changed), top_k=1, seed=args.seed)
    print(f"{len(changed)} changed templates ({', '.join(p for p, _, _ in changed)}): raters fill "
          f"{paths.ratings_csv}; the key is {paths.key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
