"""How well "is this a coherent complement?" is decided: one global threshold against one per uncertainty level
(eccr/rank/uncertainty.py), on the honest candidate lists of a part (each positive with its 20 negatives, so the
base rate is 1/21 = 4.8%).

- `decision_table`: per target precision, the cuts chosen on the valid pairs, applied to the test pairs: precision
  and recall of each rule, and for reference the best test recall any single cut of that rule's probability reaches
  at that precision (a property of the test curve, never used to choose anything).
- `positive_rate_grid`: the empirical positive rate per (probability bin x uncertainty level): at equal
  probability, does it fall as the uncertainty grows, as the keynote found?
- `reliability`: predicted probability against the observed rate, in equal-count bins.
Plots are matplotlib PNGs (`plot_positive_rate_grid`, `plot_reliability`). `coherence_report` puts them together
for a run's trained judge (the section `eccr evaluate` adds to its report; `coherence_markdown` writes it).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.data.splits import TemporalSplit
from eccr.evaluate.figures import save_figure
from eccr.evaluate.metrics import bootstrap_ratios, percentile_interval
from eccr.rank.uncertainty import (
    RANKING_RULE_FILE,
    CoherenceCalibration,
    CoherenceJudge,
    cut_for_precision,
    fit_rule,
)

PROBABILITY_BIN_QUANTILES = (0.5, 0.8, 0.9, 0.95, 0.98)  # score-bin edges of the grid: quantiles of the valid pairs


def precision_recall(flagged: np.ndarray, labels: np.ndarray) -> tuple[float, float, int]:
    tp = int((flagged & (labels == 1)).sum())
    n = int(flagged.sum())
    return (tp / n if n else float("nan")), tp / max(int(labels.sum()), 1), n


def recall_gain_interval(flag_a: np.ndarray, flag_b: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                         resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% interval of recall(b) - recall(a) with `groups` (e.g. the pair's query) resampled."""
    frame = pd.DataFrame({"g": groups, "gain": ((flag_b & (labels == 1)).astype(float)
                                                - (flag_a & (labels == 1)).astype(float)), "pos": labels})
    per_group = frame.groupby("g")[["gain", "pos"]].sum()
    replicates = bootstrap_ratios(per_group["gain"].to_numpy(), per_group["pos"].to_numpy(), resamples, seed)
    low, high = percentile_interval(replicates)
    return float(low), float(high)


def decision_table(calibration: CoherenceCalibration, valid_scores: np.ndarray, valid_labels: np.ndarray,
                   test_scores: np.ndarray, test_labels: np.ndarray, precisions=(0.8, 0.9),
                   test_groups: np.ndarray | None = None) -> pd.DataFrame:
    """One row per (target precision, rule): cuts from valid, precision/recall on valid and test. With
    `test_groups` (the query of each test pair), per-level rows carry a 95% interval of their test recall minus the
    global rule's, queries resampled."""
    valid, test = calibration.assess(valid_scores), calibration.assess(test_scores)
    rows = []
    for target in precisions:
        rule = fit_rule(calibration, valid_scores, valid_labels, target)
        if test_groups is not None:
            gain = recall_gain_interval(test["probability"] >= rule.global_cut,
                                        test["level_probability"] >= rule.level_cut, test_labels, test_groups)
        for name, column, cut, thresholds in (
                ("global", "probability", rule.global_cut, [rule.global_threshold()]),
                ("per level", "level_probability", rule.level_cut, rule.level_thresholds())):
            vp, vr, _ = precision_recall(valid[column] >= cut, valid_labels)
            tp, tr, n = precision_recall(test[column] >= cut, test_labels)
            best = cut_for_precision(test[column], test_labels, target)
            rows.append({"target": target, "rule": name, "cut": cut,
                         "score_thresholds": [round(t, 3) for t in thresholds],
                         "valid_precision": vp, "valid_recall": vr, "test_precision": tp, "test_recall": tr,
                         "test_flagged": n, "test_best_recall": precision_recall(test[column] >= best, test_labels)[1]
                         if np.isfinite(best) else 0.0})
            if test_groups is not None:
                rows[-1]["recall_gain_95"] = list(gain) if name == "per level" else None
    return pd.DataFrame(rows)


