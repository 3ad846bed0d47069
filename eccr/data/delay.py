"""Delayed feedback: the complement of a purchase may be bought later, so in a temporal split the newest examples'
labels are incomplete (a recent "negative" may still become a positive).

Rastogi's keynote ('Directed graphs, delayed feedback and prediction uncertainty', Amazon Science, part "Delayed
feedback"; ../shared/papers/directed-graphs-delayed-feedback-uncertainty.txt) weighs every training example by
P(x, y) / Q(x, y), the true over the observed distribution, where the weight is low for a negative that is likely
to turn positive. With p(x) the chance that x converts at all and S(a) the chance that a conversion takes longer
than a (the delay's survival, estimated on examples old enough for their labels to have settled), an example of age
a is observed positive with chance p (1 - S(a)) and observed negative with chance 1 - p + p S(a), so

    w(positive, a) = 1 / (1 - S(a))                  w(negative, a) = (1 - p) / (1 - p + p S(a))

(the feedback-shift importance weights of Yasui et al., 'A feedback shift correction in predicting conversion
rates under delayed feedback', WWW 2020). Here:
- `complement_delays`: the delay from a user's purchase of a to their purchase of a complement b, on any dataset
  (scripts/measure_delay.py measures it on the real data, where 99.9% of complement pairs share a session);
- `DelayModel`: p and S fitted on matured examples; `importance_weights` for training examples of given ages;
- `PlantedDelays` + `compare_label_policies`: planted delays (and a drifting rate) where the right answer is known,
  and the three ways to treat recent examples: as observed, dropped (the last N days), weighted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY = 86400.0


def complement_delays(events: pd.DataFrame, pairs: pd.DataFrame, key: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per (user, a, key(b)) with (key(a), key(b)) among `pairs` (columns source, target) and b bought by
    the user no earlier than a: days from the user's first a to their first such b, and whether one session holds
    both. `key` maps an item to what the pairs name (None: the item itself); undated events are left out."""
    ev = events[["user_id", "session_id", "item_id", "timestamp"]].copy()
    ev["key"] = ev["item_id"].map(key) if key is not None else ev["item_id"]
    ev = ev.dropna(subset=["key"])
    ev = ev[ev["timestamp"] >= 0].sort_values("timestamp").drop_duplicates(["user_id", "item_id"])
    joined = ev.merge(ev, on="user_id", suffixes=("_a", "_b"))
    joined = joined[(joined["item_id_a"] != joined["item_id_b"]) & (joined["timestamp_b"] >= joined["timestamp_a"])]
    joined = joined.merge(pairs[["source", "target"]].drop_duplicates(), left_on=["key_a", "key_b"],
                          right_on=["source", "target"])
    joined = joined.assign(delay_days=(joined["timestamp_b"] - joined["timestamp_a"]) / DAY,
                           same_session=joined["session_id_a"] == joined["session_id_b"])
    first = joined.sort_values("delay_days").drop_duplicates(["user_id", "item_id_a", "key_b"])
    return first[["user_id", "item_id_a", "item_id_b", "delay_days", "same_session"]].reset_index(drop=True)


@dataclass
class DelayModel:
    """The conversion rate within `horizon_days` and the delays of those conversions, from matured examples."""

    conversion_rate: float
    delays: np.ndarray          # sorted delays (days) of the matured examples that converted
    horizon_days: float

    @classmethod
    def fit(cls, age_days: np.ndarray, delay_days: np.ndarray, horizon_days: float) -> DelayModel:
        """`age_days`: time from each example to the end of the data; `delay_days`: its observed conversion delay
        (nan = none yet). Only examples at least `horizon_days` old are used: their labels have settled."""
        matured = np.asarray(age_days) >= horizon_days
        delay = np.asarray(delay_days, dtype=float)[matured]
        converted = np.isfinite(delay) & (delay <= horizon_days)
        rate = float(converted.mean()) if matured.any() else 0.0
        return cls(rate, np.sort(delay[converted]), float(horizon_days))

    def survival(self, age_days) -> np.ndarray:
        """S(a) = P(delay > a | converts within the horizon); 0 past the horizon."""
        age = np.asarray(age_days, dtype=float)
        if not len(self.delays):
            return np.zeros_like(age)
        return np.where(age >= self.horizon_days, 0.0,
                        1.0 - np.searchsorted(self.delays, age, side="right") / len(self.delays))


