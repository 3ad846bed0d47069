"""The systems `eccr evaluate` compares, built from one run directory, all behind the Scorer interface.

- eccr:            the pipeline's ranking (attention-CF + directed score, + LM re-scoring when `with_lm`)
- eccr_bought_together: the same pipeline ranked by its "bought_together" blend (fitted on retrieval lists)
- attention_cf:    the attention-CF ranker alone (Lake et al.) over the fused item vectors (or attrformer / sasrec
                   when the run's ranker.kind is one of those), and every ranker saved under rankers/<name>/
                   (scripts/compare_rankers.py trains AttrFormer and its SASRec ablation there)
- directed:        the directed complement score s(query)·t(candidate) alone
- complement:      the listwise complement scorer over frozen text vectors alone (eccr/rank/complement.py)
- personal_metric: the personalised item-to-item metric (Hoang et al. 2022, eccr/rank/personal_metric.py): the
                   shopper's source weights fitted on their history; global_metric: the population weights for
                   everyone. The first `eccr evaluate` fits both on the run's train part (RUN/personal_metric/)
- tuned_cosine:    cosine of the text encoder fine-tuned for complements (eccr/represent/complement_encoder.py),
                   in runs trained with complement_encoder.enabled
- baselines:       popularity, last-item cosine, weighted sum (CMA-ES-tuned by `eccr train`'s baselines stage;
                   untuned defaults in runs without it), DAN (trained by that stage), co-occurrence, text cosine,
                   category-pair prior (P(candidate leaf | query leaf) from train pairs)
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager

import numpy as np

from eccr.rank.base import Scores

log = logging.getLogger("eccr.evaluate")


class DirectedScorer:
    name = "directed"

    def __init__(self, recommender):
        self.rec = recommender

    def score_candidates(self, query: Sequence[str], candidates: Sequence[str], history: Sequence[str] = ()) -> Scores:
        return Scores(self.rec.candidates.directed(str(query[-1]), [str(c) for c in candidates]))

    def retrieve(self, query: list[str], k: int, among: AbstractSet[str] | None = None):
        ids = self.rec.retrieve([str(q) for q in query], k, among)
        return ids, self.rec.candidates.directed(str(query[-1]), ids)


class PipelineScorer:
    """The full ranking of `Recommender.recommend` on given candidates (no explanations)."""

    def __init__(self, recommender, with_lm: bool, name: str = "eccr", lm_weight: float = 1.0,
                 ranking: str = "coherent"):
        self.rec, self.with_lm, self.name, self.ranking = recommender, with_lm, name, ranking
        self.lm_weight = lm_weight  # used when with_lm, whatever the recommender's default

    @contextmanager
    def _system_setting(self):
        """This system's LM weight and blend for the duration of one call (the recommender is shared)."""
        saved = self.rec.config.lm_weight, self.rec.config.ranking
        self.rec.config.lm_weight = self.lm_weight if self.with_lm else 0.0
        self.rec.config.ranking = self.ranking
        try:
            yield
        finally:
            self.rec.config.lm_weight, self.rec.config.ranking = saved

    def score_candidates(self, query: Sequence[str], candidates: Sequence[str], history: Sequence[str] = ()) -> Scores:
        """The pipeline's own final scores (ties stay ties, so the protocol counts them against the system);
        with the LM, its re-ranking of the top `lm_top` as `Recommender.recommend` does it."""
        history = [h for h in map(str, history) if self.rec.is_titled(h)]
        candidates = [str(c) for c in candidates]
        with self._system_setting():
            if not self.with_lm:
                query_id = self.rec.resolve_item(str(query[-1]))
                known = [c for c in candidates if c in self.rec.items and c != query_id]
                by_id = dict(zip(known, self.rec.score_pool(query_id, history, known))) if known else {}
                return Scores(np.array([by_id.get(c, -np.inf) for c in candidates], dtype=np.float64))
            rec = self.rec.recommend(str(query[-1]), list(history), len(candidates), "eccr", explain=False,
                                     candidates=candidates, judge=False)
        rank_of = {item.item_id: item.score for item in rec.items}
        return Scores(np.array([float(rank_of.get(c, -np.inf)) for c in candidates]))

    def retrieve(self, query: list[str], k: int, among: AbstractSet[str] | None = None):
        """What the product does on the full catalogue: retrieve (FAISS + co-occurrence), then rank; `among`: the
        pool is retrieved from these items only (as if the catalogue held only them)."""
        pool = None
        if among is not None:
            pool = self.rec.retrieve([str(query[-1])], self.rec.config.retrieve_k, among)
            if not pool:
                return [], np.zeros(0)
        with self._system_setting():
            rec = self.rec.recommend(str(query[-1]), [], k, "eccr", explain=False, candidates=pool, judge=False)
        return [i.item_id for i in rec.items], np.array([i.score for i in rec.items])


