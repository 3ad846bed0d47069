"""The final ranking score: a logistic-regression blend of every signal we have, fitted on the VALID part.

No single signal wins everywhere (measured): co-occurrence is strong where items repeat and useless for cold
items; text cosine finds substitutes; a category-pair prior knows camera → battery at the type level but not
which battery fits; the compatibility flag knows which battery fits ("for Canon LP-E10 … Rebel T7") but only
when titles say so; the attention-CF ranker and the directed towers generalise from features. So the rank
level (eccr/rank/candidates.py) scores each candidate with all of them and a linear model, fitted on
ECCR-style candidate lists of the valid part (a positive bundle partner among co-bought, substitute and random
negatives), learns how much each counts — e.g. a negative weight for text similarity, which is how substitutes
get pushed down.
Given the lists (`groups`), the fit is listwise: a conditional logit, softmax over each list's candidates with the
list's positives as targets, the objective the ranking is judged by; anything constant within a list (how easy the
query is) cannot pull the weights. Without lists it is a pointwise logistic regression.
Features are standardised with the training means/stds; the weights are saved as JSON.

Lists are matched on seen status, so nothing in the fit fixes how a warm candidate's score (one with behaviour in
the train part: popularity, co-occurrence and the ranker say something) compares with a cold one's: any feature
that differs between the two groups shifts one group as a whole (a positive popularity weight puts every warm item
above every cold one). So the fitted score is calibrated per group ("warm" in the features): a logistic regression
of the label on the score, classes balanced within the group, gives each group's log-odds under the same prior, and
those are what rank a pool that mixes them. Within a group the order is unchanged.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FEATURES = ("complement", "ranker", "directed", "category_prior", "co_occurrence", "text_cosine", "fused_cosine", "popularity",
            "same_leaf", "relevant", "compatible", "incompatible")
# Computed only by runs configured for them (PersonalMetricConfig.blend_feature, ComplementEncoderConfig.enabled): a
# blend fitted without them never weighs them, so runs trained before they existed rank exactly as before.
OPTIONAL_FEATURES = ("personal_metric", "tuned_cosine")
ALL_FEATURES = FEATURES + OPTIONAL_FEATURES

# What can rank a run's candidates (RecommenderConfig.ranking): the two fitted blends, and the personalised metric's
# score alone (eccr/rank/candidates.py adds it as a one-feature blend when asked).
RANKINGS = ("coherent", "bought_together", "personal_metric")

# Used before a blend is fitted (and as the documented prior): the two learned models, equally.
DEFAULT_WEIGHTS = {"ranker": 1.0, "directed": 1.0}
# Bumped when the fit changes, so `eccr train` refits blends saved by an older one (2: listwise, calibrated per group;
# 3: fused_cosine over the blocks both items have; 4: the `incompatible` flag also marks accessories of rival makers,
# games of another platform and screen sizes outside a mount's or sleeve's range, and pools take fused neighbours by
# content and 200 text neighbours; 5: the bought_together lists are pools retrieved from each seen status's items).
FIT_VERSION = 5
GROUPS = ("warm", "cold")


@dataclass
class Blend:
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    calibration: dict[str, list[float]] = field(default_factory=dict)  # group -> [slope, intercept]; empty: none

    def score(self, features: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(features.values())))
        total = np.zeros(n)
        for name, w in self.weights.items():
            x = finite_feature(features[name])
            if name in self.mean:
                x = (x - self.mean[name]) / (self.std[name] or 1.0)
            else:  # unfitted blend: z-score within the list
                x = (x - x.mean()) / (x.std() or 1.0)
            total += w * x
        if self.calibration and "warm" in features:
            warm = np.asarray(features["warm"], dtype=bool)
            (a_warm, b_warm), (a_cold, b_cold) = self.calibration["warm"], self.calibration["cold"]
            total = np.where(warm, a_warm * total + b_warm, a_cold * total + b_cold)
        return total

    @classmethod
    def fit(cls, features: dict[str, np.ndarray], labels: np.ndarray, groups: np.ndarray | None = None,
            c: float = 1.0, l2: float = 1e-3, seed: int = 0, names: Sequence[str] | None = None) -> Blend:
        """`groups`: the list each row belongs to (rows of one list contiguous) -> listwise fit with penalty
        `l2`·|w|²; None -> pointwise logistic regression (balanced classes, inverse penalty `c`). `names`: the
        columns to weigh (a probe's candidate feature too; `load` accepts only ALL_FEATURES); default: every
        blend feature in `features`."""
        names = [f for f in ALL_FEATURES if f in features] if names is None else list(names)
        x = np.column_stack([finite_feature(features[f]) for f in names])
        mean, std = x.mean(0), x.std(0)
        std[std == 0] = 1.0
        x = (x - mean) / std
        labels = np.asarray(labels, dtype=np.float64)
        info: dict = {"examples": len(labels), "positives": int(labels.sum())}
        if groups is None:
            from sklearn.linear_model import LogisticRegression

            coef = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed) \
                .fit(x, labels).coef_[0]
            info.update(objective="pointwise", C=c)
        else:
            coef, lists = _fit_listwise(x, labels, np.asarray(groups), l2)
            info.update(objective="listwise", lists=lists, l2=l2)
        calibration = {}
        if "warm" in features:
            warm = np.asarray(features["warm"], dtype=bool)
            calibration = _calibrate_groups(x @ coef, labels, warm, seed)
            info["calibrated_rows"] = {"warm": int(warm.sum()), "cold": int((~warm).sum())}
        info["version"] = FIT_VERSION
        return cls(weights={f: float(w) for f, w in zip(names, coef)},
                   mean={f: float(m) for f, m in zip(names, mean)}, std={f: float(s) for f, s in zip(names, std)},
                   info=info, calibration=calibration)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"weights": self.weights, "mean": self.mean, "std": self.std,
                                          "info": self.info, "calibration": self.calibration}, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Blend:
        raw = json.loads(Path(path).read_text())
        unknown = set(raw.get("weights", {})) - set(ALL_FEATURES)
        if unknown:
            raise ValueError(f"{path}: unknown blend features {sorted(unknown)}")
        calibration = raw.get("calibration", {})
        if calibration and set(calibration) != set(GROUPS):
            raise ValueError(f"{path}: calibration must give {GROUPS}, got {sorted(calibration)}")
        return cls(raw["weights"], raw.get("mean", {}), raw.get("std", {}), raw.get("info", {}), calibration)


def finite_feature(values) -> np.ndarray:
    """A feature column as the blend reads it: float64, a missing value (NaN) 0, infinities ±10."""
    return np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, neginf=-10.0, posinf=10.0)


def _fit_listwise(x: np.ndarray, labels: np.ndarray, groups: np.ndarray, l2: float) -> tuple[np.ndarray, int]:
    """Conditional logit: minimise the mean over positives of -log softmax(x·w within its list)[positive] + l2·|w|²
    (L-BFGS, exact gradient). Lists without a positive add nothing."""
    from scipy.optimize import minimize

    if len(groups) != len(labels):
        raise ValueError(f"groups has {len(groups)} rows, labels {len(labels)}")
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    if len(np.unique(groups)) != len(starts):
        raise ValueError("the rows of each list (group) must be contiguous")
    sizes = np.diff(np.r_[starts, len(groups)])
    positives = np.add.reduceat(labels, starts)
    n = positives.sum()

    def loss_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = x @ w
        top = np.repeat(np.maximum.reduceat(s, starts), sizes)
        e = np.exp(s - top)
        z = np.add.reduceat(e, starts)
        log_z = np.log(z) + top[starts]
        loss = (positives @ log_z - labels @ s) / n + l2 * w @ w
        weight = np.repeat(positives / z, sizes) * e - labels  # d loss / d s, times n
        return loss, x.T @ weight / n + 2 * l2 * w

    result = minimize(loss_and_grad, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B")
    return result.x, int((positives > 0).sum())


def _calibrate_groups(score: np.ndarray, labels: np.ndarray, warm: np.ndarray, seed: int) -> dict[str, list[float]]:
    """Per group, [slope, intercept] of a balanced logistic regression of the label on the score; empty when a
    group has no positive or no negative (nothing to calibrate it on: the score is used as it is)."""
    from sklearn.linear_model import LogisticRegression

    out = {}
    for group, rows in zip(GROUPS, (warm, ~warm)):
        y = labels[rows]
        if not (y > 0).any() or (y > 0).all():
            return {}
        model = LogisticRegression(class_weight="balanced", max_iter=1000, random_state=seed)
        model.fit(score[rows, None], y)
        out[group] = [float(model.coef_[0, 0]), float(model.intercept_[0])]
    return out