def importance_weights(labels: np.ndarray, age_days: np.ndarray, model: DelayModel, conversion=None,
                       max_weight: float = 10.0) -> np.ndarray:
    """P/Q per example (see the module docstring). `conversion`: p(x) per example (default: the model's rate).
    Positive weights are capped at `max_weight` (a positive seen at age ~0 when S(0) ~ 1 would get a huge one)."""
    s = model.survival(age_days)
    p = np.full(len(s), model.conversion_rate) if conversion is None else np.asarray(conversion, dtype=float)
    positive = np.minimum(1.0 / np.maximum(1.0 - s, 1e-9), max_weight)
    negative = (1.0 - p) / np.maximum(1.0 - p + p * s, 1e-9)
    return np.where(np.asarray(labels) == 1, positive, negative)


# ------------------------------------------------------------------------------------ planted delays, known answer
@dataclass
class PlantedDelays:
    """Kinds of example, each with a conversion rate that moves linearly by +-`trend` (relative) over `days`, and
    an exponential conversion delay of its own mean."""

    rates: dict[str, float]
    mean_delay_days: dict[str, float]
    days: float = 180.0
    trend: float = 0.0

    def rate(self, kind: str, time_days) -> np.ndarray:
        return self.rates[kind] * (1 + self.trend * (2 * np.asarray(time_days, dtype=float) / self.days - 1))

    def truth(self, kind: str, time_days: float, horizon_days: float) -> float:
        """The chance that an example of `kind` at `time_days` converts within the horizon."""
        return float(self.rate(kind, time_days) * (1 - np.exp(-horizon_days / self.mean_delay_days[kind])))

    def simulate(self, n: int, seed: int = 0) -> pd.DataFrame:
        """Columns kind, time_days, delay_days (nan if it never converts)."""
        rng = np.random.default_rng(seed)
        kinds = np.array(list(self.rates))
        kind = kinds[rng.integers(0, len(kinds), n)]
        time = rng.uniform(0, self.days, n)
        rate = np.array([self.rate(k, t) for k, t in zip(kind, time)])
        mean = np.array([self.mean_delay_days[k] for k in kind])
        delay = np.where(rng.random(n) < rate, rng.exponential(mean), np.nan)
        return pd.DataFrame({"kind": kind, "time_days": time, "delay_days": delay})


def compare_label_policies(examples: pd.DataFrame, cut_days: float, horizon_days: float, window_days: float,
                           drop_days: float) -> pd.DataFrame:
    """Each kind's chance to convert within the horizon, estimated from what is observed at `cut_days` on the
    last `window_days` of examples, three ways: (1) labels as observed; (2) the window moved back by `drop_days`
    (labels settled, data older); (3) as observed, weighted by P/Q, with p and S per kind fitted on the examples
    older than the horizon. Rows: kind, then per policy the estimate and the examples it uses."""
    seen = examples[examples["time_days"] < cut_days]
    age = cut_days - seen["time_days"].to_numpy()
    delay = seen["delay_days"].to_numpy()
    observed = (np.isfinite(delay) & (delay <= np.minimum(age, horizon_days))).astype(int)
    kinds = seen["kind"].to_numpy()
    weights = np.ones(len(seen))
    for kind in np.unique(kinds):
        mask = kinds == kind
        model = DelayModel.fit(age[mask], np.where(observed[mask] == 1, delay[mask], np.nan), horizon_days)
        weights[mask] = importance_weights(observed[mask], age[mask], model)
    rows = []
    for kind in np.unique(kinds):
        recent = (kinds == kind) & (age < window_days)
        older = (kinds == kind) & (age >= drop_days) & (age < drop_days + window_days)
        rows.append({"kind": str(kind),
                     "as_observed": float(observed[recent].mean()), "as_observed_n": int(recent.sum()),
                     "drop_recent": float(observed[older].mean()), "drop_recent_n": int(older.sum()),
                     "weighted": float(np.average(observed[recent], weights=weights[recent])),
                     "weighted_n": int(recent.sum())})
    return pd.DataFrame(rows)
