"""Temporal splits and held-out complement queries, reproducible from a seed.

Models are judged on later periods, so every split here is by time: sessions (and the bundles in them) before
the validation cutoff train, the next slice validates (model selection, early stopping), the last slice tests.
The catalogue is shared by all parts: a shop knows its items before anyone buys them, which is what makes the
test part mostly cold-start.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eccr.data.schema import NO_TIMESTAMP, Behaviour, Bundles, ComplementPairs, Dataset


@dataclass
class TemporalSplit:
    train: Dataset
    valid: Dataset
    test: Dataset
    valid_start: int  # unix seconds: sessions at or after this are validation
    test_start: int   # sessions at or after this are test


def _session_times(ds: Dataset) -> pd.Series:
    ev = ds.behaviour.events
    times = ev.groupby("session_id")["timestamp"].max()
    if len(ds.bundles.rows):
        times = times.combine_first(ds.bundles.rows.groupby("session_id")["timestamp"].max())
    return times


def whole_name(name: str) -> str:
    """The name of the dataset a part was cut from: "demo" for "demo:train" (`_subset` names the parts)."""
    return name.partition(":")[0]


def _subset(ds: Dataset, sessions: set[str], tag: str) -> Dataset:
    ev = ds.behaviour.events
    b = ds.bundles.rows
    return Dataset(name=f"{ds.name}:{tag}", catalog=ds.catalog,
                   behaviour=Behaviour(ev[ev["session_id"].isin(sessions)]),
                   bundles=Bundles(b[b["session_id"].isin(sessions)]),
                   pairs=ComplementPairs(ds.pairs.rows) if tag == "train" else ComplementPairs(ds.pairs.rows.iloc[:0]),
                   dropped=ds.dropped, source=ds.source)


def temporal_split(ds: Dataset, valid_fraction: float = 0.1, test_fraction: float = 0.2) -> TemporalSplit:
    """Cut at time quantiles of the timestamped sessions; untimed sessions go to train.

    Sessions on the cutoff day all go to the later part, so no day is split between parts.
    Explicit pairs without time (also-bought lists) stay in train.
    """
    if not 0 <= valid_fraction < 1 or not 0 < test_fraction < 1 or valid_fraction + test_fraction >= 1:
        raise ValueError("fractions must satisfy 0 <= valid, 0 < test and valid + test < 1")
    times = _session_times(ds)
    timed = times[times != NO_TIMESTAMP]
    if timed.empty:
        raise ValueError(f"{ds.name}: no timestamped sessions, a temporal split is impossible")
    test_start = int(np.quantile(timed.values, 1 - test_fraction, method="higher"))
    valid_start = int(np.quantile(timed.values, 1 - test_fraction - valid_fraction, method="higher"))
    valid_start = min(valid_start, test_start)
    train = set(times.index[(times < valid_start)])
    valid = set(times.index[(times >= valid_start) & (times < test_start)])
    test = set(times.index[times >= test_start])
    return TemporalSplit(_subset(ds, train, "train"), _subset(ds, valid, "valid"), _subset(ds, test, "test"),
                         valid_start, test_start)


def heldout_queries(ds: Dataset, seed: int = 0, max_queries: int | None = None,
                    titled_only: bool = True) -> pd.DataFrame:
    """Complement queries from bundles: each bundle item in turn is the query, the other items the answers.

    Returns columns query, positives (list), bundle_id, session_id, intent, timestamp; shuffled by `seed` and
    cut to `max_queries`. With `titled_only`, items without a title are neither queries nor answers (nothing
    can be said about them).
    """
    rows = ds.bundles.rows
    if titled_only:
        titled = set(ds.catalog.items.loc[ds.catalog.items["title"].str.len() > 0, "item_id"])
        rows = rows[rows["item_id"].isin(titled)]
    records = []
    for bundle_id, group in rows.groupby("bundle_id", sort=True):
        items = list(dict.fromkeys(group["item_id"]))
        if len(items) < 2:
            continue
        first = group.iloc[0]
        for q in items:
            records.append((q, [i for i in items if i != q], bundle_id, first["session_id"], first["intent"],
                            int(first["timestamp"])))
    out = pd.DataFrame(records, columns=["query", "positives", "bundle_id", "session_id", "intent", "timestamp"])
    out = out.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return out.head(max_queries) if max_queries else out


class UserHistories:
    """A user's items strictly before a session's time, most recent last. Evaluation builds it from every part
    of the split (a user's past at query time is legitimately known); training from the train part only."""

    def __init__(self, split: TemporalSplit | Dataset | list[Dataset]):
        parts = ([split.train, split.valid, split.test] if isinstance(split, TemporalSplit)
                 else [split] if isinstance(split, Dataset) else list(split))
        events = pd.concat([p.behaviour.events for p in parts], ignore_index=True)
        events = events.sort_values(["timestamp", "session_id"], kind="stable")
        self.session_user = dict(zip(events["session_id"], events["user_id"]))
        self.by_user = {u: (g["timestamp"].to_numpy(), g["item_id"].tolist())
                        for u, g in events.groupby("user_id", sort=False)}

    def before(self, session_id: str, timestamp: int, limit: int) -> list[str]:
        user = self.session_user.get(session_id)
        if user is None or limit <= 0:
            return []
        times, items = self.by_user[user]
        earlier = items[:int(np.searchsorted(times, timestamp, side="left"))]
        unique = list(dict.fromkeys(reversed(earlier)))[:limit]  # most recent occurrence wins
        return unique[::-1]
