"""Human-evaluation statistics: per-system rates with bootstrap CIs over queries, paired differences.

A pair's coherent label is the raters' majority (ties count 1/2). Rates are ratios over pairs, and queries are the
resampled unit (a query's pairs are not independent), so every interval is a query-level (cluster) bootstrap from
eccr.evaluate.metrics, with the same resampled queries for every statistic: differences are paired.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from eccr.evaluate.human_eval.agreement import rater_agreement
from eccr.evaluate.human_eval.validate import RaterAnswer


def bootstrap_ratio(sums: np.ndarray, counts: np.ndarray, resamples: np.ndarray,
                    confidence: float = 0.95) -> dict:
    """Point estimate sum(sums)/sum(counts) and percentile CI over resampled units (rows of `resamples` hold
    unit indices). Units with count 0 contribute nothing."""
    total = counts.sum()
    if total == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = sums[resamples].sum(axis=1) / counts[resamples].sum(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(boot, [tail, 100 - tail])
    return {"value": float(sums.sum() / total), "ci_low": float(low), "ci_high": float(high), "n": int(total)}


def _answers_frame(answers: list[RaterAnswer], key: dict) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(a) for a in answers])
    rows = key["rows"]
    frame["system"] = [rows[r]["system"] for r in frame["row_id"]]
    frame["query_id"] = [rows[r]["query_id"] for r in frame["row_id"]]
    frame["item_id"] = [rows[r]["item_id"] for r in frame["row_id"]]
    frame["rank"] = [rows[r]["rank"] for r in frame["row_id"]]
    frame["coherent_yes"] = (frame["coherent"] == "yes").astype(float)
    frame["compatible_yes"] = (frame["compatible"] == "yes").astype(float)
    frame["relevant_yes"] = (frame["relevant"] == "yes").astype(float)
    frame["explanation_score"] = pd.to_numeric(frame["explanation_score"], errors="coerce").astype(float)
    frame["inconsistent"] = (frame["coherent"] == "yes") & (frame["compatible"] == "no") & \
                            (frame["relevant"] == "no")
    return frame


def _per_row(frame: pd.DataFrame) -> pd.DataFrame:
    """Aggregate raters per row. `coherent_majority` is 1/0 by majority vote, 0.5 on a tie."""
    per_row = frame.groupby("row_id").agg(
        system=("system", "first"), query_id=("query_id", "first"), n_raters=("rater", "size"),
        coherent_mean=("coherent_yes", "mean"), compatible_yes=("compatible_yes", "mean"),
        relevant_yes=("relevant_yes", "mean"), explanation_score=("explanation_score", "mean"))
    per_row["coherent_majority"] = np.sign(per_row["coherent_mean"] - 0.5) * 0.5 + 0.5
    return per_row


def _system_stats(per_row: pd.DataFrame, queries: list[str], resamples: np.ndarray) -> dict:
    query_index = {q: i for i, q in enumerate(queries)}
    stats = {}
    for column, name in (("coherent_majority", "coherent_rate"), ("coherent_mean", "coherent_rate_mean_rating"),
                         ("compatible_yes", "compatible_rate"), ("relevant_yes", "relevant_rate"),
                         ("explanation_score", "explanation_score")):
        valid = per_row[per_row[column].notna()]
        sums, counts = np.zeros(len(queries)), np.zeros(len(queries))
        idx = valid["query_id"].map(query_index).to_numpy(dtype=int)
        np.add.at(sums, idx, valid[column].to_numpy())
        np.add.at(counts, idx, 1.0)
        stats[name] = bootstrap_ratio(sums, counts, resamples)
    stats["n_pairs"] = len(per_row)
    stats["n_queries"] = int(per_row["query_id"].nunique())
    return stats


def _paired_differences(per_row: pd.DataFrame, systems: list[str], queries: list[str],
                        resamples: np.ndarray) -> list[dict]:
    """Coherent-rate difference for every pair of systems, CI from the same query resamples (paired)."""
    query_index = {q: i for i, q in enumerate(queries)}
    sums, counts = {}, {}
    for system in systems:
        rows = per_row[per_row["system"] == system]
        idx = rows["query_id"].map(query_index).to_numpy(dtype=int)
        sums[system], counts[system] = np.zeros(len(queries)), np.zeros(len(queries))
        np.add.at(sums[system], idx, rows["coherent_majority"].to_numpy())
        np.add.at(counts[system], idx, 1.0)
    out = []
    for i, a in enumerate(systems):
        for b in systems[i + 1:]:
            if counts[a].sum() == 0 or counts[b].sum() == 0:
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                boot = (sums[a][resamples].sum(1) / counts[a][resamples].sum(1)
                        - sums[b][resamples].sum(1) / counts[b][resamples].sum(1))
            low, high = np.nanpercentile(boot, [2.5, 97.5])
            out.append({"a": a, "b": b, "coherent_rate_difference": float(sums[a].sum() / counts[a].sum()
                                                                          - sums[b].sum() / counts[b].sum()),
                        "ci_low": float(low), "ci_high": float(high)})
    return out


def summarize(answers: list[RaterAnswer], key: dict, bootstrap_resamples: int = 2000,
              seed: int = 0) -> tuple[dict, pd.DataFrame]:
    """(summary, answers): the summary (= summary.json) holds per-system rates with CIs, paired differences,
    agreement and checks; answers is the un-blinded frame, one row per answer (= answers.csv)."""
    if bootstrap_resamples < 100:
        raise ValueError(f"bootstrap_resamples must be >= 100, got {bootstrap_resamples}")
    frame = _answers_frame(answers, key)
    per_row = _per_row(frame)
    queries = list(key["queries"])
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, len(queries), size=(bootstrap_resamples, len(queries)))
    systems = list(key["systems"])
    summary = {
        "export_id": key.get("export_id"), "n_queries": len(queries), "n_rows": len(key["rows"]),
        "n_answers": len(frame),
        "raters": {r: int(n) for r, n in frame["rater"].value_counts().sort_index().items()},
        "systems": {s: _system_stats(per_row[per_row["system"] == s], queries, resamples)
                    for s in systems if (per_row["system"] == s).any()},
        "differences": _paired_differences(per_row, systems, queries, resamples),
        "agreement": rater_agreement(frame),
        "checks": {"unrated_rows": len(set(key["rows"]) - set(per_row.index)),
                   "single_rated_rows": int((per_row["n_raters"] == 1).sum()),
                   "inconsistent_answers": int(frame["inconsistent"].sum())},
        "bootstrap": {"unit": "query", "resamples": bootstrap_resamples, "seed": seed, "confidence": 0.95},
    }
    return summary, frame.drop(columns=["coherent_yes", "compatible_yes", "relevant_yes"])
