"""Ranking metrics with a stated tie rule, macro averages and bootstrap confidence intervals.

Everything is computed from the 1-based ranks of each query's positives:
- **Tie rule (pessimistic):** among equal scores, non-relevant candidates rank first. A positive's rank is
  1 + #(negatives scoring >= it) + #(positives scoring > it) + #(equal-scoring positives listed before it).
  A constant scorer therefore ranks every positive last and never gets a free perfect score.
- HR@K: 1 if any positive is in the top K. Recall@K: positives in the top K / number of positives.
- NDCG@K (binary gains, several positives allowed): sum over positives with rank <= K of 1/log2(1 + rank),
  divided by the ideal DCG, sum_{i=1..min(P, K)} 1/log2(1 + i). "NDCG" without K ranks the whole list
  (Lake et al. §5.3, Figure 2).
- MRR: 1 / rank of the best-ranked positive.
A positive that was never ranked (outside a retrieved top-k list) has rank +inf: it counts as a miss.
Per-query values are macro-averaged (each query weighs the same); intervals are percentile bootstraps over queries
from `bootstrap_ratios`, the one bootstrap of the project (the human evaluation resamples queries with it too).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_METRIC_NAME = re.compile(r"^(HR|NDCG|Recall|MRR)(?:@(\d+))?$")


def positive_ranks(scores, relevant) -> np.ndarray:
    """1-based pessimistic ranks of the relevant candidates of one query (in candidate order).

    scores: (n,) higher = better; relevant: (n,) bool. NaN scores raise ValueError.
    """
    s = np.asarray(scores, dtype=np.float64)
    rel = np.asarray(relevant, dtype=bool)
    if s.ndim != 1 or s.shape != rel.shape:
        raise ValueError(f"scores {s.shape} and relevance {rel.shape} must be 1-D and of equal length")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN; a scorer must return a number for every candidate")
    pos, neg = s[rel], s[~rel]
    if pos.size == 0:
        return np.empty(0)
    neg_sorted = np.sort(neg)
    # negatives with score >= each positive
    beaten_by_neg = neg.size - np.searchsorted(neg_sorted, pos, side="left")
    # positives strictly better, plus equal ones listed earlier (order among positives does not change metrics)
    order = np.lexsort((np.arange(pos.size), -pos))
    ahead_among_pos = np.empty(pos.size, dtype=np.int64)
    ahead_among_pos[order] = np.arange(pos.size)
    return (1 + beaten_by_neg + ahead_among_pos).astype(np.float64)


def pad_ranks(per_query_ranks: Sequence[np.ndarray], n_positives: Sequence[int] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Stack ragged rank arrays into (n_queries, max_positives) with +inf padding, plus positive counts.

    `n_positives` defaults to each array's length; pass it when some positives were never ranked.
    """
    counts = np.asarray([len(r) for r in per_query_ranks] if n_positives is None else n_positives, dtype=np.int64)
    width = max([len(r) for r in per_query_ranks] + [1])
    ranks = np.full((len(per_query_ranks), width), np.inf)
    for i, r in enumerate(per_query_ranks):
        ranks[i, :len(r)] = r
    return ranks, counts


def parse_metric(name: str) -> tuple[str, int | None]:
    m = _METRIC_NAME.match(name)
    if not m:
        raise ValueError(f"unknown metric {name!r}; use HR@K, NDCG, NDCG@K, Recall@K or MRR")
    kind, k = m.group(1), (int(m.group(2)) if m.group(2) else None)
    if kind in ("HR", "Recall") and k is None:
        raise ValueError(f"{kind} needs a cutoff, e.g. {kind}@10")
    if k is not None and k < 1:
        raise ValueError(f"cutoff must be >= 1 in {name!r}")
    return kind, k


def _ideal_dcg(n_positives: np.ndarray, k: int | None) -> np.ndarray:
    top = n_positives if k is None else np.minimum(n_positives, k)
    discounts = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, int(top.max(initial=0)) + 2)))])
    return discounts[top]


