"""A tiny hand-made shop (cameras and their accessories plus filler items) and small reference scorers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eccr.data.schema import Behaviour, Bundles, Catalog, Dataset
from eccr.data.splits import temporal_split
from eccr.rank.base import Scores

DAY = 86_400
LEAVES = {"cam": "Digital Cameras", "bat": "Camera Batteries", "mem": "Memory Cards", "bag": "Camera Bags",
          "hdmi": "HDMI Cables", "mouse": "Mice", "head": "Headphones", "kbd": "Keyboards", "lamp": "Desk Lamps"}
TITLES = {"cam": "Canon EOS digital camera body", "bat": "lithium battery pack for camera",
          "mem": "SDHC memory card class 10", "bag": "padded shoulder bag", "hdmi": "HDMI cable 2m gold",
          "mouse": "wireless optical mouse", "head": "over-ear headphones", "kbd": "mechanical keyboard",
          "lamp": "LED desk lamp"}

# session -> (user, day, items, bundles); days 1..10: temporal_split(0.1, 0.2) puts day 8 in valid, 9-10 in test
SESSIONS = {
    "s1": ("u1", 1, ["cam3", "bat3", "kbd1"], [["cam3", "bat3"]]),
    "s2": ("u2", 2, ["cam1", "bag3", "lamp1"], [["cam1", "bag3"]]),  # a TRAIN complement of cam1
    "s3": ("u3", 3, ["cam4", "mem3", "mouse2"], [["cam4", "mem3"]]),
    "s4": ("u4", 4, ["hdmi2", "head2", "bat2"], []),
    "s5": ("u5", 5, ["cam3", "mem2", "bat3"], [["cam3", "mem2", "bat3"]]),
    "s6": ("u6", 6, ["kbd2", "mouse3"], [["kbd2", "mouse3"]]),
    "s7": ("u2", 7, ["cam2", "bat4", "hdmi1"], [["cam2", "bat4"]]),
    "s8": ("u7", 8, ["cam4", "bag4"], [["cam4", "bag4"]]),
    # test: cam1's bundle with bat1 and mem1; hdmi3 and mouse1 co-bought but not in the bundle; x0 has no title
    "s9": ("u8", 9, ["cam1", "bat1", "mem1", "hdmi3", "mouse1", "x0"], [["cam1", "bat1", "mem1"]]),
    "s10": ("u1", 10, ["cam2", "bag2", "head1"], [["cam2", "bag2"]]),  # u1 has history from s1
}


def tiny_catalog() -> Catalog:
    rows = []
    for prefix, leaf in LEAVES.items():
        for n in range(1, 7):
            rows.append({"item_id": f"{prefix}{n}", "title": f"{TITLES[prefix]} model {n}",
                         "category": ["Electronics", leaf], "brand": "", "text": ""})
    rows.append({"item_id": "x0", "title": "", "category": [], "brand": "", "text": ""})
    return Catalog(pd.DataFrame(rows))


def dataset_from_sessions(name: str, catalog: Catalog, sessions: dict) -> Dataset:
    """sessions: id -> (user, day, items bought, bundles (lists of items)); every bundle's intent is "photo kit"."""
    events, bundles = [], []
    for sid, (user, day, items, groups) in sessions.items():
        events += [{"user_id": user, "session_id": sid, "item_id": i, "timestamp": day * DAY} for i in items]
        for b, group in enumerate(groups):
            bundles += [{"bundle_id": f"{sid}b{b}", "session_id": sid, "item_id": i, "intent": "photo kit",
                         "timestamp": day * DAY} for i in group]
    return Dataset(name, catalog, Behaviour(pd.DataFrame(events)), Bundles(pd.DataFrame(bundles)))


def tiny_dataset() -> Dataset:
    return dataset_from_sessions("tiny", tiny_catalog(), SESSIONS)


@pytest.fixture
def tiny_split():
    return temporal_split(tiny_dataset(), valid_fraction=0.1, test_fraction=0.2)


def bundle_mates(dataset: Dataset) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for _, group in dataset.bundles.rows.groupby("bundle_id"):
        items = set(group["item_id"])
        for i in items:
            out.setdefault(i, set()).update(items - {i})
    return out


class OracleScorer:
    """Scores 1 for the true complements of the query (from the given bundles), 0 otherwise."""

    name = "oracle"

    def __init__(self, complements: dict[str, set[str]]):
        self.complements = complements

    def score_candidates(self, query, candidates, history=()):
        truth = self.complements.get(query[-1], set())
        return Scores(np.array([1.0 if c in truth else 0.0 for c in candidates]))


class RandomScorer:
    name = "random"

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def score_candidates(self, query, candidates, history=()):
        return Scores(self.rng.random(len(candidates)))


class ConstantScorer:
    name = "constant"

    def score_candidates(self, query, candidates, history=()):
        return Scores(np.zeros(len(candidates)))


class RecordingScorer:
    """Constant scores; remembers every (query, candidates, history) it was asked about."""

    name = "recording"

    def __init__(self):
        self.calls = []

    def score_candidates(self, query, candidates, history=()):
        self.calls.append((list(query), list(candidates), list(history)))
        return Scores(np.zeros(len(candidates)))
