"""Baselines every ranker must beat: the practitioners' first tries (Lake et al. §5.2 and common practice).

All are `Scorer`s (eccr/rank/base.py): `score_candidates(query, candidates, history) -> Scores`, higher is
better. "Memory" below means `history + query` (most recent last); unknown items never raise: vector baselines
take an `unknown_vector_fn` fallback and otherwise skip unknown memory items and give unknown candidates -inf.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from eccr.data.categories import leaf_category
from eccr.rank.attention_cf import NeuralScorer, load_module, save_module
from eccr.rank.base import Scores
from eccr.rank.config import DANConfig
from eccr.rank.lookup import UnknownVectorFn, VectorLookup
from eccr.represent.vectors import ItemVectors


def _memory(query: Sequence[str], history: Sequence[str]) -> list[str]:
    return [str(i) for i in list(history) + list(query)]


def _cosine(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(vector)), 1e-12)
    return (matrix @ vector) / np.maximum(norms, 1e-12)


class Popularity:
    """Non-personalised: candidates ranked by how many training sequences they occur in (Lake et al. §5.2)."""

    name = "popularity"

    def __init__(self, counts: Mapping[str, float]):
        self.counts = {str(k): float(v) for k, v in counts.items()}

    @classmethod
    def fit(cls, sequences: Iterable[Sequence[str]]) -> Popularity:
        counts: Counter = Counter()
        for seq in sequences:
            counts.update(set(map(str, seq)))
        return cls(counts)

    def score_candidates(self, query, candidates, history=()) -> Scores:
        return Scores(np.array([self.counts.get(str(c), 0.0) for c in candidates], dtype=np.float64))


class _VectorBaseline:
    def __init__(self, item_vectors: ItemVectors, unknown_vector_fn: UnknownVectorFn | None = None):
        self.lookup = VectorLookup(item_vectors, unknown_vector_fn)

    def _cosine_scores(self, profile: np.ndarray | None, candidates: Sequence[str]) -> Scores:
        cand, ok = self.lookup.resolve(candidates)
        scores = np.full(len(candidates), -np.inf)
        if profile is not None:
            scores[ok] = _cosine(cand[ok], profile)
        return Scores(scores, extra={"unscored": [str(c) for c, k in zip(candidates, ok) if not k]})


class LastItemCosine(_VectorBaseline):
    """Cosine similarity with the most recent memory item that has a vector (Grbovic & Cheng 2018)."""

    name = "last_item_cosine"

    def score_candidates(self, query, candidates, history=()) -> Scores:
        vectors, ok = self.lookup.resolve(_memory(query, history))
        profile = vectors[np.flatnonzero(ok)[-1]] if ok.any() else None
        return self._cosine_scores(profile, candidates)


class WeightedSum(_VectorBaseline):
    """Cosine with a recency-weighted average of the memory vectors (Lake et al. §5.2, "Weighted Sum").

    The weight of a memory item is `exp(-decay * age)`, age = 0 for the most recent item, 1 for the one before
    it, ...; items of the current query (basket) are further multiplied by `query_boost`. The two parameters
    are tuned by CMA-ES (Hansen et al. 2003) with `tune`.
    """

    name = "weighted_sum"

    def __init__(self, item_vectors: ItemVectors, decay: float = 0.0, query_boost: float = 1.0,
                 unknown_vector_fn: UnknownVectorFn | None = None):
        super().__init__(item_vectors, unknown_vector_fn)
        self.decay, self.query_boost = float(decay), float(query_boost)

    def weights(self, n_history: int, n_query: int) -> np.ndarray:
        n = n_history + n_query
        age = np.arange(n)[::-1].astype(np.float64)
        w = np.exp(-self.decay * age)
        w[n_history:] *= self.query_boost
        return w

    def score_candidates(self, query, candidates, history=()) -> Scores:
        vectors, ok = self.lookup.resolve(_memory(query, history))
        w = self.weights(len(history), len(query)) * ok
        profile = (w @ vectors) / w.sum() if w.sum() > 0 else None
        return self._cosine_scores(profile, candidates)

    def tune(self, validation: Sequence[tuple[Sequence[str], Sequence[str], Sequence[str], Sequence[str]]],
             max_evaluations: int = 60, seed: int = 0) -> dict:
        """CMA-ES over (log decay-ish, log query_boost) maximising the mean pairwise AUC on `validation`
        instances (query, history, positives, negatives). Sets the best parameters and returns them."""
        try:
            import cma
        except ImportError as err:  # pragma: no cover - cma is a declared dependency of the rank stage
            raise ImportError("WeightedSum.tune needs the `cma` package (pip install cma)") from err
        if not validation:
            raise ValueError("WeightedSum.tune needs at least one validation instance")

        def loss(params) -> float:
            self.decay, self.query_boost = float(np.exp(params[0])), float(np.exp(params[1]))
            return -mean_auc(self, validation)

        es = cma.CMAEvolutionStrategy([np.log(0.1), 0.0], 1.0,
                                      {"seed": seed + 1, "maxfevals": max_evaluations, "verbose": -9,
                                       "bounds": [[-8, -5], [5, 5]]})
        es.optimize(loss)
        best = es.result.xbest if es.result.xbest is not None else [np.log(0.1), 0.0]
        self.decay, self.query_boost = float(np.exp(best[0])), float(np.exp(best[1]))
        return {"decay": self.decay, "query_boost": self.query_boost, "auc": -float(es.result.fbest)}


def mean_auc(scorer, instances: Sequence[tuple[Sequence[str], Sequence[str], Sequence[str], Sequence[str]]]) -> float:
    """Mean over (query, history, positives, negatives) of the fraction of positive > negative (ties 1/2)."""
    aucs = []
    for query, history, positives, negatives in instances:
        s = scorer.score_candidates(query, list(positives) + list(negatives), history).scores
        pos, neg = s[:len(positives), None], s[None, len(positives):]
        aucs.append(float(((pos > neg) + 0.5 * (pos == neg)).mean()))
    return float(np.mean(aucs))


class DAN(nn.Module):
    """Deep Averaging Network (Lake et al. §5.2; Iyyer et al. 2015): the memory is summarised by its mean x̂_u.

    variant "dot" (the paper's better one): r = sigma(mu(x̂_u)^T x_q), mu = `layers` ReLU layers of `hidden`
    then a linear map back to d; variant "add": r = sigma(mu(x̂_u + x_q)) with a scalar output. Same call
    signature as AttentionCF, so it trains with eccr.rank.train.RankerTrainer.
    """

    model_type = "dan"
    hops = 0

    def __init__(self, input_dim: int, hidden: int = 128, layers: int = 2, variant: str = "dot"):
        super().__init__()
        if variant not in ("dot", "add"):
            raise ValueError(f"DAN variant must be 'dot' or 'add', got {variant!r}")
        self.input_dim, self.hidden, self.layers, self.variant = input_dim, hidden, layers, variant
        blocks, width = [], input_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        blocks.append(nn.Linear(width, input_dim if variant == "dot" else 1))
        self.mu = nn.Sequential(*blocks)
        for module in self.mu:
            if isinstance(module, nn.Linear):
                nn.init.orthogonal_(module.weight)
                nn.init.zeros_(module.bias)

    @classmethod
    def from_config(cls, input_dim: int, config: DANConfig) -> DAN:
        return cls(input_dim, config.hidden, config.layers, config.variant)

    def config(self) -> dict:
        return {"model_type": self.model_type, "input_dim": self.input_dim, "hidden": self.hidden,
                "layers": self.layers, "variant": self.variant}

    def forward(self, query: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor | None = None):
        if mask is None:
            mask = torch.ones(memory.shape[:2], dtype=torch.bool)
        weights = mask.float()
        mean = (weights[..., None] * memory).sum(1) / weights.sum(1, keepdim=True).clamp(min=1)  # (B, d)
        if self.variant == "dot":
            return (query @ self.mu(mean)[:, :, None])[..., 0], None
        return self.mu(mean[:, None, :] + query)[..., 0], None

    def save_pretrained(self, directory) -> None:
        save_module(self, directory)

    @classmethod
    def from_pretrained(cls, directory) -> DAN:
        return load_module(cls, directory)


class DANScorer(NeuralScorer):
    def __init__(self, model: DAN, item_vectors: ItemVectors, unknown_vector_fn: UnknownVectorFn | None = None,
                 name: str = "dan", max_memory: int | None = None):
        super().__init__(model, item_vectors, unknown_vector_fn, name=name, max_memory=max_memory)


class CoOccurrence:
    """Counts of (a, b) occurring in the same training session/bundle; score = sum over memory items a of
    count(a -> candidate), query items weighing 1 and history items `history_weight`.

    With `directed=True` (sequences in time order) only a-before-b pairs count, otherwise both directions.
    `window` limits pairs to items at most that many positions apart (None = the whole sequence).
    """

    name = "co_occurrence"

    def __init__(self, counts: Mapping[str, Mapping[str, float]], history_weight: float = 0.5):
        self.counts = counts
        self.history_weight = history_weight

    @classmethod
    def fit(cls, sequences: Iterable[Sequence[str]], directed: bool = True, window: int | None = None,
            history_weight: float = 0.5) -> CoOccurrence:
        counts: dict[str, Counter] = defaultdict(Counter)
        for seq in sequences:
            items = list(dict.fromkeys(map(str, seq)))  # first occurrence of each item, order kept
            for i, a in enumerate(items):
                stop = len(items) if window is None else min(len(items), i + window + 1)
                for b in items[i + 1:stop]:
                    counts[a][b] += 1
                    if not directed:
                        counts[b][a] += 1
        return cls(dict(counts), history_weight)

    def score_candidates(self, query, candidates, history=()) -> Scores:
        scores = np.zeros(len(candidates))
        sources = [(str(a), self.history_weight) for a in history] + [(str(a), 1.0) for a in query]
        for a, weight in sources:
            row = self.counts.get(a)
            if row:
                scores += weight * np.array([row.get(str(c), 0.0) for c in candidates])
        return Scores(scores)


class TextCosine(_VectorBaseline):
    """Cosine between the mean of the query items' text vectors and each candidate's (history unused)."""

    name = "text_cosine"

    def __init__(self, text_vectors: ItemVectors, unknown_vector_fn: UnknownVectorFn | None = None,
                 name: str = "text_cosine"):
        super().__init__(text_vectors.normalized(), unknown_vector_fn)
        self.name = name  # e.g. "tuned_cosine" over the tuned encoder's vectors

    def score_candidates(self, query, candidates, history=()) -> Scores:
        vectors, ok = self.lookup.resolve([str(q) for q in query])
        return self._cosine_scores(vectors[ok].mean(0) if ok.any() else None, candidates)


class CategoryPairPrior:
    """P(candidate leaf category | query leaf category) estimated from training pairs (source -> target), with
    add-`smoothing` over the categories seen as targets; several query items average their priors. Ties (e.g.
    candidates of one category) are broken by text cosine when `text` is given.

    Scores are the prior plus `tie_break * cosine`, with `tie_break` far below the smallest difference two
    distinct priors of a source category can have, so the cosine never reorders different priors (exact for
    one or two query items; with more, averaged priors may differ by less and the bound is approximate).
    """

    name = "category_pair_prior"

    def __init__(self, item_category: Mapping[str, str], pairs: Iterable[tuple[str, str]],
                 text: TextCosine | None = None, smoothing: float = 0.0):
        self.item_category = {str(k): str(v) for k, v in item_category.items()}
        self.text = text
        self.smoothing = smoothing
        table: dict[str, Counter] = defaultdict(Counter)
        for source, target in pairs:
            cs, ct = self.item_category.get(str(source)), self.item_category.get(str(target))
            if cs and ct:
                table[cs][ct] += 1
        self.table = dict(table)
        self.n_targets = len({t for row in table.values() for t in row})

    def prior(self, query_category: str, candidate_category: str) -> float:
        row = self.table.get(query_category)
        if not row or not candidate_category:
            return 0.0
        total = sum(row.values()) + self.smoothing * max(self.n_targets, 1)
        return (row.get(candidate_category, 0) + self.smoothing) / total

    def score_candidates(self, query, candidates, history=()) -> Scores:
        query_cats = [self.item_category.get(str(q), "") for q in query]
        priors = np.array([np.mean([self.prior(qc, self.item_category.get(str(c), "")) for qc in query_cats])
                           if query_cats else 0.0 for c in candidates])
        extra = {"prior": priors}
        scores = priors.copy()
        if self.text is not None:
            cosine = self.text.score_candidates(query, candidates).scores
            cosine = np.where(np.isfinite(cosine), cosine, -1.0)
            totals = [sum(row.values()) for row in self.table.values()] or [1]
            tie_break = 0.25 / (max(totals) + self.smoothing * max(self.n_targets, 1) + 1) ** 2
            scores = priors + tie_break * cosine
            extra["cosine"] = cosine
        return Scores(scores, extra=extra)


def category_of_items(catalog_items) -> dict[str, str]:
    """item_id -> leaf category (eccr.data.categories.leaf_category) from a Catalog.items frame."""
    return {str(i): leaf_category(c) for i, c in zip(catalog_items["item_id"], catalog_items["category"])}