def metrics_from_ranks(ranks, n_positives, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-query metric values from padded positive ranks (see `pad_ranks`); vectorised over queries."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.ndim == 1:
        ranks = ranks[:, None]
    n_pos = np.asarray(n_positives, dtype=np.int64)
    if ranks.shape[0] != n_pos.shape[0]:
        raise ValueError(f"{ranks.shape[0]} rank rows but {n_pos.shape[0]} positive counts")
    if (n_pos < 1).any():
        raise ValueError(f"query {int(np.argmax(n_pos < 1))} has no positives; ranking metrics are undefined")
    out: dict[str, np.ndarray] = {}
    for name in names:
        kind, k = parse_metric(name)
        in_top = np.isfinite(ranks) if k is None else ranks <= k
        if kind == "HR":
            out[name] = in_top.any(axis=1).astype(np.float64)
        elif kind == "Recall":
            out[name] = in_top.sum(axis=1) / n_pos
        elif kind == "MRR":
            out[name] = 1.0 / ranks.min(axis=1)
        else:  # NDCG
            gains = np.where(in_top, 1.0 / np.log2(1.0 + np.where(np.isfinite(ranks), ranks, 1.0)), 0.0)
            out[name] = gains.sum(axis=1) / _ideal_dcg(n_pos, k)
    return out


def ranking_metrics(scores_per_query: Sequence, relevant_per_query: Sequence,
                    names: Sequence[str]) -> dict[str, np.ndarray]:
    """Convenience: per-query metrics from ragged (scores, relevance) lists."""
    if len(scores_per_query) != len(relevant_per_query):
        raise ValueError("need one relevance vector per score vector")
    ranks, counts = pad_ranks([positive_ranks(s, r) for s, r in zip(scores_per_query, relevant_per_query)])
    return metrics_from_ranks(ranks, counts, names)


def positive_first_metrics(scores_per_list: Sequence, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-list metrics for lists whose candidate 0 is the one positive (the honest candidate lists: positive,
    then its negatives), ties against the system. `scores_per_list`: ragged 1-D score arrays or a 2-D array."""
    return ranking_metrics(scores_per_list, [np.arange(len(s)) == 0 for s in scores_per_list], names)


@dataclass
class MetricSummary:
    mean: float
    ci_low: float
    ci_high: float
    n: int  # queries averaged

    def as_dict(self) -> dict:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


def bootstrap_ratios(sums, counts=None, resamples: int = 1000, seed: int = 0,
                     max_cells: int = 4_000_000) -> np.ndarray:
    """Bootstrap replicates of sum(sums) / sum(counts) over units (queries) drawn with replacement.

    The one bootstrap of the project: ranking metrics (a macro mean is the ratio with `counts` = 1 per query) and
    the human evaluation (a rate over a query's rated pairs) both resample queries with it. `sums` (and
    `counts`, same shape, default 1 per unit) may be (n,) or (n, m): m statistics resampled with the same unit
    indices (a paired bootstrap). Returns (resamples,) or (resamples, m); a resample whose counts add up to 0
    gives NaN. The same seed and n give the same resampled units, whatever `sums` holds, so statistics computed
    in separate calls are paired too. Indices are drawn in memory-bounded blocks of at most `max_cells` cells.
    """
    sums = np.asarray(sums, dtype=np.float64)
    counts = None if counts is None else np.asarray(counts, dtype=np.float64)
    if counts is not None and counts.shape != sums.shape:
        raise ValueError(f"sums {sums.shape} and counts {counts.shape} must have the same shape")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    n = sums.shape[0]
    block = max(1, max_cells // max(sums.size, 1))
    out = []
    for start in range(0, resamples, block):
        idx = rng.integers(0, n, size=(min(block, resamples - start), n))
        if counts is None:
            out.append(sums[idx].mean(axis=1))
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                out.append(sums[idx].sum(axis=1) / counts[idx].sum(axis=1))
    return np.concatenate(out, axis=0)


def percentile_interval(replicates, confidence: float = 0.95) -> tuple:
    """Two-sided percentile interval of bootstrap replicates along axis 0 (NaN replicates ignored)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    alpha = (1 - confidence) / 2
    low, high = np.nanquantile(np.asarray(replicates, dtype=np.float64), [alpha, 1 - alpha], axis=0)
    return low, high


def bootstrap_ci(values, resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> MetricSummary:
    """Macro mean of per-query values with a percentile bootstrap interval over queries."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError("bootstrap_ci needs a non-empty 1-D array of per-query values")
    low, high = percentile_interval(bootstrap_ratios(v, resamples=resamples, seed=seed), confidence)
    return MetricSummary(float(v.mean()), float(low), float(high), int(v.size))


@dataclass
class PairedComparison:
    """System A minus system B on the same queries."""

    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float  # two-sided bootstrap p-value of "no difference"
    n: int

    def as_dict(self) -> dict:
        return {"mean_difference": self.mean_difference, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "p_value": self.p_value, "n": self.n}


def paired_bootstrap(values_a, values_b, resamples: int = 1000, confidence: float = 0.95,
                     seed: int = 0) -> PairedComparison:
    """Paired percentile bootstrap of mean(A) - mean(B): both systems are resampled with the same queries.

    p-value = 2 * min(share of resampled differences <= 0, share >= 0), capped at 1 (the percentile-interval
    test: p < 1 - confidence exactly when the interval excludes 0).
    """
    a, b = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired comparison needs equal-length non-empty 1-D arrays, got {a.shape} and {b.shape}")
    diffs = bootstrap_ratios(a - b, resamples=resamples, seed=seed)
    low, high = percentile_interval(diffs, confidence)
    p = min(1.0, 2 * min(float((diffs <= 0).mean()), float((diffs >= 0).mean())))
    return PairedComparison(float((a - b).mean()), float(low), float(high), p, int(a.size))