def spread_effect(assessed: dict[str, np.ndarray], labels: np.ndarray, groups: np.ndarray, resamples: int = 200,
                  seed: int = 0) -> dict[str, float]:
    """The keynote's effect as one number: in a logistic regression of the label on the score z and the spread u
    (standardised), the coefficient of u, with a 95% interval over resampled `groups` (queries). Negative = at equal
    score, more uncertain pairs are less often positive."""
    from sklearn.linear_model import LogisticRegression

    u = (assessed["uncertainty"] - assessed["uncertainty"].mean()) / max(assessed["uncertainty"].std(), 1e-12)
    x = np.column_stack([assessed["score"], u])

    def coefficient(rows: np.ndarray) -> float:
        return float(LogisticRegression(C=1e6, max_iter=1000).fit(x[rows], labels[rows]).coef_[0, 1])

    codes, unique = pd.factorize(pd.Series(groups))
    members = pd.Series(np.arange(len(codes))).groupby(codes).apply(np.asarray).to_list()
    rng = np.random.default_rng(seed)
    replicates = [coefficient(np.concatenate([members[g] for g in rng.integers(0, len(unique), len(unique))]))
                  for _ in range(resamples)]
    low, high = percentile_interval(np.array(replicates))
    return {"coefficient": coefficient(np.arange(len(labels))), "low": float(low), "high": float(high)}


def positive_rate_grid(assessed: dict[str, np.ndarray], labels: np.ndarray, edges: np.ndarray) -> pd.DataFrame:
    """Rows (score_bin, level): pairs, positives, observed rate, mean predicted probability (from the score
    alone). `edges` are probability cut points (from the valid part)."""
    score_bin = np.searchsorted(edges, assessed["probability"], side="right")
    frame = pd.DataFrame({"score_bin": score_bin, "level": assessed["level"], "y": labels,
                          "p": assessed["probability"]})
    grid = frame.groupby(["score_bin", "level"]).agg(pairs=("y", "size"), positives=("y", "sum"),
                                                     rate=("y", "mean"), mean_probability=("p", "mean"))
    return grid.reset_index()


RELIABILITY_QUANTILES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995)  # finer at the top, where decisions are made


def reliability(probability: np.ndarray, labels: np.ndarray, quantiles=RELIABILITY_QUANTILES) -> pd.DataFrame:
    """Bins of the predicted probability between these quantiles of it: mean prediction against the observed rate."""
    order = np.argsort(probability, kind="stable")
    chunks = np.split(order, (np.asarray(quantiles) * len(order)).astype(int))
    return pd.DataFrame([{"mean_probability": float(probability[c].mean()), "rate": float(labels[c].mean()),
                          "pairs": len(c)} for c in chunks if len(c)])


def expected_calibration_error(table: pd.DataFrame) -> float:
    return float((table["pairs"] * (table["mean_probability"] - table["rate"]).abs()).sum() / table["pairs"].sum())


def _rate_interval(positives, pairs) -> np.ndarray:
    """Wilson 95% half-widths (lower, upper) around positives / pairs."""
    pairs = np.asarray(pairs, dtype=float)
    rate, z = np.asarray(positives, dtype=float) / pairs, 1.96
    centre = (rate + z * z / (2 * pairs)) / (1 + z * z / pairs)
    half = z * np.sqrt(rate * (1 - rate) / pairs + z * z / (4 * pairs * pairs)) / (1 + z * z / pairs)
    return np.vstack([np.maximum(rate - (centre - half), 0), np.maximum(centre + half - rate, 0)])


def plot_positive_rate_grid(grid: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    levels = sorted(grid["level"].unique())
    for level in levels:
        g = grid[(grid["level"] == level) & (grid["pairs"] >= 20)].sort_values("score_bin")
        name = ["low", "middle", "high"][level] if len(levels) == 3 else str(level)
        ax.errorbar(g["mean_probability"], g["rate"], yerr=_rate_interval(g["positives"].to_numpy(),
                                                                          g["pairs"].to_numpy()),
                    marker="o", capsize=3, label=f"{name} uncertainty")
    top = float(max(grid["rate"].max(), grid["mean_probability"].max())) * 1.05
    ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--", label="rate = probability")
    ax.set_xlabel("calibrated probability from the score (bin mean)")
    ax.set_ylabel("observed positive rate (test pairs)")
    return _finish(fig, ax, title, path)


def _finish(fig, ax, title: str, path: str | Path) -> Path:
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_reliability(curves: dict[str, pd.DataFrame], path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.2))
    top = 0.0
    for name, table in curves.items():
        ax.plot(table["mean_probability"], table["rate"], marker="o",
                label=f"{name} (ECE {expected_calibration_error(table):.3f})")
        top = max(top, float(table["mean_probability"].max()), float(table["rate"].max()))
    ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--", label="perfect")
    ax.set_xlabel("predicted probability (bin mean)")
    ax.set_ylabel("observed positive rate (test pairs)")
    return _finish(fig, ax, title, path)


