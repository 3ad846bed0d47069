"""Candidate lists whose label can arrive late: "what will the buyer of q come back for?"

A bundle is labelled within one session, so the lists of eccr/data/candidate_lists.py are complete at every age.
These lists are not: their positive is a complement p the same user bought in a LATER session, within
`horizon_days` of q. In a temporal split the part ends before every such purchase is made, so the newest queries
are missing positives — the delayed feedback of Rastogi's keynote (part "Delayed feedback",
../shared/papers/directed-graphs-delayed-feedback-uncertainty.txt). Each list carries its age (days from q's
purchase to the end of what the part observes) and its observed delay, and every query bought in the part is kept
as an example with its first delay (or none yet), so `eccr.data.delay.DelayModel` can be fitted on the matured ones
and `delay_policy_weights` can weigh, drop or keep the recent lists.

What counts as a later complement: b bought by the same user in another session, after q and within the horizon,
with (leaf(q), leaf(b)) a directed pair of leaf categories that share a bundle (or an explicit pair) in the parts up
to this one, and leaf(b) != leaf(q) (a later same-leaf purchase is a replacement, not a complement).

The negatives follow the honesty rules of candidate_lists.py, drawn by its `_negatives`: every negative has p's
seen status, up to `max_same_leaf` items of p's leaf category at random (then category-near items), random items
for the rest; no exact-title duplicates of q, p or a known complement; known complements of q (bundles, explicit
pairs) and every item the user bought in another session later within the horizon (complement or not) are
never negatives. There are no co-bought
negatives: an item bought with q in its session was bought at once, often a complement, and is excluded rather
than called wrong.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from eccr.data.candidate_lists import (
    PARTS,
    CandidateListConfig,
    CandidateLists,
    ListDrawer,
    complement_pairs,
    parts_up_to,
    shuffled_pairs,
)
from eccr.data.categories import leaf_category
from eccr.data.delay import DAY, DelayModel, importance_weights
from eccr.data.splits import TemporalSplit

DELAY_POLICIES = ("none", "drop", "pq")


@dataclass
class LaterLists:
    """Lists of one part plus what a delay model needs. `age_days` / `delay_days` align with `lists.pairs`;
    `queries` holds every eligible query purchase of the part (user_id, item_id, age_days, delay_days = days to
    the first later complement observed, nan if none yet)."""

    lists: CandidateLists
    age_days: np.ndarray
    delay_days: np.ndarray
    queries: pd.DataFrame
    horizon_days: float


def _leaf_pairs(pairs: pd.DataFrame, leaf: dict[str, str]) -> set[tuple[str, str]]:
    """The directed (leaf, leaf) pairs of two different leaves among the complement `pairs`."""
    src, tgt = pairs["source"].map(leaf), pairs["target"].map(leaf)
    ok = src.notna() & tgt.notna() & (src != tgt) & (src != "") & (tgt != "")
    return set(zip(src[ok], tgt[ok]))


class LaterPairs:
    """Every (user, q, later complement p) with q bought in `part` (see the module docstring) and what their lists
    are drawn from, found once: `lists(config)` draws the lists (the seeded shuffle and cap, the negatives), so
    several draws share the pairs, the queries and their `delay_model`.

    Later purchases are looked for up to the part's end (train: the valid cutoff; valid: the test cutoff; test:
    the data's end), as a model trained at that time would see them. `complete_labels` looks up to the data's
    end for every part: the known answer on synthetic data, never what a real model could train on."""

    def __init__(self, split: TemporalSplit, part: str = "train", horizon_days: float = 60.0,
                 complete_labels: bool = False):
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, not {part!r}")
        self.part, self.horizon_days, self.complete_labels = part, float(horizon_days), complete_labels
        known = complement_pairs(split, part)
        self.drawer = ListDrawer(split, part, known)
        dataset, index = self.drawer.dataset, self.drawer.index
        items = dataset.catalog.items
        leaf = {i: leaf_category(c) for i, c in zip(items["item_id"], items["category"])}
        pairs = _leaf_pairs(known, leaf)
        sources = {s for s, _ in pairs}
        all_events = pd.concat([p.behaviour.events for p in (split.train, split.valid, split.test)],
                               ignore_index=True)
        data_end = float(all_events["timestamp"].max()) + 1 if len(all_events) else 0.0
        end = data_end if complete_labels or part == "test" else float(
            split.valid_start if part == "train" else split.test_start)
        looked = all_events if complete_labels or part == "test" else pd.concat(
            [p.behaviour.events for p in parts_up_to(split, part)], ignore_index=True)
        looked = looked[(looked["timestamp"] >= 0) & (looked["timestamp"] < end)]

        # queries: each user's first purchase of a titled item with a known complement leaf, in this part
        ev = dataset.behaviour.events
        ev = ev[(ev["timestamp"] >= 0) & ev["item_id"].isin(index.position)]
        ev = ev[ev["item_id"].map(leaf).isin(sources)].sort_values(["timestamp", "session_id"], kind="stable")
        queries = ev.drop_duplicates(["user_id", "item_id"])[["user_id", "session_id", "item_id", "timestamp"]]
        later = looked.sort_values(["timestamp", "session_id"], kind="stable").drop_duplicates(["user_id", "item_id"])
        later = later[later["item_id"].isin(index.position)][["user_id", "session_id", "item_id", "timestamp"]]
        joined = queries.merge(later, on="user_id", suffixes=("_q", "_p"))
        joined = joined[(joined["session_id_q"] != joined["session_id_p"])
                        & (joined["timestamp_p"] > joined["timestamp_q"])
                        & (joined["timestamp_p"] - joined["timestamp_q"] <= horizon_days * DAY)]
        every = queries.merge(looked[["user_id", "item_id", "timestamp"]], on="user_id", suffixes=("_q", "_p"))
        every = every[(every["timestamp_p"] > every["timestamp_q"])
                      & (every["timestamp_p"] - every["timestamp_q"] <= horizon_days * DAY)]
        self.bought_later = {k: set(g) for k, g in every.groupby(["user_id", "item_id_q"])["item_id_p"]}  # incl. repeats
        keep = [(leaf[q], leaf[p]) in pairs for q, p in zip(joined["item_id_q"], joined["item_id_p"])]
        joined = joined[np.array(keep, dtype=bool)] if len(joined) else joined
        joined = joined.assign(delay_days=(joined["timestamp_p"] - joined["timestamp_q"]) / DAY)
        first = joined.groupby(["user_id", "item_id_q"])["delay_days"].min()
        queries = queries.assign(age_days=(end - queries["timestamp"]) / DAY)
        queries["delay_days"] = [first.get((u, i), np.nan) for u, i in zip(queries["user_id"], queries["item_id"])]
        self.end = end
        # one row per (user, q, p) in the columns ListDrawer.draw reads
        self.pairs = joined.rename(columns={"item_id_q": "query", "item_id_p": "positive", "session_id_q": "session_id",
                                            "timestamp_q": "timestamp"}).assign(bundle_id="")
        self.queries = queries[["user_id", "item_id", "age_days", "delay_days"]].reset_index(drop=True)

    def lists(self, config: CandidateListConfig | None = None) -> LaterLists:
        """The lists of `config`: its seed shuffles the pairs (cut to max_pairs) and draws the negatives."""
        config = config or CandidateListConfig()
        rows = shuffled_pairs(self.pairs, config)
        lists = self.drawer.draw(rows, config, lambda row: self.bought_later.get((row.user_id, row.query), set()))
        payload = {**asdict(config), "horizon_days": self.horizon_days, "complete_labels": self.complete_labels,
                   "later": True}
        return LaterLists(CandidateLists(self.drawer.dataset.name, self.part, payload, lists),
                          ((self.end - rows["timestamp"]) / DAY).to_numpy(dtype=float),
                          rows["delay_days"].to_numpy(dtype=float), self.queries.copy(), self.horizon_days)

    @cached_property
    def delay_model(self) -> DelayModel:
        """The delay model fitted on the part's matured queries (what `delay_policy_weights` "pq" fits)."""
        return _fit_delay_model(self.queries, self.horizon_days)


