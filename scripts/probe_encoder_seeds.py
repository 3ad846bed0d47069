"""Does a second tuned text encoder, trained with another seed, add to the run's?

Averaging models trained from different seeds is the usual cheap gain. This fits the product's complement encoder
(`fit_complement_encoder`, the run's own ComplementEncoderConfig but the seed) once more on the run's train part,
with early stopping on valid as `eccr train` does, and reports on the run's honest ECCR lists HR@5 (all / seen /
cold lists, ties against the scorer) of text cosine, the run's tuned cosine, the new one, their mean, and the
run's linear listwise blend refitted on valid with the mean in place of `tuned_cosine` and with the new cosine as
one more feature. The test part is scored once with what valid chose.

    python scripts/probe_encoder_seeds.py --run runs/electronic --seed 1

About 35 minutes on 2 cores for electronic (the encoder's fit), 3 more for the lists. The new encoder is kept in
runs/results/encoder_seeds-<run name>/encoder-seed<k>/ (a second call skips the fit), the table and JSON beside it.
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from eccr.jobs.train import known_pairs
from eccr.pipeline import Recommender
from eccr.represent.complement_encoder import INFO_FILE, fit_complement_encoder, tuned_text_vectors
from eccr.run import split_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blend_probe import honest_lists, probe_arguments, refitted_blend, report


def pair_cosines(vectors, rec: Recommender, lists) -> np.ndarray:
    """cos(query, candidate) under `vectors` (ItemVectors) for every row `list_blend_features` keeps, in its order."""
    unit = vectors.normalized()
    return np.concatenate([unit.lookup([pair.positive, *pair.negatives]) @ unit.lookup([pair.query])[0]
                           for pair in known_pairs(rec.candidates, lists)])


def main() -> int:
    args, out = probe_arguments(__doc__, "encoder_seeds", ("--seed", {"type": int, "default": 1}))
    rec = Recommender.from_pretrained(args.run, use_lm=False)
    if rec.candidates.tuned_text is None:
        raise SystemExit(f"{args.run} ranks without a tuned text encoder: nothing to add a second one to")
    config = rec.run_config
    _, split = split_dataset(config)
    folder = out / f"encoder-seed{args.seed}"
    if not (folder / INFO_FILE).exists():
        tuned = fit_complement_encoder(rec.items.catalog, split, replace(config.complement_encoder, seed=args.seed),
                                       config.text, log=lambda line: print(line, flush=True))
        tuned.save_pretrained(folder)
    second = tuned_text_vectors(rec.items.catalog, config.text, folder)

    data = {part: honest_lists(rec, split, part) for part in ("valid", "test")}
    for part in data.values():
        part.columns["second_tuned_cosine"] = pair_cosines(second, rec, part.lists)
        part.columns["mean_tuned_cosine"] = (part.columns["tuned_cosine"] + part.columns["second_tuned_cosine"]) / 2

    valid = data["valid"]
    shipped = sorted(k for k in valid.columns if k not in ("second_tuned_cosine", "mean_tuned_cosine"))
    systems = {name: (lambda c, name=name: c[name])
               for name in ("text_cosine", "tuned_cosine", "second_tuned_cosine", "mean_tuned_cosine")}
    base, mean, added = ("linear listwise blend (refitted on valid)", "blend, mean_tuned_cosine for tuned_cosine",
                         "blend + second_tuned_cosine")
    systems[base] = refitted_blend(valid, shipped)
    systems[mean] = refitted_blend(valid, [k for k in shipped if k != "tuned_cosine"] + ["mean_tuned_cosine"])
    systems[added] = refitted_blend(valid, shipped + ["second_tuned_cosine"])
    best_step = json.loads((folder / INFO_FILE).read_text())["best_step"]
    report(systems, data, [(mean, base), (added, base), ("mean_tuned_cosine", "tuned_cosine")],
           f"HR@5 (all / seen / cold lists; ties against the scorer), {args.run}, second encoder seed {args.seed} "
           f"(valid chose step {best_step})", out, "encoder_seeds",
           {"run": args.run, "seed": args.seed, "encoder": str(folder), "best_step": best_step})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