# ------------------------------------------------------------------------------------- a run's judge, reported
def coherence_report(judge: CoherenceJudge, split: TemporalSplit, part: str, lists: CandidateListConfig,
                     out_dir: str | Path, precisions=(0.8, 0.9), resamples: int = 100) -> dict:
    """The judge of a run on `part`'s honest lists: the decision table (global vs per-level cuts chosen on the valid
    lists, for `precisions` and the judge's own target), the rule as served, the positive rate per (probability bin
    x uncertainty level), reliability, the spread's effect at equal score; writes positive_rate.png and
    reliability.png into `out_dir`. The lists are built like the judge's own (`lists`, the run's seed)."""
    out_dir = Path(out_dir)
    calibration, ensemble = judge.rule.calibration, judge.ensemble
    valid_lists = build_candidate_lists(split, "valid", lists)
    valid_scores, valid_labels = ensemble.list_scores(valid_lists)
    part_lists = valid_lists if part == "valid" else build_candidate_lists(split, part, lists)
    scores, labels = ensemble.list_scores(part_lists)
    n_lists = int(np.count_nonzero(labels))  # one positive per list
    if not n_lists or not valid_labels.any():
        return {"part": part, "pairs": len(labels), "skipped": "no complete candidate lists"}
    groups = np.repeat(ensemble.list_queries(part_lists), len(labels) // n_lists)
    targets = tuple(sorted({*precisions, judge.rule.target_precision}))
    table = decision_table(calibration, valid_scores, valid_labels, scores, labels, targets, groups)
    assessed = calibration.assess(scores)
    served = judge.rule.decide(scores)
    precision, recall, flagged = precision_recall(served["coherent"], labels)
    edges = np.quantile(calibration.assess(valid_scores)["probability"], PROBABILITY_BIN_QUANTILES)
    grid = positive_rate_grid(assessed, labels, edges)
    curves = {"P(coherent | score)": reliability(assessed["probability"], labels),
              "P(coherent | score, level)": reliability(assessed["level_probability"], labels)}
    plots = {"positive_rate": plot_positive_rate_grid(grid, out_dir / "positive_rate.png",
                                                      f"{part} pairs: positive rate by score and uncertainty"),
             "reliability": plot_reliability(curves, out_dir / "reliability.png", f"{part} pairs (coherence judge)")}
    try:
        effect = spread_effect(assessed, labels, groups, resamples=resamples)
    except ValueError:  # a resample with one class only (tiny data)
        effect = None
    return {"part": part, "pairs": len(labels), "lists": n_lists, "base_rate": float(labels.mean()),
            "members": len(ensemble.members), "levels": len(calibration.level_probability),
            "served": {"target_precision": judge.rule.target_precision, "probability_cut": judge.rule.level_cut,
                       "level_thresholds": judge.rule.level_thresholds(), "precision": precision, "recall": recall,
                       "flagged": flagged},
            "decisions": table.to_dict("records"), "positive_rate_grid": grid.to_dict("records"),
            "probability_edges": edges.tolist(),
            "ece": {name: expected_calibration_error(c) for name, c in curves.items()},
            "spread_effect": effect, "plots": {k: v.name for k, v in plots.items()}}


def ranking_rule_report(judge: CoherenceJudge, score: np.ndarray, member_scores: np.ndarray, labels: np.ndarray,
                        list_sizes: Sequence[int]) -> dict:
    """What the badge shows since the ranking rule (eccr/rank/uncertainty.py RankingRule), against the judge's own
    rule, on the same pairs of a part's honest lists (`score`: the coherent blend's, `member_scores`: the ensemble's,
    lists contiguous, positive first): precision and recall of the verdict, calibration error and ROC AUC of the
    probability, and the share of candidate pairs within a list that the probability orders as the ranking does."""
    from sklearn.metrics import roc_auc_score

    own = judge.rule.decide(member_scores)
    served = judge.ranking_rule.decide(score, own["uncertainty"])
    rows = {"score that ranks (served)": (served, served["probability"]),  # what CoherenceJudge.judge shows
            "ensemble mean (the judge's own rule)": (own, own["level_probability"])}
    starts = np.r_[0, np.cumsum(list_sizes)[:-1]]
    out = {"pairs": len(labels), "lists": len(list_sizes), "target_precision": judge.ranking_rule.target_precision,
           "rules": {}}
    for name, (decided, probability) in rows.items():
        precision, recall, flagged = precision_recall(decided["coherent"], labels)
        agree = total = 0
        for start, size in zip(starts, list_sizes):
            p, s = probability[start:start + size], score[start:start + size]
            dp, ds = np.sign(p[:, None] - p[None, :]), np.sign(s[:, None] - s[None, :])
            total += int(np.count_nonzero(ds)) // 2
            agree += int(np.count_nonzero((dp == ds) & (ds != 0))) // 2
        out["rules"][name] = {"precision": precision, "recall": recall, "flagged": flagged,
                              "ece": expected_calibration_error(reliability(probability, labels)),
                              "auc": float(roc_auc_score(labels, probability)) if 0 < labels.sum() < len(labels)
                              else float("nan"),
                              "order_agreement": agree / total if total else float("nan")}
    return out


def ranking_rule_markdown(report: dict, part: str) -> str:
    lines = [(f"The badge as served reads the score that ranks (the coherent blend; `{RANKING_RULE_FILE}`, fitted on the "
             f"blend's valid lists) with the ensemble's uncertainty level. Both rules on the same {report['pairs']} "
             f"{part} pairs ({report['lists']} lists), verdict at target precision {report['target_precision']:g}; "
             "order agreement = share of candidate pairs of a list that the probability orders as the ranking:"), "",
             "| probability from | precision | recall | called coherent | ECE | AUC | order agreement |",
             "|---|---|---|---|---|---|---|"]
    for name, r in report["rules"].items():
        lines.append(f"| {name} | {_number(r['precision'])} | {_number(r['recall'])} | {r['flagged']} | "
                     f"{r['ece']:.4f} | {_number(r['auc'])} | {_number(r['order_agreement'])} |")
    return "\n".join(lines) + "\n\n"


def _number(value, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def coherence_markdown(report: dict) -> str:
    """The report section for `coherence_report`'s result."""
    part = report["part"]
    lines = ["## Is it a coherent complement? (the run's coherence judge)", ""]
    if report.get("skipped"):
        return "\n".join(lines + [f"Not measured on the {part} part: {report['skipped']}.", ""]) + "\n"
    if report.get("ranking_rule"):
        lines.append(ranking_rule_markdown(report["ranking_rule"], part).rstrip("\n") + "\n")
    served = report["served"]
    lines += [(f"{report['members']} complement scorers on bootstrap resamples, calibrated on the valid lists, "
              f"{report['levels']} uncertainty levels (eccr/rank/uncertainty.py). {report['pairs']} {part} pairs "
              f"({report['lists']} honest lists, base rate {report['base_rate']:.3f}). As served (per-level cut at "
              f"target precision {served['target_precision']:g}): precision {_number(served['precision'])}, "
              f"recall {_number(served['recall'])}, {served['flagged']} pairs called coherent."), "",
              (f"Cuts chosen on the valid lists, applied to the {part} lists (recall gain = per level minus global, "
              "95% interval over queries):"), "",
              (f"| target | rule | valid P | valid R | {part} P | {part} R | flagged | recall gain 95% | "
              "thresholds on the score |"), "|---|---|---|---|---|---|---|---|---|"]
    for r in report["decisions"]:
        gain = "[{:+.3f}, {:+.3f}]".format(*r["recall_gain_95"]) if r.get("recall_gain_95") else ""
        lines.append(f"| {r['target']:g} | {r['rule']} | {_number(r['valid_precision'])} | "
                     f"{_number(r['valid_recall'])} | {_number(r['test_precision'])} | {_number(r['test_recall'])} | "
                     f"{r['test_flagged']} | {gain} | {r['score_thresholds']} |")
    levels = sorted({g["level"] for g in report["positive_rate_grid"]})
    lines += ["", (f"Observed positive rate per probability bin (from the score alone) and uncertainty level, {part} "
              "pairs [rate (pairs)]:"), "", "| bin | mean P | " + " | ".join(f"level {lv}" for lv in levels) + " |",
              "|---|---|" + "---|" * len(levels)]
    grid = {(g["score_bin"], g["level"]): g for g in report["positive_rate_grid"]}
    for b in sorted({k[0] for k in grid}):
        cells = [grid.get((b, lv)) for lv in levels]
        mean_p = np.average([c["mean_probability"] for c in cells if c], weights=[c["pairs"] for c in cells if c])
        lines.append(f"| {b} | {mean_p:.3f} | " + " | ".join(f"{c['rate']:.3f} ({c['pairs']})" if c else "-"
                                                             for c in cells) + " |")
    effect = report.get("spread_effect")
    lines += [""]
    if effect:
        lines.append(f"Spread effect at equal score (log-odds per SD of uncertainty; negative = the keynote's "
                     f"effect): {effect['coefficient']:+.3f} [{effect['low']:+.3f}, {effect['high']:+.3f}].")
    lines.append("Calibration error (ECE): " + ", ".join(f"{k} {v:.4f}" for k, v in report["ece"].items()) + ".")
    lines += ["", f"![positive rate]({report['plots']['positive_rate']})",
              f"![reliability]({report['plots']['reliability']})", ""]
    return "\n".join(lines) + "\n"
