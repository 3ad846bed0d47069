"""`Recommender`: retrieve → rank → LM selects and explains. The one object the CLI, the batch job and the demo
share. It composes four parts:

- item lookup (eccr/data/lookup.py): ids, titles and free text → catalogue rows; items added at run time
  (`add_items`, cold start) get text, directed and fused vectors, index rows and semantic IDs here;
- the rank level (eccr/rank/candidates.py, `CandidateRanker`): the candidate pool from the FAISS indexes and
  past co-purchases, one feature row per candidate, the fitted blend ("coherent" by default, "bought_together"
  on request) with candidates flagged `incompatible` (made for another brand, model, lens mount or card format) moved to the
  bottom (`demote_incompatible`). `eccr train` fits the blends on the features of this same object;
- LM scoring (eccr/llm/item_lm.py): + lm_weight·z(LM log-prob) over the top `lm_top` (lm_weight is 0 by
  default; see RecommenderConfig);
- "is it a coherent complement?" (eccr/rank/uncertainty.py, `CoherenceJudge`, when the run has the `coherence`
  stage): per recommendation a calibrated probability, the ensemble's uncertainty and the verdict at the run's
  target precision (one threshold per uncertainty level); `min_confidence` keeps only items at or above a
  probability. Runs without it fall back to the attention-CF ranker's sigmoid for the `complementary` flag;
- explanations: the LM writes one sentence per recommendation (batched); a sentence that fails the grounding
  check (names both items, no brand/model/quantity absent from both titles, no claim the pair flags contradict,
  no "shoppers bought them together" for a pair the run never saw bought) is replaced by the grounded template
  composed from titles, categories and matched attributes (`explanation_source`: "lm" or "template").

A run directory is a model folder: `Recommender.from_pretrained(folder)` loads it, `save_pretrained(folder)`
writes it with the items added at run time (safetensors, JSON and Parquet; nothing is pickled), and they come
back on the next load.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path

import numpy as np
import pandas as pd

from eccr.coherence import (
    AttributeExtractor,
    PairFlags,
    grounded_explanation_stating,
    grounding,
    pair_flags,
    repeats_itself,
    without_category_tags,
)
from eccr.data.lookup import ItemLookup, read_catalog
from eccr.data.schema import Catalog
from eccr.llm.item_lm import ItemLM, load_serving_lm  # transformers/peft/llama.cpp load inside
from eccr.quantize.history import attention_weigher
from eccr.quantize.rq import load_quantizer
from eccr.quantize.semantic_ids import SemanticIDTable
from eccr.rank.blend import FIT_VERSION
from eccr.rank.candidates import CandidateRanker, diversify_by_type
from eccr.rank.config import PoolSize, RecommenderConfig
from eccr.rank.uncertainty import CoherenceJudge
from eccr.recommendation import Recommendation, RecommendedItem
from eccr.represent.complement_encoder import tuned_text_vectors
from eccr.represent.directed import DirectedModel, directed_vectors
from eccr.represent.fuse import DirectedVectors, fuse
from eccr.represent.text import text_vectors
from eccr.represent.vectors import ItemVectors
from eccr.run import Run, load_run_config

__all__ = ["Recommender", "RecommenderConfig", "diversify_by_type"]

log = logging.getLogger("eccr.pipeline")
ADDED_ITEMS = "added_items"  # the run-time items a saved model folder carries (catalog.parquet, vectors, IDs)
_ADDED_VECTORS = ("text", "source", "target", "fused")
_OPTIONAL_ADDED_VECTORS = ("tuned_text",)  # runs with a tuned text encoder (blend feature "tuned_cosine")


LM_EXPLAIN_MODES = ("reason_first", "lm")  # RecommenderConfig.explain values that ask the LM


def _z(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    out = np.zeros_like(values)
    if finite.sum() >= 2 and values[finite].std() > 0:
        out[finite] = (values[finite] - values[finite].mean()) / values[finite].std()
    out[~finite] = -10.0
    return out


def _on_candidates(name: str, doc: str) -> property:
    return property(lambda self: getattr(self.candidates, name), doc=doc)


class Recommender:
    """A trained run, served (see the module docstring): `Recommender.from_pretrained(folder, **overrides)` with
    RecommenderConfig fields as overrides; `recommend`, `recommend_many`, `explain_pairs`, `add_items`,
    `save_pretrained`."""

    def __init__(self, run_dir: str | Path, config: RecommenderConfig | None = None):
        self.run = Run(run_dir)
        self.config = config or RecommenderConfig()
        self.run_config = load_run_config(run_dir)
        catalog = read_catalog(self.run.catalog)
        train = json.loads(self.run.train_sequences.read_text())
        self.dataset_name = train["name"]
        self.extractor = AttributeExtractor(catalog)
        self.candidates = CandidateRanker.from_run(self.run, catalog, self.extractor,
                                                   max_memory=self.run_config.ranker.max_memory,
                                                   train_sequences=train["sequences"],
                                                   personal_ranking=self.config.ranking == "personal_metric")
        self.items: ItemLookup = self.candidates.items
        for name, blend in self.blends.items():
            if blend.info and blend.info.get("version") != FIT_VERSION:
                log.warning("%s: the %s blend was fitted by an older eccr (fit version %s, now %s), whose features "
                            "differ; refit it: `eccr train --config %s --out %s --stages blend`", run_dir, name,
                            blend.info.get("version"), FIT_VERSION, run_dir, run_dir)
        if self.config.ranking not in self.blends:
            raise ValueError(f"ranking {self.config.ranking!r} is not available in {run_dir}; choose from "
                             f"{sorted(self.blends)} (rerun `eccr train` to fit the bought_together blend)")
        self.table = self.quantizer = None
        if self.run.semantic_ids.exists():
            self.table = SemanticIDTable.load(self.run.semantic_ids)
            self.quantizer = load_quantizer(self.run.quantizer)
        self.judge: CoherenceJudge | None = None  # None in runs trained before the `coherence` stage
        if (self.run.coherence / "coherence_rule.json").exists():
            self.judge = CoherenceJudge.from_pretrained(self.run.coherence, self.text, catalog)
        self.item_lm = None
        if self.config.use_lm and self.table is not None and (self.run.adapter / "adapter_config.json").exists():
            model = self.run_config.model
            lm, tokenizer, generator, _ = load_serving_lm(
                self.run.adapter, device=self.config.device, backend=self.config.backend or model.backend,
                gguf_type=model.gguf_type, cache_dir=model.cache_dir)
            tasks = self.run_config.tasks
            if self.run.prompts.is_dir():  # the prompts the adapter was trained on (runs since 2026-12-04)
                tasks = dataclasses.replace(tasks, prompts_dir=str(self.run.prompts))
            self.item_lm = ItemLM(lm, tokenizer, self.table, catalog, tasks, self.extractor,
                                  basket_weigher=attention_weigher(self.ranker), generator=generator)
        self._added: list[tuple[Catalog, dict[str, ItemVectors]]] = []
        self._behaviour: ItemVectors | None = None
        self._bought: set[tuple[str, str]] | None = None  # train pairs, built on the first explanation
        if (self.run.root / ADDED_ITEMS / "catalog.parquet").exists():
            self._restore_added(self.run.root / ADDED_ITEMS)

    @classmethod
    def from_pretrained(cls, folder: str | Path, **overrides) -> Recommender:
        """A trained run directory (or a folder written by `save_pretrained`), with RecommenderConfig overrides."""
        return cls(folder, RecommenderConfig(**overrides))

    from_run = from_pretrained

    # ------------------------------------------------------------------ the parts, by their old names
    text = _on_candidates("text", "text vectors of every known item")
    source = _on_candidates("source", "directed source vectors")
    target = _on_candidates("target", "directed target vectors (the FAISS index holds these)")
    fused = _on_candidates("fused", "fused item vectors (the ranker's input)")
    index = _on_candidates("index", "FAISS index over the target vectors")
    ranker = _on_candidates("ranker", "the attention-CF scorer")
    complement = _on_candidates("complement", "the listwise complement scorer (None in runs without it)")
    baselines = _on_candidates("baselines", "text-cosine and co-occurrence scorers (also blend features)")
    popularity = _on_candidates("popularity", "train-part popularity")
    category_prior = _on_candidates("category_prior", "P(candidate leaf | query leaf) from train pairs")
    blends = _on_candidates("blends", "ranking name -> fitted Blend")
    train_sequences = _on_candidates("train_sequences", "the train part's baskets")
    train_pairs = _on_candidates("train_pairs", "ordered item pairs of the train part's baskets")
    lm = property(lambda self: self.item_lm.model if self.item_lm is not None else None)
    tokenizer = property(lambda self: self.item_lm.tokenizer if self.item_lm is not None else None)

    @property
    def blend(self):
        return self.blends[self.config.ranking]

    @property
    def catalog(self) -> Catalog:
        return self.items.catalog

    @property
    def titled(self) -> list[str]:
        return self.items.titled

    # ------------------------------------------------------------------ catalogue access
    @property
    def systems(self) -> list[str]:
        return ["eccr", *self.baselines]

    @property
    def catalog_size(self) -> int:
        return len(self.items)

    def is_titled(self, item_id: str) -> bool:
        """A catalogue item with a title and vectors: the items that can be queried and recommended."""
        return self.items.is_titled(item_id)

    @property
    def run_info(self) -> dict:
        info = {"run": str(self.run.root), "dataset": self.dataset_name, "items": self.catalog_size,
                "lm": self.run_config.model.spec if self.lm is not None else None,
                "lm_backend": self.item_lm.backend if self.item_lm is not None else None,
                "semantic_ids": self.table is not None,
                "coherence": (f"judge at precision {self.judge.rule.target_precision:g}" if self.judge is not None
                              else "no judge (complementary = ranker sigmoid)")}
        metrics = self.run / "metrics.json"
        if metrics.exists():  # the headline of `eccr evaluate`: the ECCR protocol for the main system
            report = json.loads(metrics.read_text())
            for result in report.get("results", []):
                if result.get("protocol") == "eccr" and result.get("system") == report.get("main_system"):
                    info["metrics"] = {f"ECCR {k}": v["mean"] for k, v in result.get("summary", {}).items()}
                    break
        return info

    def search_items(self, text: str, limit: int = 20) -> list[tuple[str, str]]:
        """(item_id, title) whose title contains every word of `text` (case-insensitive); "" lists the first."""
        return self.items.search(text, limit)

    def resolve_item(self, item: str) -> str:
        """An item id, an exact title, or the best title match for free text."""
        return self.items.resolve(item)

    def item_row(self, item_id: str) -> dict:
        return self.items.row(item_id)

    def category_text(self, *items: str) -> str:
        return self.items.category_text(*items)

    def _leaf(self, item_id: str) -> str:
        return self.items.leaf(item_id)

    def _semantic_id(self, item_id: str) -> str:
        return self.table.id_string(item_id) if self.table is not None and item_id in self.table else ""

    # ------------------------------------------------------------------ scoring (the rank level)
    @property
    def pool_size(self) -> PoolSize:
        return PoolSize(self.config.retrieve_k, self.config.retrieve_near_k, self.config.retrieve_text_k)

    def retrieve(self, query: Sequence[str], k: int, among: AbstractSet[str] | None = None) -> list[str]:
        """The candidate pool for `query` (see CandidateRanker.retrieve), `k` from the directed index; `among`:
        only these items."""
        return self.candidates.retrieve(query, dataclasses.replace(self.pool_size, k=k), among)

    def features(self, query: str, history: Sequence[str], pool: Sequence[str]):
        """(features, the ranker's Scores, PairFlags per candidate): see CandidateRanker.features."""
        return self.candidates.features(query, history, pool)

    def final_scores(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        """The blend of `config.ranking`, with incompatible candidates moved to the bottom when configured."""
        return self.candidates.final_scores(feats, self.config.ranking, self.config.demote_incompatible)

    def score_pool(self, query: str, history: Sequence[str], pool: Sequence[str]) -> np.ndarray:
        """The final score of `config.ranking`'s blend for each candidate (no LM), in pool order."""
        return self.final_scores(self.features(query, history, pool)[0])

    def recommend(self, item: str, basket: Sequence[str] = (), k: int = 5, system: str = "eccr",
                  explain: bool | str = True, candidates: Sequence[str] | None = None,
                  min_confidence: float | None = None, judge: bool = True) -> Recommendation:
        return self.recommend_many([{"item": item, "basket": list(basket), "candidates": candidates}], k=k,
                                   system=system, explain=explain, min_confidence=min_confidence, judge=judge)[0]

    def recommend_many(self, queries: list[dict], k: int = 5, system: str = "eccr", explain: bool | str = True,
                       min_confidence: float | None = None, judge: bool = True) -> list[Recommendation]:
        """Batch form: explanations of all queries are generated together (one batched LM call).

        `explain`: True = as configured (`config.explain`), "template" = the grounded templates only (no LM call;
        `explain_with_lm` can replace them later), False = none.
        `min_confidence` P: the best `k` of the candidates whose coherent_probability is at least P (so fewer
        than k when fewer pass); needs the run's coherence judge. `judge=False` skips the judge's verdicts (the
        ranking is the same; evaluation reads only the scores)."""
        if explain not in (True, False, "template"):
            raise ValueError(f"explain must be True, False or 'template', not {explain!r}")
        if system not in self.systems:
            raise ValueError(f"unknown system {system!r}; choose from {self.systems}")
        if min_confidence is not None:
            self.require_judge()
        results = [self._rank_one(q["item"], q.get("basket") or [], k, system, q.get("candidates"), min_confidence,
                                  judge) for q in queries]
        if explain and self.config.explain != "none":
            self._explain(results, use_lm=explain is True)
        return results

    def require_judge(self) -> None:
        """A clear error when the run has no coherence judge to filter on (min_confidence), naming the fix."""
        if self.judge is None:
            root = self.run.root
            raise ValueError(f"{root} has no coherence judge to filter on (min_confidence); fit it with "
                             f"`eccr train --config {root} --out {root} --stages coherence`")

    @property
    def explains_with_lm(self) -> bool:
        """Whether explanations come from the LM (with the template as fallback) rather than templates only."""
        return self.config.explain in LM_EXPLAIN_MODES and self.item_lm is not None

    def explain_with_lm(self, results: list[Recommendation]) -> list[Recommendation]:
        """Replace the explanations of `results` (e.g. from `recommend(..., explain="template")`, shown at once)
        with the LM's where they pass the grounding check; a no-op without an LM. Returns `results`."""
        if self.explains_with_lm:
            self._explain(results, use_lm=True)
        return results

    def _rank_one(self, item: str, basket: Sequence[str], k: int, system: str,
                  candidates: Sequence[str] | None, min_confidence: float | None = None,
                  judge: bool = True) -> Recommendation:
        timings: dict = {}
        t = time.perf_counter()
        query = self.resolve_item(item)
        basket_ids = [self.resolve_item(b) for b in basket]
        earlier = [b for b in basket_ids if b != query]  # the basket without the query: the ranker's history
        memory = earlier + [query]
        if candidates:
            pool = [c for c in map(str, candidates) if c in self.items and c not in memory]
        else:
            pool = self.retrieve(memory, self.config.retrieve_k) if system == "eccr" else \
                [c for c in self.titled if c not in memory]
        timings["retrieve"] = time.perf_counter() - t
        t = time.perf_counter()
        attention = np.zeros((len(pool), 0))
        pool_flags = None
        memory_ids: list[str] = []
        lm = np.full(len(pool), np.nan)
        # what the judge's ranking rule reads: the coherent blend's score in pool order, when that blend ranks (not
        # for an out-of-domain query, which text cosine ranks, nor for another ranking); None: the judge reads its
        # own ensemble
        judged_scores = None
        if system == "eccr":
            feats, scores, pool_flags = self.features(query, earlier, pool)
            blended = self.candidates.blend_scores(feats, self.config.ranking)
            judged_scores = blended if self.config.ranking == "coherent" else None
            ranker = feats["ranker"]
            memory_ids = scores.extra.get("memory", [])
            if scores.attention is not None and scores.attention.size:
                attention = scores.attention.mean(axis=1)
            final = self.candidates.final_scores(feats, self.config.ranking, self.config.demote_incompatible, blended)
            timings["rank"] = time.perf_counter() - t
            if self.item_lm is not None and self.config.lm_top > 0 and self.config.lm_weight > 0:
                t = time.perf_counter()
                final, lm = self._lm_rescore(query, earlier, pool, final)
                timings["lm"] = time.perf_counter() - t
        else:
            ranker = self.baselines[system].score_candidates([query], pool, history=earlier).scores
            final = np.asarray(ranker, dtype=np.float64)
            timings["rank"] = time.perf_counter() - t
        order = np.argsort(-final, kind="stable")
        if self.config.max_per_type > 0:
            # the margin and floor are on the coherent blend's log-odds: not for text cosine (an out-of-domain
            # query), another blend or LM-rescored scores, which the cap alone diversifies
            blend_scale = judged_scores is not None and not np.isfinite(lm).any()
            order = diversify_by_type(order, [self._leaf(c) for c in pool], self.config.max_per_type,
                                      final if blend_scale else None, self.config.type_margin,
                                      self.config.type_floor)
        t = time.perf_counter()
        if min_confidence is not None:
            order, verdicts = self._confident(query, pool, order, k, min_confidence, judged_scores, pool_flags)
        else:
            order = order[:k]
            verdicts = (self._judge_part(query, pool, order, judged_scores, pool_flags)
                        if judge and self.judge is not None else None)
        if verdicts is not None:
            timings["judge"] = time.perf_counter() - t
        qrow = self.item_row(query)
        items = []
        for n, i in enumerate(order):
            cid = pool[i]
            row = self.item_row(cid)
            verdict = verdicts[n] if verdicts is not None else {}
            if verdict:  # the coherence judge decides (never for a pair the flags call incompatible)
                complementary = verdict["coherent"]
            else:  # a run without the judge: the attention-CF ranker's sigmoid, as before the `coherence` stage
                probability = 1.0 / (1.0 + np.exp(-ranker[i])) if system == "eccr" and np.isfinite(ranker[i]) else None
                complementary = bool(probability is not None and probability >= 0.5) if system == "eccr" else False
            flags = (dataclasses.replace(pool_flags[i], complementary=complementary) if pool_flags is not None
                     else pair_flags(qrow, row, self.extractor, complementary=complementary)).as_dict()
            weights = {m: round(float(w), 4) for m, w in zip(memory_ids, attention[i])} if attention.shape[1] else {}
            items.append(RecommendedItem(
                item_id=cid, title=row["title"], category=list(row["category"]), semantic_id=self._semantic_id(cid),
                score=float(final[i]), ranker_score=float(ranker[i]) if np.isfinite(ranker[i]) else float("-inf"),
                lm_score=float(lm[i]) if np.isfinite(lm[i]) else None, flags=flags, explanation="",
                attention=weights, coherent_probability=verdict.get("probability"),
                uncertainty=verdict.get("uncertainty"), uncertainty_level=verdict.get("level"),
                coherent=verdict.get("coherent")))
        return Recommendation(query=qrow, basket=[self.item_row(b) for b in basket_ids], items=items, system=system,
                              timings={k_: round(v, 4) for k_, v in timings.items()})

    def _judge_part(self, query: str, pool: Sequence[str], part: np.ndarray, judged_scores: np.ndarray | None,
                    pool_flags) -> list[dict]:
        """The judge's verdicts on the candidates `part` (positions in `pool`): from the score that ranks when
        `judged_scores` are given, never coherent where the pool's flags say incompatible."""
        return self.judge.judge([query], [pool[i] for i in part], None if judged_scores is None else judged_scores[part],
                                None if pool_flags is None else [pool_flags[i].incompatible for i in part])

    def _confident(self, query: str, pool: Sequence[str], order: np.ndarray, k: int,
                   min_confidence: float, judged_scores: np.ndarray | None = None,
                   pool_flags=None) -> tuple[np.ndarray, list[dict]]:
        """The first k of `order` whose coherent probability reaches `min_confidence`, with their verdicts; the
        pool is judged in chunks down the ranking until k pass (a baseline's pool is the whole catalogue)."""
        kept, verdicts, chunk = [], [], max(4 * k, 100)
        for start in range(0, len(order), chunk):
            part = order[start:start + chunk]
            for i, verdict in zip(part, self._judge_part(query, pool, part, judged_scores, pool_flags)):
                if verdict["probability"] >= min_confidence and len(kept) < k:
                    kept.append(i)
                    verdicts.append(verdict)
            if len(kept) >= k:
                break
        return np.asarray(kept, dtype=np.int64), verdicts

    def _lm_rescore(self, query: str, earlier: Sequence[str], pool: Sequence[str],
                    final: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(final + lm_weight·z(LM log-prob) over the top `lm_top`, which stay above the rest; LM log-probs)."""
        lm = np.full(len(pool), np.nan)
        top = np.argsort(-final)[: self.config.lm_top]
        lm_top = self.item_lm.score(query, earlier, [pool[i] for i in top])
        lm[top] = lm_top
        if np.isfinite(lm_top).any():
            boost = np.zeros(len(pool))
            boost[top] = self.config.lm_weight * np.nan_to_num(_z(np.nan_to_num(lm_top, nan=-np.inf)), nan=0.0)
            final = final + boost
            final[np.setdiff1d(np.arange(len(pool)), top)] -= 1e3  # LM-checked items stay on top
        return final, lm

    # ------------------------------------------------------------------ explanations
    def _explain(self, results: list[Recommendation], use_lm: bool = True) -> None:
        """Every item of `results` gets its explanation (one batched LM call across all of them)."""
        owned = [(rec, item) for rec in results for item in rec.items]
        t = time.perf_counter()
        explained = self.explain_pairs([(rec.query["item_id"], item.item_id) for rec, item in owned],
                                       [item.flags for _, item in owned], use_lm=use_lm)
        for rec in results:
            rec.timings["explain"] = round(time.perf_counter() - t, 4)
        for (_, item), (text, source, _) in zip(owned, explained):
            item.explanation, item.explanation_source = text, source

    def bought_together(self, a: str, b: str) -> bool:
        """Whether the pair shares a basket of the run's train part (what the run knows shoppers bought)."""
        if self._bought is None:
            self._bought = set(self.train_pairs)
        return (a, b) in self._bought

    def explain_pairs(self, pairs: Sequence[tuple[str, str]], flags: Sequence[dict] | None = None,
                      intents: Sequence[str] | None = None, use_lm: bool = True,
                      raw_for_all: bool = False) -> list[tuple[str, str, str]]:
        """(explanation, source, raw LM sentence) per (query, item) pair, by `config.explain`: the LM sentence
        ("lm"; without a "[Leaf]" tag copied from a teacher's prompt) when it passes the grounding check against
        the pair's flags and whether the run saw the pair bought together and does not repeat itself, else the grounded template ("template"); with "reason_first" a
        template that states a reason is shown without asking the LM. raw is "" when the LM was not asked (no LM,
        `use_lm` False, or a reasoned template; `raw_for_all` asks it about every pair, for reports)."""
        rows = self.items.rows
        templates, pair_evidence, bought, reasoned = [], [], [], []
        for n, (q, c) in enumerate(pairs):
            pf = PairFlags.from_dict(flags[n]) if flags is not None else pair_flags(
                rows[q], rows[c], self.extractor, complementary=True)
            bought.append(self.bought_together(q, c))
            pair_evidence.append(pf)
            template, states_reason = grounded_explanation_stating(
                rows[q], rows[c], pf, intents[n] if intents is not None else "", bought_together=bought[-1],
                extractor=self.extractor)
            templates.append(template)
            reasoned.append(self.config.explain == "reason_first" and states_reason)
        raw = [""] * len(pairs)
        if use_lm and self.explains_with_lm:
            asked = [n for n in range(len(pairs)) if raw_for_all or not reasoned[n]]
            if asked:
                for n, text in zip(asked, self.item_lm.explain([pairs[n] for n in asked], self.config.max_new_tokens)):
                    raw[n] = text
        out = []
        for (q, c), text, template, pf, together, keep_template in zip(pairs, raw, templates, pair_evidence, bought,
                                                                      reasoned):
            sentence = without_category_tags(text, (self._leaf(q), self._leaf(c))) if text else text
            if not keep_template and sentence and not repeats_itself(sentence) and grounding(
                    sentence, rows[q]["title"], rows[c]["title"], self.extractor, flags=pf, bought_together=together,
                    categories=(self.category_text(q), self.category_text(c))).grounded:
                out.append((sentence, "lm", text))
            else:
                out.append((template, "template", text))
        return out

    # ------------------------------------------------------------------ cold start
    def add_items(self, extra: Catalog) -> list[str]:
        """Make new items (title + category) recommendable now: text, directed and fused vectors, index rows,
        semantic IDs. Returns the ids added (ids already known are skipped). `save_pretrained` keeps them."""
        new = extra.items[~extra.items["item_id"].isin(list(self.items.rows))]
        new = new[new["title"].str.len() > 0]
        if new.empty:
            return []
        cat = Catalog(new.copy())
        text = text_vectors(cat, self.run_config.text)
        source, target = directed_vectors(DirectedModel.load(self.run.directed_model), cat, text)
        if self._behaviour is None and self.run.behaviour.with_suffix(".json").exists():
            self._behaviour = ItemVectors.load(self.run.behaviour)
        fused = fuse(text, self._behaviour, DirectedVectors(source, target), self.run_config.fusion)
        vectors = {"text": text, "source": source, "target": target, "fused": fused}
        if self.candidates.tuned_text is not None:
            vectors["tuned_text"] = tuned_text_vectors(cat, self.run_config.text, self.run.complement_encoder)
        self._add(cat, vectors)
        return list(cat.items["item_id"])

    def _add(self, cat: Catalog, vectors: dict[str, ItemVectors], codes: SemanticIDTable | None = None) -> None:
        """Items with their vectors into the lookup, the rank level, the ID table (`codes`: the IDs saved with
        them, else new ones from the quantizer) and the LM."""
        self.items.add(cat)
        self.extractor.rebuild(self.catalog)
        self.candidates.add_items(vectors["text"], vectors["source"], vectors["target"], vectors["fused"],
                                  vectors.get("tuned_text"))
        if self.judge is not None:
            self.judge = self.judge.with_items(self.text, self.catalog)
        if self.table is not None:
            fused = vectors["fused"]
            if codes is None:
                self.table.add_items(fused.ids, fused.vectors, self.quantizer)
            else:
                self.table = _with_saved_ids(self.table, codes, fused.ids)
            if self.item_lm is not None:
                self.item_lm.table = self.table
                self.item_lm.items_added(self.catalog, attention_weigher(self.ranker))
        self._added.append((cat, vectors))

    # ------------------------------------------------------------------ model folder
    def save_pretrained(self, folder: str | Path) -> Path:
        """Write this recommender as a model folder that `from_pretrained` loads: the run directory's files
        (training checkpoints left out) and, under added_items/, the items added at run time with their
        vectors (safetensors) and semantic IDs (JSON). Saving into the run directory itself only (re)writes
        added_items/. Returns the folder."""
        folder = Path(folder)
        same = folder.exists() and folder.resolve() == self.run.root.resolve()
        if not same:
            if folder.exists() and any(folder.iterdir()):
                raise FileExistsError(f"{folder} is not empty; save a model folder into a new or empty folder")
            shutil.copytree(self.run.root, folder, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("checkpoints", ADDED_ITEMS, f"{ADDED_ITEMS}.tmp"))
        final, tmp = folder / ADDED_ITEMS, folder / f"{ADDED_ITEMS}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        if self._added:
            tmp.mkdir()
            items = pd.concat([cat.items for cat, _ in self._added], ignore_index=True)
            items["category"] = [list(c) for c in items["category"]]
            items.to_parquet(tmp / "catalog.parquet", index=False)
            for name in _ADDED_VECTORS + _OPTIONAL_ADDED_VECTORS:
                parts = [v[name] for _, v in self._added if name in v]
                if not parts:
                    continue
                ItemVectors([i for p in parts for i in p.ids], np.concatenate([p.vectors for p in parts]),
                            dict(parts[0].meta)).save(tmp / name)
            if self.table is not None:
                ids = list(items["item_id"])
                rows = np.asarray([self.table.codes_for(i) for i in ids], dtype=np.int64)
                SemanticIDTable(ids, rows, dict(self.table.meta)).save(tmp / "semantic_ids.json")
        shutil.rmtree(final, ignore_errors=True)
        if self._added:
            os.replace(tmp, final)
        return folder

    def _restore_added(self, folder: Path) -> None:
        """Items a saved model folder carries: added again with their saved vectors and IDs (nothing re-encoded)."""
        cat = read_catalog(folder / "catalog.parquet")
        known = [i for i in cat.items["item_id"] if i in self.items]
        if known:
            raise ValueError(f"{folder}: added items {known[:3]} are already in the run's catalogue")
        vectors = {name: ItemVectors.load(folder / name) for name in _ADDED_VECTORS}
        vectors.update({name: ItemVectors.load(folder / name) for name in _OPTIONAL_ADDED_VECTORS
                        if (folder / name).with_suffix(".safetensors").exists()})
        codes = SemanticIDTable.load(folder / "semantic_ids.json") if (folder / "semantic_ids.json").exists() \
            else None
        self._add(cat, vectors, codes)
        log.info("%s: %d items added at run time restored", folder, len(cat))


def _with_saved_ids(table: SemanticIDTable, saved: SemanticIDTable, item_ids: Sequence[str]) -> SemanticIDTable:
    """`table` extended by the saved IDs of `item_ids`; an ID that collides with the table's (a retrained run)
    raises, naming the folder to re-add the items in."""
    if set(item_ids) - set(saved.item_ids) or saved.id_length != table.id_length:
        raise ValueError("the saved semantic IDs do not cover the added items; remove added_items/ and add "
                         "them again with `add_items`")
    rows = np.asarray([saved.codes_for(i) for i in item_ids], dtype=np.int64)
    try:
        return SemanticIDTable(table.item_ids + list(item_ids), np.concatenate([table.codes, rows]), dict(table.meta))
    except ValueError as err:
        raise ValueError(f"the saved semantic IDs of the added items clash with the run's ({err}); remove "
                         "added_items/ and add them again with `add_items`") from err
