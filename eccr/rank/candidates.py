"""`CandidateRanker`: query (+ basket) → a candidate pool → one feature row per candidate → the final score.

The rank level of a trained run, used by the serving side (eccr.pipeline.Recommender) and by the stage that fits
the blends (`eccr train`'s blend stage), so both see exactly the same features.

1. Retrieve (`retrieve`): FAISS over the items' directed *target* vectors, queried with the query's *source*
   vector (and the basket's), plus the nearest items in the fused and in the text space (the tuned text encoder's
   for an in-domain query when the run has one) and past co-purchases.
2. Features (`features`, the names in eccr.rank.blend.FEATURES): the complement scorer (eccr/rank/complement.py),
   the attention-CF model (Lake et al.; its per-hop attention says which basket item drove each candidate), s·t,
   category prior, co-occurrence, text and fused cosine, popularity, same leaf and the coherence flags
   (eccr/coherence.py); in runs configured for it (PersonalMetricConfig.blend_feature) also "personal_metric",
   -d_u(query, candidate) under the shopper's metric (Hoang et al. 2022, eccr/rank/personal_metric.py) fitted on
   the history/basket passed, the population weights when that is empty or thin; in runs with a tuned text
   encoder (ComplementEncoderConfig.enabled) also "tuned_cosine", the cosine of the encoder fine-tuned for
   complements (eccr/represent/complement_encoder.py).
3. Final score (`final_scores`): the fitted blend (eccr/rank/blend.py; "coherent" or "bought_together"), with
   candidates flagged `incompatible` (made for another brand, model or lens mount) moved to the bottom.

A query from a product domain the run was not trained on (its top-level category is none of the training
catalogue's, e.g. clothing items added to an electronics run) is ranked by text cosine, still with the
incompatible demotion: the complement scorer, the blend and the behaviour signals were all fitted on the training
domain and carry no evidence about another (README, "The shipped ranking against text cosine").
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from collections.abc import Set as AbstractSet

import numpy as np

from eccr.coherence import AttributeExtractor, PairFlags, pair_flags
from eccr.data.lookup import ItemLookup
from eccr.data.schema import Catalog
from eccr.rank.attention_cf import AttentionCFScorer
from eccr.rank.attrformer import load_ranker_scorer
from eccr.rank.base import Scores
from eccr.rank.baselines import CategoryPairPrior, CoOccurrence, Popularity, TextCosine, category_of_items
from eccr.rank.blend import Blend
from eccr.rank.complement import ComplementScorer
from eccr.rank.config import PoolSize
from eccr.rank.personal_metric import PersonalMetric, PersonalMetricScorer, load_run_metric
from eccr.rank.retrieval import ItemIndex
from eccr.represent.fuse import content_columns, content_vectors, shared_block_cosine
from eccr.represent.vectors import ItemVectors

logger = logging.getLogger(__name__)
INCOMPATIBLE_PENALTY = 1e3  # larger than any blend score difference: a demotion, not a weight
# entries of `CandidateRanker.features` that no blend weighs: the query's domain (out-of-domain backoff) and the
# candidate's warm/cold group (the blend's calibration, eccr/rank/blend.py)
CONTEXT_FEATURES = ("in_domain", "warm")


def diversify_by_type(order: Sequence[int], types: Sequence[str], max_per_type: int,
                      scores: Sequence[float] | None = None, margin: float = float("inf"),
                      floor: float = float("-inf")) -> np.ndarray:
    """Reorder ranked positions so no type fills more than `max_per_type` places before every other type had
    its turn: items over the cap keep their relative order and follow the rest. Items without a type ("")
    are never held back. With `scores`, an item held back still comes before an item of another type that
    scores more than `margin` below it or below `floor`: variety does not bring a far weaker item up."""
    first, held = [], []
    seen: dict[str, int] = {}
    for i in order:
        t = types[i]
        if t and seen.get(t, 0) >= max_per_type:
            held.append(i)
            continue
        while scores is not None and held and (scores[held[0]] - scores[i] > margin or scores[i] < floor):
            first.append(held.pop(0))
        seen[t] = seen.get(t, 0) + 1
        first.append(i)
    return np.asarray(first + held, dtype=np.int64)


def concat_vectors(a: ItemVectors, b: ItemVectors) -> ItemVectors:
    return ItemVectors(a.ids + b.ids, np.concatenate([a.vectors, b.vectors]), dict(a.meta))


class CandidateRanker:
    def __init__(self, items: ItemLookup, extractor: AttributeExtractor, text: ItemVectors, source: ItemVectors,
                 target: ItemVectors, fused: ItemVectors, index: ItemIndex, ranker: AttentionCFScorer,
                 train_sequences: list[list[str]], blends: dict[str, Blend] | None = None,
                 complement: ComplementScorer | None = None, near_index: ItemIndex | None = None,
                 text_index: ItemIndex | None = None, personal_metric: PersonalMetric | None = None,
                 tuned_text: ItemVectors | None = None, tuned_index: ItemIndex | None = None):
        self.items, self.extractor = items, extractor
        # the "tuned_cosine" feature's vectors; None (runs without a tuned encoder): the feature is not computed
        self.tuned_text = tuned_text.normalized() if tuned_text is not None else None
        self.tuned_index = tuned_index  # with it, in-domain text neighbours are the tuned encoder's
        self.text, self.source, self.target, self.fused = text, source, target, fused
        self.near_columns = content_columns(fused)  # the fused columns the neighbour index holds (same layout on add)
        self.index, self.near_index, self.text_index = index, near_index, text_index
        self.ranker, self.complement = ranker, complement
        # the "personal_metric" feature; None (runs whose blends do not weigh it): the feature is not computed
        self.personal = PersonalMetricScorer(personal_metric) if personal_metric is not None else None
        self.train_sequences = train_sequences
        self.train_pairs = [(a, b) for seq in train_sequences for a in seq for b in seq if a != b]
        self.baselines = {"text-cosine": TextCosine(text),
                          "co-occurrence": CoOccurrence.fit(train_sequences, directed=False)}
        self.category_prior = CategoryPairPrior(category_of_items(items.catalog.items), self.train_pairs)
        self.popularity = Popularity.fit(train_sequences)
        self.blends = blends or {"coherent": Blend()}
        self.trained_domains = {str(path[0]) for path in items.catalog.items["category"] if len(path)}
        self.domain_backoff = True  # out-of-domain queries are ranked by text cosine (module docstring)

    def in_domain(self, query: str) -> bool:
        """False when the query's top-level category is known and none of the training catalogue's."""
        path = self.items.rows.get(query, {}).get("category")
        if path is None or not len(path) or not self.trained_domains:
            return True
        return str(path[0]) in self.trained_domains

    @classmethod
    def from_run(cls, run, catalog: Catalog, extractor: AttributeExtractor, max_memory: int | None = None,
                 train_sequences: list[list[str]] | None = None,
                 personal_metric: PersonalMetric | None = None, personal_ranking: bool = False,
                 tuned_text: bool | None = None) -> CandidateRanker:
        """The rank level of a run directory (`run`: an eccr.run.Run layout) over `catalog`, with the blends
        fitted so far ("coherent" is the unfitted default until the blend stage has run). `train_sequences`
        default to the run's train_sequences.json. `personal_metric`: the metric behind the "personal_metric"
        feature (the blend stage passes it); without it, RUN/personal_metric/ is loaded when a blend weighs
        that feature, and the feature is left out otherwise (so older runs rank exactly as before).
        `personal_ranking`: also offer the ranking "personal_metric", the shopper's metric alone as the
        item-to-item score (-d_u(query, candidate) under the weights fitted on the history/basket passed), which
        needs RUN/personal_metric/ (`eccr evaluate` or `eccr train --personal_metric.blend_feature true` fit it).
        `tuned_text`: use the tuned text encoder's vectors (feature "tuned_cosine") and index (the in-domain text
        neighbours); None = when a blend weighs that feature."""
        text = ItemVectors.load(run.text)
        fused = ItemVectors.load(run.fused)
        if train_sequences is None:
            train_sequences = json.loads(run.train_sequences.read_text())["sequences"]
        complement = None
        if (run.complement / "complement.json").exists():
            complement = ComplementScorer.from_pretrained(run.complement, text, catalog)
        blends = {"coherent": Blend.load(run.blend) if run.blend.exists() else Blend()}
        if run.retrieval_blend.exists():
            blends["bought_together"] = Blend.load(run.retrieval_blend)
        if personal_ranking:
            blends["personal_metric"] = Blend(weights={"personal_metric": 1.0})
        if personal_metric is None and any("personal_metric" in b.weights for b in blends.values()):
            personal_metric = load_run_metric(run.root)
            if personal_metric is None and personal_ranking:
                raise FileNotFoundError(f"{run.root}: the ranking 'personal_metric' needs the metric in "
                                        f"{run.root / 'personal_metric'}, which is missing; fit it with `eccr evaluate "
                                        f"--run {run.root}` or `eccr train --personal_metric.blend_feature true`")
            if personal_metric is None:
                raise FileNotFoundError(f"{run.root}: the blend weighs the personal_metric feature but "
                                        f"{run.root / 'personal_metric'} is missing; rerun `eccr train` (blend stage)")
        if tuned_text is None:
            tuned_text = any("tuned_cosine" in b.weights for b in blends.values())
        tuned, tuned_index = None, None
        if tuned_text:
            if not run.tuned_text.with_suffix(".safetensors").exists() or not run.tuned_index.exists():
                raise FileNotFoundError(f"{run.root}: the ranking uses the tuned text encoder but {run.tuned_text} or "
                                        f"{run.tuned_index} is missing; rerun `eccr train` with "
                                        "--complement_encoder.enabled true")
            tuned, tuned_index = ItemVectors.load(run.tuned_text), ItemIndex.load(run.tuned_index)
        return cls(ItemLookup(catalog, text.ids), extractor, text, ItemVectors.load(run.source),
                   ItemVectors.load(run.target), fused, ItemIndex.load(run.index),
                   load_ranker_scorer(run.ranker, fused, max_memory=max_memory),
                   train_sequences, blends, complement,
                   _content_index(run, fused),
                   ItemIndex.load(run.text_index) if run.text_index.exists() else None, personal_metric, tuned,
                   tuned_index)

    # ------------------------------------------------------------------ 1. retrieve
    def retrieve(self, query: Sequence[str], size: PoolSize | None = None,
                 among: AbstractSet[str] | None = None) -> list[str]:
        """The candidate pool for `query` (item ids, the item looked at last, or first then the basket): the
        directed top `size.k`, then the fused and the text neighbours, then items bought with a query item.
        `among`: every source searches only these items (the evaluation asks for each seen/unseen stratum)."""
        size = size or PoolSize()
        rows = self.source.lookup(list(query))
        q = rows[-1:] if len(rows) == 1 else (0.5 * rows[:1] + 0.5 * rows[1:].mean(0, keepdims=True))
        ids, _ = self.index.search(q, size.k + len(query), among)
        found: list[str] = []
        seen = set(query)

        def take(candidates, limit: int | None = None) -> None:
            for i in candidates:
                if limit is not None and len(found) >= limit:
                    return
                if i and i not in seen and (among is None or i in among):
                    found.append(i)
                    seen.add(i)

        by_text = self.text.lookup(list(query)).mean(0, keepdims=True) if self.text_index is not None else None
        if by_text is not None and self.domain_backoff and not self.in_domain(query[-1]):
            # out of the training domain the text neighbours come first (the final score is text cosine there)
            take(self.text_index.search(by_text, size.k + size.text_k + len(query), among)[0][0],
                 limit=size.k + size.text_k)
        take(ids[0], limit=len(found) + size.k)
        if self.near_index is not None and size.near_k > 0:
            t = self.fused.lookup(list(query))[:, self.near_columns].mean(0, keepdims=True)
            take(self.near_index.search(t, size.near_k + len(query), among)[0][0])
        if self.tuned_index is not None and size.text_k > 0 and self.in_domain(query[-1]):
            by_tuned = self.tuned_text.lookup(list(query)).mean(0, keepdims=True)
            take(self.tuned_index.search(by_tuned, size.text_k + len(query), among)[0][0])
        elif by_text is not None and size.text_k > 0:
            take(self.text_index.search(by_text, size.text_k + len(query), among)[0][0])
        # items bought with the query before are candidates too, whatever their vectors say
        together = self.baselines["co-occurrence"].counts
        for item in query:
            bought = [kv for kv in together.get(item, {}).items() if among is None or kv[0] in among]
            top = sorted(bought, key=lambda kv: -kv[1])[:size.k]
            take(o for o, _ in top if self.items.is_titled(o))
        return found

    # ------------------------------------------------------------------ 2. features
    def features(self, query: str, history: Sequence[str],
                 pool: Sequence[str]) -> tuple[dict[str, np.ndarray], Scores, list[PairFlags]]:
        """Every blend feature (eccr.rank.blend.FEATURES) for the candidates in `pool`, the ranker's Scores (for
        its attention weights) and each candidate's PairFlags (reused for the recommendation's flags)."""
        pool = list(pool)
        scores = self.ranker.score_candidates([query], pool, history=list(history))
        rows = self.items.rows
        flags = [pair_flags(rows[query], rows[c], self.extractor) for c in pool]
        leaf = self.items.leaf(query)
        popularity = self.popularity.score_candidates([query], pool).scores
        feats = {
            "complement": (self.complement.score_candidates([query], pool).scores if self.complement is not None
                           else np.zeros(len(pool))),
            "ranker": scores.scores,
            "directed": self.directed(query, pool),
            "category_prior": self.category_prior.score_candidates([query], pool).extra["prior"],
            "co_occurrence": np.log1p(self.baselines["co-occurrence"].score_candidates([query], pool, history).scores),
            "text_cosine": self.baselines["text-cosine"].score_candidates([query], pool).scores,
            "fused_cosine": self.fused_cosine(query, pool),
            "popularity": np.log1p(popularity),
            "same_leaf": np.array([float(bool(leaf) and self.items.leaf(c) == leaf) for c in pool]),
            "relevant": np.array([float(f.relevant) for f in flags]),
            "compatible": np.array([float(f.compatible) for f in flags]),
            "incompatible": np.array([float(f.incompatible) for f in flags]),
            "in_domain": np.full(len(pool), float(self.in_domain(query))),
            "warm": (popularity > 0).astype(np.float64),  # the blend's calibration group (eccr/rank/blend.py)
        }
        if self.personal is not None:
            feats["personal_metric"] = self.personal.score_candidates([query], pool, list(history)).scores
        if self.tuned_text is not None:
            feats["tuned_cosine"] = self._dot(self.tuned_text, self.tuned_text, query, pool, missing=0.0)
        return feats, scores, flags

    @staticmethod
    def _dot(queries: ItemVectors, candidates_from: ItemVectors, query: str, candidates: Sequence[str],
             missing: float) -> np.ndarray:
        """query's vector in `queries` · each candidate's vector in `candidates_from` (`missing` for unknown ones)."""
        q = queries.lookup([query])[0]
        pos = candidates_from.position(candidates)
        out = np.full(len(candidates), missing)
        ok = pos >= 0
        out[ok] = candidates_from.vectors[pos[ok]] @ q
        return out

    def directed(self, query: str, candidates: Sequence[str]) -> np.ndarray:
        """s(query)·t(candidate), the directed complement score (-inf for candidates without vectors)."""
        return self._dot(self.source, self.target, query, candidates, missing=-np.inf)

    def fused_cosine(self, query: str, candidates: Sequence[str]) -> np.ndarray:
        """Over the blocks both items have (`shared_block_cosine`): not a cold query's preference for cold items."""
        return shared_block_cosine(self.fused, query, list(candidates), missing=0.0)

    # ------------------------------------------------------------------ 3. final score
    def final_scores(self, feats: dict[str, np.ndarray], ranking: str = "coherent",
                     demote_incompatible: bool = True, blended: np.ndarray | None = None) -> np.ndarray:
        """The blend named `ranking` (text cosine for an out-of-domain query), with incompatible candidates moved
        to the bottom when `demote_incompatible`. `blended`: `blend_scores(feats, ranking)`, when the caller has
        it already."""
        final = self.blend_scores(feats, ranking) if blended is None else blended
        if final is None:
            final = np.asarray(feats["text_cosine"], dtype=np.float64).copy()
        if demote_incompatible:
            final = final - INCOMPATIBLE_PENALTY * np.asarray(feats["incompatible"], dtype=np.float64)
        return final

    def blend_scores(self, feats: dict[str, np.ndarray], ranking: str = "coherent") -> np.ndarray | None:
        """The blend named `ranking` over the candidates, or None for an out-of-domain query, which the blend does
        not rank (text cosine does)."""
        in_domain = np.asarray(feats.get("in_domain", [1.0]), dtype=np.float64)
        if self.domain_backoff and len(in_domain) and not in_domain.all():
            return None
        return self.blends[ranking].score(feats)

    def score_pool(self, query: str, history: Sequence[str], pool: Sequence[str], ranking: str = "coherent",
                   demote_incompatible: bool = True) -> np.ndarray:
        """Features then final score for each candidate of `pool`, in pool order."""
        return self.final_scores(self.features(query, history, pool)[0], ranking, demote_incompatible)

    # ------------------------------------------------------------------ cold start
    def add_items(self, text: ItemVectors, source: ItemVectors, target: ItemVectors, fused: ItemVectors,
                  tuned_text: ItemVectors | None = None) -> None:
        """Vectors of items just added to `self.items`: into the indexes, the ranker and the text scorers
        (`tuned_text`: their tuned-encoder vectors, needed when the run has that encoder)."""
        if self.tuned_text is not None:
            if tuned_text is None:
                raise ValueError("this run ranks with a tuned text encoder: pass the new items' tuned_text vectors")
            self.tuned_text = concat_vectors(self.tuned_text, tuned_text.normalized())
            if self.tuned_index is not None:
                self.tuned_index.add(tuned_text)
        self.text = concat_vectors(self.text, text)
        self.source, self.target = concat_vectors(self.source, source), concat_vectors(self.target, target)
        self.fused = concat_vectors(self.fused, fused)
        self.index.add(target)
        if self.near_index is not None:
            self.near_index.add(content_vectors(fused))
        if self.text_index is not None:
            self.text_index.add(text)
        self.ranker = type(self.ranker)(self.ranker.model, self.fused, max_memory=self.ranker.max_memory)
        self.baselines["text-cosine"] = TextCosine(self.text)
        self.category_prior.item_category.update({i: self.items.leaf(i) for i in text.ids})
        if self.complement is not None:
            self.complement = self.complement.with_items(self.text, self.items.catalog)


def _content_index(run, fused: ItemVectors) -> ItemIndex:
    """The fused neighbour index (over eccr.represent.fuse.content_vectors); runs trained before it existed had one
    over the full fused vectors, whose neighbours lean to the query's seen status: it is built here instead."""
    if run.content_index.exists():
        return ItemIndex.load(run.content_index)
    logger.info("%s has no %s; building it in memory (save it with `eccr train --config %s --out %s --stages index`)",
                run.root, run.content_index.name, run.root, run.root)
    return ItemIndex.build(content_vectors(fused))
