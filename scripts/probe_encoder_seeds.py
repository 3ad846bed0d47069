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

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.evaluate.metrics import paired_bootstrap
from eccr.jobs.train import list_blend_features
from eccr.pipeline import Recommender
from eccr.represent.complement_encoder import INFO_FILE, fit_complement_encoder, tuned_text_vectors
from eccr.run import split_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_lm_type_prior import CONTEXT_FREE, ListwiseLinear, hits, statuses


def pair_cosines(vectors, rec: Recommender, lists) -> np.ndarray:
    """cos(query, candidate) under `vectors` (ItemVectors) for every row `list_blend_features` keeps, in its order."""
    unit = vectors.normalized()
    known = rec.candidates.items.is_titled
    out = []
    for pair in lists.pairs:
        pool = [pair.positive, *pair.negatives]
        if all(known(i) for i in (pair.query, *pool)):
            out.extend((unit.lookup(pool) @ unit.lookup([pair.query])[0]).tolist())
    return np.asarray(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = Path(args.out or f"runs/results/encoder_seeds-{Path(args.run).name}")
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

    data = {}
    for part in ("valid", "test"):
        lists = build_candidate_lists(split, part, CandidateListConfig(seed=config.data.seed))
        columns, _, sizes = list_blend_features(rec.candidates, lists)
        columns = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items() if k not in CONTEXT_FREE}
        columns["second_tuned_cosine"] = pair_cosines(second, rec, lists)
        columns["mean_tuned_cosine"] = (columns["tuned_cosine"] + columns["second_tuned_cosine"]) / 2
        data[part] = (columns, sizes, statuses(rec, lists))
        print(f"{part}: {len(sizes)} lists", flush=True)

    valid_columns, valid_sizes, _ = data["valid"]
    shipped = sorted(k for k in valid_columns if k not in ("second_tuned_cosine", "mean_tuned_cosine"))
    systems = {name: (lambda c, name=name: c[name])
               for name in ("text_cosine", "tuned_cosine", "second_tuned_cosine", "mean_tuned_cosine")}
    for name, names in {"linear listwise blend (refitted on valid)": shipped,
                        "blend, mean_tuned_cosine for tuned_cosine":
                            [k for k in shipped if k != "tuned_cosine"] + ["mean_tuned_cosine"],
                        "blend + second_tuned_cosine": shipped + ["second_tuned_cosine"]}.items():
        systems[name] = ListwiseLinear(valid_columns, names, valid_sizes).score
    result = {"run": args.run, "seed": args.seed, "encoder": str(folder),
              "best_step": json.loads((folder / INFO_FILE).read_text())["best_step"], "hr@5": {}}
    per_list = {}
    for name, system in systems.items():
        result["hr@5"][name] = {}
        for part, (columns, sizes, seen) in data.items():
            h = per_list[(name, part)] = hits(system(columns), sizes)
            result["hr@5"][name][part] = {"all": float(h.mean()), "seen": float(h[seen].mean()),
                                          "cold": float(h[~seen].mean())}
    base = "linear listwise blend (refitted on valid)"
    result["paired_test"] = {f"{name} - {ref}": vars(paired_bootstrap(per_list[(name, "test")], per_list[(ref, "test")]))
                             for ref, names in ((base, list(systems)[-2:]), ("tuned_cosine", ["mean_tuned_cosine"]))
                             for name in names}
    title = (f"HR@5 (all / seen / cold lists; ties against the scorer), {args.run}, second encoder seed {args.seed} "
             f"(valid chose step {result['best_step']})")
    lines = [title, "", "| scorer | valid | test |", "|---|---|---|"]
    lines += [f"| {name} | " + " | ".join(f"{row[p]['all']:.3f} ({row[p]['seen']:.3f} / {row[p]['cold']:.3f})"
                                          for p in ("valid", "test")) + " |" for name, row in result["hr@5"].items()]
    lines += ["", "paired on test: " + "; ".join(f"{k} {v['mean_difference']:+.4f} (p = {v['p_value']:.3f})"
                                                   for k, v in result["paired_test"].items())]
    (out / "encoder_seeds.json").write_text(json.dumps(result, indent=1))
    (out / "encoder_seeds.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out / 'encoder_seeds.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