def build_systems(recommender, with_lm: bool = False, only: Sequence[str] | None = None) -> dict:
    """name -> Scorer. `eccr` first: the report compares every baseline with it. `only`: just these names (those
    the run has), without loading the stored baselines (rankers, DAN) or fitting the personalised metric for the
    others."""
    import json

    from eccr.rank.attrformer import load_ranker_scorer
    from eccr.rank.baselines import (
        DAN,
        CategoryPairPrior,
        DANScorer,
        LastItemCosine,
        TextCosine,
        WeightedSum,
        category_of_items,
    )

    rec = recommender  # its fitted baselines are reused: same train sequences, fitted once
    text = rec.baselines["text-cosine"]
    systems = {"eccr": PipelineScorer(rec, with_lm=False)}
    if with_lm and rec.lm is not None:
        systems["eccr+lm"] = PipelineScorer(rec, with_lm=True, name="eccr+lm")
    if "bought_together" in rec.blends:
        systems["eccr_bought_together"] = PipelineScorer(rec, with_lm=False, name="eccr_bought_together",
                                                         ranking="bought_together")
    systems.update({
        rec.ranker.name: rec.ranker,  # the run's ranker as the Recommender serves it: attention_cf | attrformer | sasrec
        "directed": DirectedScorer(rec),
        **({"complement": rec.complement} if rec.complement is not None else {}),
        "text_cosine": text,
        **({"tuned_cosine": TextCosine(rec.candidates.tuned_text, name="tuned_cosine")}
           if rec.candidates.tuned_text is not None else {}),
        "category_prior": CategoryPairPrior(category_of_items(rec.catalog.items), rec.train_pairs, text=text),
        "co_occurrence": rec.baselines["co-occurrence"],
        "popularity": rec.popularity,
        "last_item_cosine": LastItemCosine(rec.fused),
    })
    tuned = json.loads(rec.run.weighted_sum.read_text()) if rec.run.weighted_sum.exists() else {}
    systems["weighted_sum"] = WeightedSum(rec.fused, decay=tuned.get("decay", 0.0),
                                          query_boost=tuned.get("query_boost", 1.0))
    def wanted(*names: str) -> bool:
        return only is None or any(n in only for n in names)

    for folder in sorted(rec.run.root.glob("rankers/*/config.json")):  # rankers trained beside the run's own
        if not wanted(folder.parent.name):
            continue
        systems.setdefault(folder.parent.name, load_ranker_scorer(folder.parent, rec.fused, name=folder.parent.name,
                                                                  max_memory=rec.run_config.ranker.max_memory))
    if wanted("dan") and (rec.run.dan / "config.json").exists():
        systems["dan"] = DANScorer(DAN.from_pretrained(rec.run.dan), rec.fused,
                                   max_memory=rec.run_config.ranker.max_memory)
    elif wanted("dan"):
        log.warning("%s has no DAN baseline (trained by `eccr train`'s baselines stage); rerun `eccr train` to add it",
                    rec.run.root)
    if wanted("personal_metric", "global_metric"):
        try:
            from eccr.rank.personal_metric import PersonalMetricScorer, metric_for_run

            metric = metric_for_run(rec.run.root, rec.run_config.personal_metric, log=log.info)
            systems["personal_metric"] = PersonalMetricScorer(metric, personal=True)
            systems["global_metric"] = PersonalMetricScorer(metric, personal=False)
        except (FileNotFoundError, ValueError, KeyError) as err:  # e.g. the run's data files are gone
            log.warning("%s: no personalised metric (%s)", rec.run.root, err)
    return systems if only is None else {k: v for k, v in systems.items() if k in only}
