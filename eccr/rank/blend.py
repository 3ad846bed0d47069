"""The final ranking score: a logistic-regression blend of every signal we have, fitted on the VALID part.

No single signal wins everywhere (measured): co-occurrence is strong where items repeat and useless for cold
items; text cosine finds substitutes; a category-pair prior knows camera → battery at the type level but not
which battery fits; the compatibility flag knows which battery fits ("for Canon LP-E10 … Rebel T7") but only
when titles say so; the attention-CF ranker and the directed towers generalise from features. So the rank
level (eccr/rank/candidates.py) scores each candidate with all of them and a logistic regression, fitted on
ECCR-style candidate lists of the valid part (a positive bundle partner among co-bought, substitute and random
negatives), learns how much each counts — e.g. a negative weight for text similarity, which is how substitutes
get pushed down.
Features are standardised with the training means/stds; the weights are saved as JSON.
"""
from __future__ import annotations

import json
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


@dataclass
class Blend:
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def score(self, features: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(features.values())))
        total = np.zeros(n)
        for name, w in self.weights.items():
            x = np.nan_to_num(np.asarray(features[name], dtype=np.float64), nan=0.0, neginf=-10.0, posinf=10.0)
            if name in self.mean:
                x = (x - self.mean[name]) / (self.std[name] or 1.0)
            else:  # unfitted blend: z-score within the list
                x = (x - x.mean()) / (x.std() or 1.0)
            total += w * x
        return total

    @classmethod
    def fit(cls, features: dict[str, np.ndarray], labels: np.ndarray, c: float = 1.0, seed: int = 0) -> Blend:
        from sklearn.linear_model import LogisticRegression

        names = [f for f in ALL_FEATURES if f in features]
        x = np.column_stack([np.nan_to_num(np.asarray(features[f], np.float64), nan=0.0, neginf=-10.0, posinf=10.0)
                             for f in names])
        mean, std = x.mean(0), x.std(0)
        std[std == 0] = 1.0
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
        model.fit((x - mean) / std, labels)
        return cls(weights={f: float(w) for f, w in zip(names, model.coef_[0])},
                   mean={f: float(m) for f, m in zip(names, mean)}, std={f: float(s) for f, s in zip(names, std)},
                   info={"examples": len(labels), "positives": int(labels.sum()), "C": c})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"weights": self.weights, "mean": self.mean, "std": self.std,
                                          "info": self.info}, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Blend:
        raw = json.loads(Path(path).read_text())
        unknown = set(raw.get("weights", {})) - set(ALL_FEATURES)
        if unknown:
            raise ValueError(f"{path}: unknown blend features {sorted(unknown)}")
        return cls(raw["weights"], raw.get("mean", {}), raw.get("std", {}), raw.get("info", {}))
