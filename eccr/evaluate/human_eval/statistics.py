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
from eccr.evaluate.metrics import bootstrap_ratios, percentile_interval


def bootstrap_ratio(sums: np.ndarray, counts: np.ndarray, resamples: int = 2000, seed: int = 0,
                    confidence: float = 0.95) -> dict:
    """Point estimate sum(sums)/sum(counts) and its percentile CI over resampled units (queries), by
    eccr.evaluate.metrics.bootstrap_ratios. Units with count 0 contribute nothing."""
    total = counts.sum()
    if total == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    low, high = percentile_interval(bootstrap_ratios(sums, counts, resamples, seed), confidence)
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


def _per_query(rows: pd.DataFrame, column: str, queries: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(sums, counts) of a per-row column by query, in `queries` order; rows where it is missing are left out."""
    valid = rows[rows[column].notna()]
    idx = valid["query_id"].map({q: i for i, q in enumerate(queries)}).to_numpy(dtype=int)
    sums, counts = np.zeros(len(queries)), np.zeros(len(queries))
    np.add.at(sums, idx, valid[column].to_numpy())
    np.add.at(counts, idx, 1.0)
    return sums, counts


def _system_stats(per_row: pd.DataFrame, queries: list[str], resamples: int, seed: int) -> dict:
    stats = {}
    for column, name in (("coherent_majority", "coherent_rate"), ("coherent_mean", "coherent_rate_mean_rating"),
                         ("compatible_yes", "compatible_rate"), ("relevant_yes", "relevant_rate"),
                         ("explanation_score", "explanation_score")):
        stats[name] = bootstrap_ratio(*_per_query(per_row, column, queries), resamples, seed)
    stats["n_pairs"] = len(per_row)
    stats["n_queries"] = int(per_row["query_id"].nunique())
    return stats


def _paired_differences(per_row: pd.DataFrame, systems: list[str], queries: list[str], resamples: int,
                        seed: int) -> list[dict]:
    """Coherent-rate and mean explanation-score differences for every pair of systems; both systems' values are
    resampled with the same queries (the same seed also gives the per-system intervals their queries), so the
    intervals are paired."""
    columns = (("coherent_majority", "coherent_rate_difference", ""), ("explanation_score",
                                                                       "explanation_score_difference", "explanation_"))
    per_system = {(s, column): _per_query(per_row[per_row["system"] == s], column, queries)
                  for s in systems for column, _, _ in columns}
    out = []
    for i, a in enumerate(systems):
        for b in systems[i + 1:]:
            entry = {"a": a, "b": b}
            for column, name, prefix in columns:
                (sums_a, counts_a), (sums_b, counts_b) = per_system[a, column], per_system[b, column]
                if counts_a.sum() == 0 or counts_b.sum() == 0:
                    continue
                rates = bootstrap_ratios(np.stack([sums_a, sums_b], axis=1), np.stack([counts_a, counts_b], axis=1),
                                         resamples, seed)
                low, high = percentile_interval(rates[:, 0] - rates[:, 1], 0.95)
                entry.update({name: float(sums_a.sum() / counts_a.sum() - sums_b.sum() / counts_b.sum()),
                              f"{prefix}ci_low": float(low), f"{prefix}ci_high": float(high)})
            if "coherent_rate_difference" in entry:
                out.append(entry)
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
    systems = list(key["systems"])
    summary = {
        "export_id": key.get("export_id"), "n_queries": len(queries), "n_rows": len(key["rows"]),
        "n_answers": len(frame),
        "raters": {r: int(n) for r, n in frame["rater"].value_counts().sort_index().items()},
        "systems": {s: _system_stats(per_row[per_row["system"] == s], queries, bootstrap_resamples, seed)
                    for s in systems if (per_row["system"] == s).any()},
        "differences": _paired_differences(per_row, systems, queries, bootstrap_resamples, seed),
        "agreement": rater_agreement(frame),
        "checks": {"unrated_rows": len(set(key["rows"]) - set(per_row.index)),
                   "single_rated_rows": int((per_row["n_raters"] == 1).sum()),
                   "inconsistent_answers": int(frame["inconsistent"].sum())},
        "bootstrap": {"unit": "query", "resamples": bootstrap_resamples, "seed": seed, "confidence": 0.95},
    }
    return summary, frame.drop(columns=["coherent_yes", "compatible_yes", "relevant_yes"])
