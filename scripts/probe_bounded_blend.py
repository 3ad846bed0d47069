"""Why do brand-mates come first, and would a blend that bounds its features change that? A probe, not the product.

    # what each blend feature adds to a query's top k (standardised value z and weight · z)
    .venv/bin/python scripts/probe_bounded_blend.py contributions --run runs/clothing \
        --item "Allegra K Women's Self Tie Knot Stand Collar Striped Autumn" -k 3
    # the coherent blend with every standardised feature clipped to [-C, C], on a COPY of a run (it refits the copy's
    # blends and ranking rule), then valid-part measurements with the shipped scripts under the same clipping
    cp -r runs/clothing /tmp/clothing-clip
    .venv/bin/python scripts/probe_bounded_blend.py bounded --run /tmp/clothing-clip --clip 5 refit
    .venv/bin/python scripts/probe_bounded_blend.py bounded --run /tmp/clothing-clip --clip 5 pool     # measure_pool_size
    .venv/bin/python scripts/probe_bounded_blend.py bounded --run /tmp/clothing-clip --clip 5 badges   # measure_badges

`pool` runs `scripts/measure_pool_size.py --part valid --settings content:text_k=200` and `badges` runs
`scripts/measure_badges.py --part valid --queries 300`, both writing into the copy.
"""
from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import numpy as np

import eccr.rank.blend as blend_module

SCRIPTS = Path(__file__).resolve().parent
CONTEXT = ("warm", "in_domain")  # read by the blend's calibration, not weighed


def contributions(run: str, item: str, k: int) -> None:
    from eccr.pipeline import Recommender

    rec = Recommender.from_pretrained(run, use_lm=False)
    query = rec.resolve_item(item)
    ids = [i.item_id for i in rec.recommend(query, k=k, explain=False).items]
    feats = rec.features(query, [], ids)[0]
    blend = rec.candidates.blends["coherent"]
    print(f"query: {rec.item_row(query)['title']}")
    for n, i in enumerate(ids, 1):
        print(f"{n}. {rec.item_row(i)['title']}")
    print("\n| feature | weight | z per card | weight · z per card |\n|---|---|---|---|")
    for name, weight in blend.weights.items():
        z = (np.asarray(feats[name], dtype=float) - blend.mean[name]) / (blend.std[name] or 1.0)
        print(f"| {name} | {weight:+.3f} | {np.round(z, 2).tolist()} | {np.round(weight * z, 2).tolist()} |")
    print(f"\nblend score per card: {np.round(blend.score(feats), 2).tolist()}")


def clip_blend_features(clip: float) -> None:
    """Patch Blend.fit and Blend.score so that every weighed feature is clipped to mean ± clip · std."""
    Blend = blend_module.Blend
    score, fit = Blend.score, Blend.fit.__func__

    def bounded(features, mean, std):
        out = dict(features)
        for name, m in mean.items():
            if name in out and name not in CONTEXT:
                x = blend_module.finite_feature(out[name])
                s = std.get(name) or 1.0
                out[name] = m + np.clip((x - m) / s, -clip, clip) * s
        return out

    def bounded_score(self, features):
        return score(self, bounded(features, self.mean, self.std) if self.mean else features)

    def bounded_fit(cls, features, labels, groups=None, **kw):
        raw = {f: blend_module.finite_feature(features[f]) for f in blend_module.ALL_FEATURES if f in features}
        return fit(cls, bounded(features, {f: float(v.mean()) for f, v in raw.items()},
                                {f: float(v.std()) or 1.0 for f, v in raw.items()}), labels, groups, **kw)

    Blend.score = bounded_score
    Blend.fit = classmethod(bounded_fit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("contributions")
    c.add_argument("--run", required=True)
    c.add_argument("--item", required=True)
    c.add_argument("-k", type=int, default=3)
    b = sub.add_parser("bounded")
    b.add_argument("--run", required=True, help="a copy of a run: `refit` overwrites its blends and ranking rule")
    b.add_argument("--clip", type=float, default=5.0)
    b.add_argument("step", choices=("refit", "pool", "badges"))
    args = parser.parse_args()
    if args.command == "contributions":
        contributions(args.run, args.item, args.k)
        return
    clip_blend_features(args.clip)
    if args.step == "refit":
        from eccr.jobs.train import stage_blend
        from eccr.run import Run, load_run_config, split_dataset

        config = load_run_config(args.run)
        print(stage_blend(Run(args.run), config, split_dataset(config)[1], force=True))
        return
    script, extra = {"pool": ("measure_pool_size", ["--settings", "content:text_k=200", "--out",
                                                    f"{args.run}/pool-valid"]),
                     "badges": ("measure_badges", ["--queries", "300", "--out", f"{args.run}/badges-valid"])}[args.step]
    sys.argv = [f"{script}.py", "--run", args.run, "--part", "valid", *extra]
    runpy.run_path(str(SCRIPTS / f"{script}.py"), run_name="__main__")


if __name__ == "__main__":
    main()
