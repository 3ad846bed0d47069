"""Inter-rater agreement: Krippendorff's alpha in numpy (the `krippendorff` package is not a dependency).

Follows K. Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011): coincidence matrix, nominal /
ordinal / interval / ratio difference functions; tested against the worked examples of that paper.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from eccr.evaluate.human_eval.export import THREE_WAY_CHOICES


def _difference_matrix(values: np.ndarray, totals: np.ndarray, level: str) -> np.ndarray:
    """Squared difference delta^2(c, k) between sorted values (Krippendorff 2011, section E)."""
    c, k = np.meshgrid(values, values, indexing="ij")
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            d = ((c - k) / (c + k)) ** 2
        return np.nan_to_num(d)
    if level == "ordinal":
        cum = np.cumsum(totals)
        i, j = np.meshgrid(np.arange(len(values)), np.arange(len(values)), indexing="ij")
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        between = cum[hi] - cum[lo] + totals[lo]  # sum of n_g for g from lo to hi, inclusive
        return (between - (totals[lo] + totals[hi]) / 2) ** 2 * (i != j)
    raise ValueError(f"unknown level {level!r}: use nominal, ordinal, interval or ratio")


def krippendorff_alpha(reliability_data, level: str = "nominal") -> float:
    """Krippendorff's alpha for a (raters x units) array of numeric codes, NaN = not rated.

    alpha = 1 - D_o / D_e with D_o, D_e from the coincidence matrix of pairable values (units rated by at
    least two raters). Returns NaN when undefined (fewer than two pairable values, or no variation at all).
    """
    data = np.asarray(reliability_data, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"reliability data must be 2-D (raters x units), got shape {data.shape}")
    values = np.unique(data[~np.isnan(data)])
    if len(values) == 0:
        return float("nan")
    counts = np.stack([(data == v).sum(axis=0) for v in values], axis=1).astype(float)  # units x values
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    if len(counts) == 0:
        return float("nan")
    weighted = counts / (m - 1)[:, None]
    coincidence = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    totals = coincidence.sum(axis=1)
    n = totals.sum()
    delta2 = _difference_matrix(values, totals, level)
    expected = (np.outer(totals, totals) * delta2).sum()
    if expected == 0:
        return float("nan")
    return float(1.0 - (n - 1) * (coincidence * delta2).sum() / expected)



def rater_agreement(frame: pd.DataFrame) -> dict:
    """Krippendorff's alpha per answer between raters (rows = units), from the un-blinded answers frame."""
    raters = sorted(frame["rater"].unique())
    row_ids = sorted(frame["row_id"].unique())

    def matrix(column: str, codes: dict | None = None) -> np.ndarray:
        values = frame[column].map(codes) if codes else frame[column]
        table = pd.DataFrame({"rater": frame["rater"], "row_id": frame["row_id"], "v": values.astype(float)})
        return table.pivot(index="rater", columns="row_id", values="v").reindex(index=raters,
                                                                                   columns=row_ids).to_numpy()

    def clean(x: float) -> float | None:
        return None if np.isnan(x) else round(float(x), 4)

    three_way = {v: i for i, v in enumerate(THREE_WAY_CHOICES)}
    return {
        "n_raters": len(raters),
        "coherent_alpha_nominal": clean(krippendorff_alpha(matrix("coherent", {"no": 0, "yes": 1}))),
        "compatible_alpha_nominal": clean(krippendorff_alpha(matrix("compatible", three_way))),
        "relevant_alpha_nominal": clean(krippendorff_alpha(matrix("relevant", three_way))),
        "explanation_score_alpha_interval": clean(krippendorff_alpha(matrix("explanation_score"), "interval")),
        "explanation_score_alpha_ordinal": clean(krippendorff_alpha(matrix("explanation_score"), "ordinal")),
        "implementation": "numpy (eccr.evaluate.human_eval.agreement.krippendorff_alpha), Krippendorff 2011",
    }
