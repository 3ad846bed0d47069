"""Uncertainty-aware thresholds for "is this a coherent complement?" on the real data (issue #12, part A).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/measure_uncertainty.py \
        --data ../shared/data/amazon_bundle_intents/electronic ../shared/data/amazon_bundle_intents/clothing

Per domain, on the temporal split `eccr train` uses (temporal_split(ds, 0.1, 0.2)): an ensemble of complement
scorers on bootstrap resamples of the train part's honest lists (eccr/rank/uncertainty.py), calibrated on the valid
part's lists, thresholds chosen on the valid part for precision 0.8 and 0.9, reported on the test part's lists
(each positive with its 20 negatives: base rate 1/21 = 4.8%). Prints the decision table, the positive rate per
(probability bin x uncertainty level) and the calibration error; writes under --out/<domain>/: ensemble/ (reused
unless --retrain), coherence_rule.json (target 0.9), uncertainty.json, positive_rate.png, reliability.png.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.data.load import load_dataset
from eccr.data.splits import temporal_split
from eccr.evaluate.metrics import positive_first_metrics
from eccr.evaluate.uncertainty import (
    decision_table,
    expected_calibration_error,
    plot_positive_rate_grid,
    plot_reliability,
    positive_rate_grid,
    reliability,
    spread_effect,
)
from eccr.rank.config import ComplementConfig, UncertaintyConfig
from eccr.rank.uncertainty import ScorerEnsemble, fit_calibration, fit_rule, fit_scorer_ensemble
from eccr.represent.text import text_vectors

DOMAINS = ("../shared/data/amazon_bundle_intents/electronic", "../shared/data/amazon_bundle_intents/clothing")
SCORE_QUANTILES = (0.5, 0.8, 0.9, 0.95, 0.98)  # probability bin edges: these quantiles of the valid pairs


def hit_rate_at(scores: np.ndarray, width: int, k: int = 5) -> float:
    """HR@k of (pairs,) scores laid out list by list, positive first; ties against the model."""
    return float(positive_first_metrics(scores.reshape(-1, width), [f"HR@{k}"])[f"HR@{k}"].mean())


def measure(data: str, out: Path, config: UncertaintyConfig, retrain: bool, precisions=(0.8, 0.9)) -> dict:
    start = time.perf_counter()
    ds = load_dataset(data)
    split = temporal_split(ds, 0.1, 0.2)
    text = text_vectors(ds.catalog)
    lists = CandidateListConfig()
    folder = out / ds.name
    if retrain or not (folder / "ensemble").exists():
        ensemble = fit_scorer_ensemble(text, split, config, ComplementConfig(), lists, log=print)
        ensemble.save_pretrained(folder / "ensemble")
    else:
        ensemble = ScorerEnsemble.from_pretrained(folder / "ensemble", text, split.train.catalog)
    valid_lists = build_candidate_lists(split, "valid", lists)
    valid_scores, valid_labels = ensemble.list_scores(valid_lists)
    test_lists = build_candidate_lists(split, "test", lists)
    test_scores, test_labels = ensemble.list_scores(test_lists)
    width = lists.negatives + 1
    test_queries = np.repeat(ensemble.list_queries(test_lists), width)

    calibration = fit_calibration(valid_scores, valid_labels, config.levels)
    table = decision_table(calibration, valid_scores, valid_labels, test_scores, test_labels, precisions,
                           test_queries)
    fit_rule(calibration, valid_scores, valid_labels, config.target_precision).save(folder / "coherence_rule.json")
    valid, test = calibration.assess(valid_scores), calibration.assess(test_scores)
    edges = np.quantile(valid["probability"], SCORE_QUANTILES)
    grid = positive_rate_grid(test, test_labels, edges)
    curves = {"P(coherent | score)": reliability(test["probability"], test_labels),
              "P(coherent | score, level)": reliability(test["level_probability"], test_labels)}
    plot_positive_rate_grid(grid, folder / "positive_rate.png",
                            f"{ds.name} test pairs: positive rate by score and uncertainty")
    plot_reliability(curves, folder / "reliability.png", f"{ds.name} test pairs (base rate 1/21)")

    z_test, _ = calibration.combine(test_scores)
    result = {
        "data": data, "members": config.members, "max_epochs": config.max_epochs, "levels": config.levels,
        "valid_pairs": len(valid_labels), "test_pairs": len(test_labels),
        "test_base_rate": float(test_labels.mean()),
        "test_hr@5": {"ensemble": hit_rate_at(z_test, width),
                      "members": [hit_rate_at(s, width) for s in test_scores]},
        "level_edges": calibration.level_edges,
        "test_mean_uncertainty_by_level": [float(test["uncertainty"][test["level"] == k].mean())
                                           for k in range(len(calibration.level_edges) + 1)],
        "test_spread_effect": spread_effect(test, test_labels, test_queries),
        "valid_spread_effect": spread_effect(valid, valid_labels,
                                             np.repeat(ensemble.list_queries(valid_lists), width)),
        "test_ece": {name: expected_calibration_error(c) for name, c in curves.items()},
        "decisions": table.to_dict("records"), "positive_rate_grid": grid.to_dict("records"),
        "probability_edges": edges.tolist(), "seconds": round(time.perf_counter() - start, 1)}
    (folder / "uncertainty.json").write_text(json.dumps(result, indent=1, default=float))
    return result


def show(result: dict) -> None:
    print(f"\n== {result['data']}: {result['test_pairs']} test pairs, base rate {result['test_base_rate']:.4f} "
          f"(1/21); ensemble HR@5 {result['test_hr@5']['ensemble']:.3f}, members "
          + ", ".join(f"{h:.3f}" for h in result["test_hr@5"]["members"]))
    print(f"{'target':>6} {'rule':<10} {'valid P':>8} {'valid R':>8} {'test P':>7} {'test R':>7} {'flagged':>7} "
          f"{'best test R':>11} {'R gain, 95% CI':>16}  thresholds on z (per level: low..high uncertainty)")
    for r in result["decisions"]:
        gain = "[{:+.3f}, {:+.3f}]".format(*r["recall_gain_95"]) if r.get("recall_gain_95") else ""
        print(f"{r['target']:>6} {r['rule']:<10} {r['valid_precision']:>8.3f} {r['valid_recall']:>8.3f} "
              f"{r['test_precision']:>7.3f} {r['test_recall']:>7.3f} {r['test_flagged']:>7} "
              f"{r['test_best_recall']:>11.3f} {gain:>16}  {r['score_thresholds']}")
    print("positive rate per (probability bin x uncertainty level), test pairs  [rate (pairs)]")
    grid = {(g["score_bin"], g["level"]): g for g in result["positive_rate_grid"]}
    levels = sorted({k[1] for k in grid})
    for b in sorted({k[0] for k in grid}):
        cells = [grid.get((b, lv)) for lv in levels]
        print(f"  bin {b}: " + "  ".join(f"L{lv} {c['rate']:.3f} ({c['pairs']:>5}, p̄ {c['mean_probability']:.3f})"
                                        if c else f"L{lv} -" for lv, c in zip(levels, cells)))
    for part in ("valid", "test"):
        e = result[f"{part}_spread_effect"]
        print(f"{part}: log-odds per SD of spread at equal score {e['coefficient']:+.3f} "
              f"[{e['low']:+.3f}, {e['high']:+.3f}] (negative = the keynote's effect)")
    print("ECE on test: " + ", ".join(f"{k} {v:.4f}" for k, v in result["test_ece"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(DOMAINS), help="datasets eccr can load")
    parser.add_argument("--out", default="runs/results/uncertainty", help="output folder (one subfolder per domain)")
    parser.add_argument("--members", type=int, default=UncertaintyConfig.members)
    parser.add_argument("--max-epochs", type=int, default=UncertaintyConfig.max_epochs)
    parser.add_argument("--levels", type=int, default=UncertaintyConfig.levels)
    parser.add_argument("--precisions", type=float, nargs="+", default=[0.8, 0.9], help="target precisions")
    parser.add_argument("--retrain", action="store_true", help="train the ensemble even if one is saved")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    config = UncertaintyConfig(members=args.members, max_epochs=args.max_epochs, levels=args.levels)
    for data in args.data:
        show(measure(data, Path(args.out), config, args.retrain, tuple(args.precisions)))


if __name__ == "__main__":
    main()
