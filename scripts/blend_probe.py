"""What the probes of a candidate blend feature share (scripts/probe_lm_type_prior.py, probe_encoder_seeds.py): a
run's honest ECCR lists with their blend features, HR@5 with ties against the scorer, the run's listwise blend
refitted on valid over any columns, and the table they print and save. Not a script of its own."""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eccr.data.candidate_lists import CandidateListConfig, CandidateLists, build_candidate_lists
from eccr.evaluate.metrics import paired_bootstrap, positive_first_metrics
from eccr.jobs.train import known_pairs, list_blend_features
from eccr.rank.blend import Blend
from eccr.rank.candidates import CONTEXT_FEATURES

Scorer = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass
class PartLists:
    """One part's lists as the blend reads them: feature columns (rows of the lists whose items all have titles,
    positive first), labels, list sizes, whether each positive was bought in the train part, and the lists."""

    columns: dict[str, np.ndarray]
    labels: np.ndarray
    sizes: list[int]
    seen: np.ndarray
    lists: CandidateLists


def probe_arguments(doc: str, stem: str, *flags: tuple[str, dict]) -> tuple[argparse.Namespace, Path]:
    """A probe's command line: --run, --out (default runs/results/<stem>-<run name>) and `flags` ((name, argparse
    keywords) pairs); returns the arguments and the output folder."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--out", default=None, help=f"default runs/results/{stem}-<run name>")
    for name, keywords in flags:
        parser.add_argument(name, **keywords)
    args = parser.parse_args()
    return args, Path(args.out or f"runs/results/{stem}-{Path(args.run).name}")


def honest_lists(rec, split, part: str) -> PartLists:
    lists = build_candidate_lists(split, part, CandidateListConfig(seed=rec.run_config.data.seed))
    columns, labels, sizes = list_blend_features(rec.candidates, lists)
    pairs = known_pairs(rec.candidates, lists)
    columns = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items() if k not in CONTEXT_FEATURES}
    print(f"{part}: {len(sizes)} lists", flush=True)
    return PartLists(columns, np.asarray(labels), sizes, np.array([p.positive_seen for p in pairs], dtype=bool), lists)


def hits(scores: np.ndarray, sizes: list[int]) -> np.ndarray:
    """HR@5 of each list (positive first, ties against the scorer)."""
    if len(set(sizes)) != 1:
        raise ValueError("lists of different lengths")
    return positive_first_metrics(np.asarray(scores).reshape(len(sizes), -1), ["HR@5"])["HR@5"]


def refitted_blend(valid: PartLists, names: Sequence[str]) -> Scorer:
    """The run's listwise blend (eccr.rank.blend) fitted on the valid lists over `names`."""
    groups = np.repeat(np.arange(len(valid.sizes)), valid.sizes)
    return Blend.fit(valid.columns, valid.labels, groups, names=names).score


def report(systems: dict[str, Scorer], data: dict[str, PartLists], comparisons: Sequence[tuple[str, str]],
           title: str, out: Path, stem: str, result: dict) -> dict:
    """HR@5 (all / seen / cold lists) of every system on every part, paired test differences (system, reference),
    written to out/<stem>.json and .md and printed."""
    per_list, result["hr@5"] = {}, {}
    for name, system in systems.items():
        result["hr@5"][name] = {}
        for part, lists in data.items():
            h = per_list[(name, part)] = hits(system(lists.columns), lists.sizes)
            result["hr@5"][name][part] = {"all": float(h.mean()), "seen": float(h[lists.seen].mean()),
                                          "cold": float(h[~lists.seen].mean())}
    result["paired_test"] = {f"{name} - {ref}": asdict(paired_bootstrap(per_list[(name, "test")],
                                                                       per_list[(ref, "test")]))
                             for name, ref in comparisons}
    lines = [title, "", "| scorer | " + " | ".join(data) + " |", "|---|" + "---|" * len(data)]
    lines += [f"| {name} | " + " | ".join(f"{row[p]['all']:.3f} ({row[p]['seen']:.3f} / {row[p]['cold']:.3f})"
                                          for p in data) + " |" for name, row in result["hr@5"].items()]
    lines += ["", "paired on test: " + "; ".join(f"{k} {v['mean_difference']:+.4f} (p = {v['p_value']:.3f})"
                                                   for k, v in result["paired_test"].items())]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out / f'{stem}.json'}")
    return result
