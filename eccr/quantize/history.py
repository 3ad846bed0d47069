"""A user's or basket's items as a bounded semantic-ID token sequence for an LM prompt.

ECCR compresses behaviour into LM tokens; a long history would overflow the prompt, so items are ordered by a
relevance weight (e.g. the attention weights of the ranker over the history, Lake et al. §4) and truncated.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from eccr.quantize.semantic_ids import SemanticIDTable


def ordered_history(item_ids: Sequence[str], weights: Sequence[float] | None = None, max_items: int = 20,
                    known: SemanticIDTable | None = None, skip_unknown: bool = False) -> list[str]:
    """Distinct items, most relevant first (highest weight; ties and `weights=None` keep the given order, so
    pass the history most recent first), at most `max_items`. A repeated item keeps its highest weight."""
    if max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    item_ids = [str(i) for i in item_ids]
    if weights is None:
        weights = np.zeros(len(item_ids))
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(item_ids),):
        raise ValueError(f"{len(item_ids)} items but weights of shape {weights.shape}")
    if not np.isfinite(weights).all():
        raise ValueError("history weights contain NaN or infinite values")
    best: dict[str, tuple[float, int]] = {}
    for pos, (item, w) in enumerate(zip(item_ids, weights)):
        if known is not None and item not in known:
            if skip_unknown:
                continue
            raise KeyError(f"history item {item!r} has no semantic ID (pass skip_unknown=True to drop it)")
        if item not in best or w > best[item][0]:
            best[item] = (float(w), best.get(item, (0.0, pos))[1])
    ranked = sorted(best, key=lambda i: (-best[i][0], best[i][1]))
    return ranked[:max_items]


def history_tokens(table: SemanticIDTable, item_ids: Sequence[str], weights: Sequence[float] | None = None,
                   max_items: int = 20, skip_unknown: bool = False) -> list[str]:
    """Semantic-ID tokens of the `max_items` most relevant distinct items, concatenated (IDs are
    self-delimiting: each starts with an "<a_..>" token). Unknown items raise KeyError unless skip_unknown."""
    ranked = ordered_history(item_ids, weights, max_items, known=table, skip_unknown=skip_unknown)
    return [token for item in ranked for token in table.tokens_for(item)]


BasketWeigher = Callable[[str, Sequence[str]], Sequence[float]]


def attention_weigher(scorer) -> BasketWeigher:
    """(query item, basket) -> one weight per basket item: the ranker's attention over the basket (mean over
    hops) when the query item is scored with the basket as memory -- the basket items that matter most for
    this query come first in the prompt. `scorer` is an AttentionCFScorer (anything whose Scores carry
    `attention` (n, hops, memory) and `extra['memory']`)."""
    def weigh(query: str, basket: Sequence[str]) -> np.ndarray:
        basket = [str(b) for b in basket]
        if not basket:
            return np.zeros(0)
        scores = scorer.score_candidates([], [str(query)], history=basket)
        if scores.attention is None or not scores.attention.size:
            return np.zeros(len(basket))
        by_item = dict(zip(scores.extra["memory"], scores.attention[0].mean(axis=0).tolist()))
        return np.array([by_item.get(b, 0.0) for b in basket])
    return weigh
