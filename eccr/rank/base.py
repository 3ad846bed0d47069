"""The one interface every ranking model and baseline implements, so the evaluation harness, the pipeline and
the demo can treat them alike."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass
class Scores:
    """Scores for candidates (higher = better), aligned with the candidates given.

    `attention`: for attention models, (hops, len(history)) weights over the memory items per candidate,
    shape (n_candidates, hops, len(history)); None for models without attention.
    """

    scores: np.ndarray
    attention: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


@runtime_checkable
class Scorer(Protocol):
    name: str

    def score_candidates(self, query: Sequence[str], candidates: Sequence[str],
                         history: Sequence[str] = ()) -> Scores:
        """Score `candidates` as complements of the query item(s).

        query: the item(s) the shopper is looking at / the basket (item ids, most recent last);
        history: older items of the user (may be empty; many models use only the query).
        Unknown items (cold start) must be handled, never raise: models fall back to text/category vectors.
        """
        ...