def build_later_lists(split: TemporalSplit, part: str = "train", config: CandidateListConfig | None = None,
                      horizon_days: float = 60.0, complete_labels: bool = False) -> LaterLists:
    """One list per (user, q, later complement p) with q bought in `part`: `LaterPairs(...).lists(config)`."""
    return LaterPairs(split, part, horizon_days, complete_labels).lists(config)


def _fit_delay_model(queries: pd.DataFrame, horizon_days: float) -> DelayModel:
    return DelayModel.fit(queries["age_days"].to_numpy(), queries["delay_days"].to_numpy(), horizon_days)


def delay_policy_weights(later: LaterLists, policy: str, drop_days: float = 30.0, max_weight: float = 10.0,
                         model: DelayModel | None = None) -> np.ndarray:
    """A weight per list: "none" 1 (labels as observed); "drop" 0 for lists whose query is younger than
    `drop_days`, else 1; "pq" the P/Q weight of an observed positive of its age, 1 / (1 - S(age)) capped at
    `max_weight`, with the delay's survival S fitted on the queries old enough for their labels to have settled
    (eccr.data.delay). A list's negatives are random catalogue items whose chance to be this user's later purchase
    is negligible, so the list's weight is its positive's. `model`: that fitted model when the caller has it
    (`LaterPairs.delay_model`, shared by the draws of one part)."""
    if policy not in DELAY_POLICIES:
        raise ValueError(f"delay policy must be one of {DELAY_POLICIES}, not {policy!r}")
    n = len(later.age_days)
    if policy == "none":
        return np.ones(n)
    if policy == "drop":
        return (later.age_days >= drop_days).astype(float)
    if model is None:
        model = _fit_delay_model(later.queries, later.horizon_days)
    return importance_weights(np.ones(n, dtype=int), later.age_days, model, max_weight=max_weight)
