"""Score other explanation policies with ratings already collected: for each rated pair, a policy that shows one of
the sentences the raters scored (the LM's or the template) gets that sentence's mean score.

    .venv/bin/python scripts/rated_explanation_policies.py --rating ratings/demo-explanations/check \
        --policy lm_first=runs/demo-quick-teacher/report-explanations/explanations.json \
        --policy reason_first=runs/demo-quick-teacher/report-explanations-reason-first/explanations.json

`--rating` is a folder of scripts/export_explanation_rating.py (key.json, for_raters/) with the raters' filled
CSVs in `filled/`; each `--policy NAME=explanations.json` is a scripts/measure_explanations.py report of the same run and
pairs (the "shown" sentence per pair, e.g. served with another `RecommenderConfig.explain`). A pair whose shown
sentence no rater saw is reported, not guessed. Prints each policy's mean score with a bootstrap 95% interval over
pairs, its paired difference to the template, and its scores on the pairs where it shows the LM's sentence and
where it shows the template.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from eccr.evaluate.human_eval import load_key, read_answers
from eccr.evaluate.metrics import percentile_interval


def rated_sentences(folder: Path) -> dict[tuple[str, str], float]:
    """(pair id, sentence) -> mean explanation score over the raters' answers, read and checked against the key by
    `eccr human-eval`'s reader; the sentence of each blinded row is the one in the export's rater template."""
    key = load_key(folder / "key.json")
    answers = read_answers(sorted((folder / "filled").glob("*.csv")), key)
    with (folder / "for_raters" / "ratings_template.csv").open(encoding="utf-8") as f:
        shown = {row["row_id"]: (row["query_id"], row["explanation"]) for row in csv.DictReader(f)}
    scores: dict[tuple[str, str], list[int]] = {}
    for answer in answers:
        if answer.explanation_score is not None:
            scores.setdefault(shown[answer.row_id], []).append(answer.explanation_score)
    return {k: float(np.mean(v)) for k, v in scores.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rating", required=True)
    parser.add_argument("--policy", action="append", default=[], metavar="NAME=EXPLANATIONS_JSON")
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    folder = Path(args.rating)
    pairs = load_key(folder / "key.json")["queries"]
    rated = rated_sentences(folder)
    policies: dict[str, list[str]] = {}
    sources: dict[str, list[str]] = {}  # per policy and pair: "lm" or "template", as the report says
    for spec in args.policy:
        name, _, path = spec.partition("=")
        sentences = json.loads(Path(path).read_text())["sentences"]
        chosen = [sentences[int(p.removeprefix("pair"))] for p in pairs]
        policies[name] = [row["shown"] for row in chosen]
        sources[name] = [row.get("source", "") for row in chosen]
        policies.setdefault("template", [row["template"] for row in chosen])
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(pairs), size=(args.resamples, len(pairs)))
    values = {}
    for name, shown in policies.items():
        missing = [p for p, s in zip(pairs, shown) if (p, s) not in rated]
        if missing:
            print(f"{name}: {len(missing)} pairs show a sentence no rater saw ({missing[:3]}); left out")
        values[name] = np.array([rated.get((p, s), np.nan) for p, s in zip(pairs, shown)])
    base = values["template"]
    print(f"{len(pairs)} rated pairs ({folder}); explanation score 1-5, bootstrap 95% over pairs")
    for name, v in values.items():
        low, high = percentile_interval(np.nanmean(v[draws], axis=1), 0.95)
        line = f"{name:>14}: {np.nanmean(v):.2f} [{low:.2f}, {high:.2f}]"
        if name != "template":
            diff = v - base
            d_low, d_high = percentile_interval(np.nanmean(diff[draws], axis=1), 0.95)
            line += f"   - template {np.nanmean(diff):+.2f} [{d_low:+.2f}, {d_high:+.2f}]"
        print(line)
        lm = np.array([source == "lm" for source in sources.get(name, [])], dtype=bool)
        if lm.any():
            print(f"{'':>16}{lm.sum()} pairs show the LM's sentence: {np.nanmean(v[lm]):.2f} (the template there "
                  f"{np.nanmean(base[lm]):.2f}); {(~lm).sum()} show the template: {np.nanmean(v[~lm]):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
