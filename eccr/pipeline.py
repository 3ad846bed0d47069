"""`Recommender`: retrieve → rank → LM selects and explains. The one object the CLI, the batch job and the demo
share.

1. Retrieve: FAISS over the items' directed *target* vectors, queried with the query's *source* vector (and
   the basket's), plus the nearest items in the fused and in the text space and past co-purchases
   (`retrieve_k`, `retrieve_near_k`, `retrieve_text_k`).
2. Features: the complement scorer (eccr/rank/complement.py), the attention-CF model (Lake et al.; its per-hop
   attention says which basket item drove each recommendation), s·t, category prior, co-occurrence, text and
   fused cosine, popularity, same leaf and the coherence flags (eccr/coherence.py).
3. Final score = the blend (eccr/rank/blend.py: a logistic regression over those features, fitted on honest lists
   of the valid part; "coherent" by default, "bought_together" on request), with candidates flagged
   `incompatible` (made for another brand, model or lens mount) moved to the bottom (`demote_incompatible`)
   + lm_weight·z(LM log-prob) over the top `lm_top` (lm_weight is 0 by default; see RecommenderConfig).
4. Explain: the LM writes one sentence per recommendation (batched); a sentence that fails the grounding check
   (names both items, no brand/model/number absent from both titles) is replaced by the grounded template
   composed from titles, categories and matched attributes (`explanation_source` says which).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eccr.coherence import AttributeExtractor, grounded_explanation, grounding, pair_flags
from eccr.data.schema import Catalog
from eccr.recommendation import Recommendation, RecommendedItem
from eccr.represent.vectors import ItemVectors
from eccr.run import Run, load_run_config

log = logging.getLogger("eccr.pipeline")
INCOMPATIBLE_PENALTY = 1e3  # larger than any blend score difference: a demotion, not a weight


@dataclass
class RecommenderConfig:
    retrieve_k: int = 100          # candidates fetched from the directed FAISS index before ranking
    retrieve_near_k: int = 50      # + nearest items in the fused (text+behaviour+directed) space
    retrieve_text_k: int = 100     # + nearest items by text (the complement scorer re-ranks them)
    lm_top: int = 10               # top ranker candidates the LM re-scores (0 = no LM scoring)
    lm_weight: float = 0.0         # weight of the z-scored LM log-probability of the candidate's ID. Off by default:
    #                                with the CPU-trained adapters so far (30-40 LoRA steps) LM re-scoring did not
    #                                help (demo) or hurt (electronic ECCR HR@5 0.76 -> 0.50 on 100 test pairs; README).
    #                                Turn it on (e.g. 1.0) for an adapter that `eccr evaluate --with-lm` shows helps.
    max_per_type: int = 0          # > 0: at most this many items of one leaf category before any item of another
    #                                type moves up (battery, battery, card, bag ... instead of four batteries); a
    #                                reordering, nothing is dropped. 0 (off) in evaluation; the demo uses 2
    demote_incompatible: bool = True  # candidates made for another brand, model or lens mount than the query
    #                                (eccr.coherence.pair_flags' `incompatible`) rank below every other candidate
    ranking: str = "coherent"      # which fitted blend ranks: "coherent" (complements that fit; substitutes pushed
    #                                down) or "bought_together" (what shoppers bundle, similar items included)
    explain: str = "lm"            # "lm" (LM sentence, grounded fallback), "grounded" (template only), "none"
    max_new_tokens: int = 48       # explanation length cap
    use_lm: bool = True            # load the LoRA LM when the run has one
    device: str = "auto"           # LM device


def _z(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    out = np.zeros_like(values)
    if finite.sum() >= 2 and values[finite].std() > 0:
        out[finite] = (values[finite] - values[finite].mean()) / values[finite].std()
    out[~finite] = -10.0
    return out


def diversify_by_type(order: Sequence[int], types: Sequence[str], max_per_type: int) -> np.ndarray:
    """Reorder ranked positions so no type fills more than `max_per_type` places before every other type had
    its turn: items over the cap keep their relative order and follow the rest. Items without a type ("")
    are never held back."""
    first, held = [], []
    seen: dict[str, int] = {}
    for i in order:
        t = types[i]
        if t and seen.get(t, 0) >= max_per_type:
            held.append(i)
            continue
        seen[t] = seen.get(t, 0) + 1
        first.append(i)
    return np.asarray(first + held, dtype=np.int64)


class Recommender:
    def __init__(self, run_dir: str | Path, config: RecommenderConfig | None = None):
        from eccr.rank.attention_cf import AttentionCF, AttentionCFScorer
        from eccr.rank.baselines import CoOccurrence, TextCosine
        from eccr.rank.retrieval import ItemIndex

        self.run = Run(run_dir)
        self.config = config or RecommenderConfig()
        self.run_config = load_run_config(run_dir)
        items = pd.read_parquet(self.run.catalog)
        items["category"] = [list(c) for c in items["category"]]
        self.catalog = Catalog(items)
        self._rows = {r.item_id: r._asdict() for r in self.catalog.items.itertuples(index=False)}
        self.extractor = AttributeExtractor(self.catalog)
        self.text = ItemVectors.load(self.run.text)
        self.behaviour = ItemVectors.load(self.run.behaviour) if self.run.behaviour.with_suffix(".json").exists() else None
        self.source = ItemVectors.load(self.run.source)
        self.target = ItemVectors.load(self.run.target)
        self.fused = ItemVectors.load(self.run.fused)
        self.index = ItemIndex.load(self.run.index)
        self.near_index = ItemIndex.load(self.run.fused_index) if self.run.fused_index.exists() else None
        self.text_index = ItemIndex.load(self.run.text_index) if self.run.text_index.exists() else None
        self.fused_unit = self.fused.normalized()
        self.ranker = AttentionCFScorer(AttentionCF.from_pretrained(self.run.ranker), self.fused,
                                        max_memory=self.run_config.ranker.max_memory)
        self.complement = None
        if (self.run.complement / "complement.json").exists():
            from eccr.rank.complement import ComplementScorer

            self.complement = ComplementScorer.from_pretrained(self.run.complement, self.text, self.catalog)
        from eccr.rank.baselines import CategoryPairPrior, Popularity, category_of_items
        from eccr.rank.blend import Blend

        train = json.loads(self.run.train_sequences.read_text())
        self.dataset_name = train["name"]
        self.train_sequences: list[list[str]] = train["sequences"]
        self.train_pairs = [(a, b) for seq in self.train_sequences for a in seq for b in seq if a != b]
        self.baselines = {"text-cosine": TextCosine(self.text),
                          "co-occurrence": CoOccurrence.fit(self.train_sequences, directed=False)}
        self.category_prior = CategoryPairPrior(category_of_items(self.catalog.items), self.train_pairs)
        self.popularity = Popularity.fit(self.train_sequences)
        self.blends = {"coherent": Blend.load(self.run.blend) if self.run.blend.exists() else Blend()}
        if self.run.retrieval_blend.exists():
            self.blends["bought_together"] = Blend.load(self.run.retrieval_blend)
        if self.config.ranking not in self.blends:
            raise ValueError(f"ranking {self.config.ranking!r} is not available in {run_dir}; choose from "
                             f"{sorted(self.blends)} (rerun `eccr train` to fit the bought_together blend)")
        self.table = self.quantizer = None
        if self.run.semantic_ids.exists():
            from eccr.quantize.rq import load_quantizer
            from eccr.quantize.semantic_ids import SemanticIDTable

            self.table = SemanticIDTable.load(self.run.semantic_ids)
            self.quantizer = load_quantizer(self.run.quantizer)
        self.lm = self.tokenizer = None
        if self.config.use_lm and (self.run.adapter / "adapter_config.json").exists():
            from eccr.llm.sft import load_finetuned

            self.lm, self.tokenizer = load_finetuned(self.run.adapter, device=self.config.device)
        self.titled = [i for i in self.text.ids if self._rows.get(i, {}).get("title")]
        self._titled_set = set(self.titled)
        self._title_lower = {self._rows[i]["title"].lower(): i for i in self.titled}

    @classmethod
    def from_run(cls, run_dir: str | Path, **overrides) -> Recommender:
        return cls(run_dir, RecommenderConfig(**overrides))

    # ------------------------------------------------------------------ catalogue access
    @property
    def blend(self):
        return self.blends[self.config.ranking]

    @property
    def systems(self) -> list[str]:
        return ["eccr", *self.baselines]

    @property
    def catalog_size(self) -> int:
        return len(self.titled)

    def is_titled(self, item_id: str) -> bool:
        """A catalogue item with a title and vectors: the items that can be queried and recommended."""
        return str(item_id) in self._titled_set

    @property
    def run_info(self) -> dict:
        info = {"run": str(self.run.root), "dataset": self.dataset_name, "items": self.catalog_size,
                "lm": self.run_config.model.spec if self.lm is not None else None,
                "semantic_ids": self.table is not None}
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
        needle = [w for w in (text or "").lower().split() if w]
        out = []
        for item in self.titled:
            title = self._rows[item]["title"]
            low = title.lower()
            if all(w in low for w in needle) or (needle and item == text.strip()):
                out.append((item, title))
                if len(out) >= limit:
                    break
        return out

    def resolve_item(self, item: str) -> str:
        """An item id, an exact title, or the best title match for free text."""
        item = str(item).strip()
        if self.is_titled(item):
            return item
        if item.lower() in self._title_lower:
            return self._title_lower[item.lower()]
        hits = self.search_items(item, limit=1)
        if hits:
            return hits[0][0]
        raise KeyError(f"no catalogue item matches {item!r}; give an item id or a title")

    def item_row(self, item_id: str) -> dict:
        return self._rows[item_id]

    # ------------------------------------------------------------------ scoring
    def features(self, query: str, history: Sequence[str], pool: Sequence[str]):
        """Every blend feature (eccr.rank.blend.FEATURES) for the candidates in `pool`, the ranker's Scores (for
        its attention weights) and each candidate's PairFlags (reused for the recommendation's flags)."""
        pool = list(pool)
        scores = self.ranker.score_candidates([query], pool, history=list(history))
        qrow = self._rows[query]
        flags = [pair_flags(qrow, self._rows[c], self.extractor) for c in pool]
        leaf = self._leaf(query)
        feats = {
            "complement": (self.complement.score_candidates([query], pool).scores if self.complement is not None
                           else np.zeros(len(pool))),
            "ranker": scores.scores,
            "directed": self._directed(query, pool),
            "category_prior": self.category_prior.score_candidates([query], pool).extra["prior"],
            "co_occurrence": np.log1p(self.baselines["co-occurrence"].score_candidates([query], pool, history).scores),
            "text_cosine": self.baselines["text-cosine"].score_candidates([query], pool).scores,
            "fused_cosine": self._fused_cosine(query, pool),
            "popularity": np.log1p(self.popularity.score_candidates([query], pool).scores),
            "same_leaf": np.array([float(bool(leaf) and self._leaf(c) == leaf) for c in pool]),
            "relevant": np.array([float(f.relevant) for f in flags]),
            "compatible": np.array([float(f.compatible) for f in flags]),
            "incompatible": np.array([float(f.incompatible) for f in flags]),
        }
        return feats, scores, flags

    def score_pool(self, query: str, history: Sequence[str], pool: Sequence[str]) -> np.ndarray:
        """The final score of `config.ranking`'s blend for each candidate (no LM), in pool order."""
        return self.final_scores(self.features(query, history, pool)[0])

    def final_scores(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        """The blend of `config.ranking`, with incompatible candidates moved to the bottom when configured."""
        final = self.blend.score(feats)
        if self.config.demote_incompatible:
            final = final - INCOMPATIBLE_PENALTY * np.asarray(feats["incompatible"], dtype=np.float64)
        return final

    def _leaf(self, item_id: str) -> str:
        category = self._rows[item_id]["category"]
        return category[-1] if len(category) else ""

    def _semantic_id(self, item_id: str) -> str:
        return self.table.id_string(item_id) if self.table is not None and item_id in self.table else ""

    def retrieve(self, query: Sequence[str], k: int) -> list[str]:
        rows = self.source.lookup(list(query))
        q = rows[-1:] if len(rows) == 1 else (0.5 * rows[:1] + 0.5 * rows[1:].mean(0, keepdims=True))
        ids, _ = self.index.search(q, k + len(query))
        found: list[str] = []
        seen = set(query)

        def take(candidates, limit: int | None = None) -> None:
            for i in candidates:
                if limit is not None and len(found) >= limit:
                    return
                if i and i not in seen:
                    found.append(i)
                    seen.add(i)

        take(ids[0], limit=k)
        if self.near_index is not None and self.config.retrieve_near_k > 0:
            t = self.fused.lookup(list(query)).mean(0, keepdims=True)
            take(self.near_index.search(t, self.config.retrieve_near_k + len(query))[0][0])
        if self.text_index is not None and self.config.retrieve_text_k > 0:
            t = self.text.lookup(list(query)).mean(0, keepdims=True)
            take(self.text_index.search(t, self.config.retrieve_text_k + len(query))[0][0])
        # items bought with the query before are candidates too, whatever their vectors say
        together = self.baselines["co-occurrence"].counts
        for item in query:
            top = sorted(together.get(item, {}).items(), key=lambda kv: -kv[1])[:k]
            take(o for o, _ in top if self.is_titled(o))
        return found

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

    def _directed(self, query: str, candidates: Sequence[str]) -> np.ndarray:
        return self._dot(self.source, self.target, query, candidates, missing=-np.inf)

    def _fused_cosine(self, query: str, candidates: Sequence[str]) -> np.ndarray:
        return self._dot(self.fused_unit, self.fused_unit, query, candidates, missing=0.0)

    def _lm_scores(self, query: str, basket: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
        from eccr.llm.generate import score_items

        ids = [c for c in candidates if self._semantic_id(c)]
        if self.lm is None or not ids or not self._semantic_id(query):
            return np.full(len(candidates), np.nan)
        prompt = self._task_builder().render("recommend", query, basket=tuple(basket), candidates=tuple(ids))
        logp = score_items(self.lm, self.tokenizer, prompt, [self.table.tokens_for(c) for c in ids],
                           completion_prefix=" ")
        by_id = dict(zip(ids, logp.tolist()))
        return np.array([by_id.get(c, np.nan) for c in candidates])

    def _task_builder(self):
        from eccr.data.schema import Dataset
        from eccr.llm.tasks import TaskBuilder
        from eccr.quantize.history import attention_weigher

        if getattr(self, "_tasks", None) is None:
            ids = {i: self.table.id_string(i) for i in self.table.item_ids}
            self._tasks = TaskBuilder(Dataset("run", self.catalog), ids, self.run_config.tasks, self.extractor,
                                      basket_weigher=attention_weigher(self.ranker))
        return self._tasks

    def recommend(self, item: str, basket: Sequence[str] = (), k: int = 5, system: str = "eccr",
                  explain: bool = True, candidates: Sequence[str] | None = None) -> Recommendation:
        return self.recommend_many([{"item": item, "basket": list(basket), "candidates": candidates}], k=k,
                                   system=system, explain=explain)[0]

    def recommend_many(self, queries: list[dict], k: int = 5, system: str = "eccr",
                       explain: bool = True) -> list[Recommendation]:
        """Batch form: explanations of all queries are generated together (one batched LM call)."""
        if system not in self.systems:
            raise ValueError(f"unknown system {system!r}; choose from {self.systems}")
        results = [self._rank_one(q["item"], q.get("basket") or [], k, system, q.get("candidates")) for q in queries]
        if explain and self.config.explain != "none":
            self._explain([item for rec in results for item in rec.items], results)
        return results

    def _rank_one(self, item: str, basket: Sequence[str], k: int, system: str,
                  candidates: Sequence[str] | None) -> Recommendation:
        timings: dict = {}
        t = time.perf_counter()
        query = self.resolve_item(item)
        basket_ids = [self.resolve_item(b) for b in basket]
        earlier = [b for b in basket_ids if b != query]  # the basket without the query: the ranker's history
        memory = earlier + [query]
        if candidates:
            pool = [c for c in map(str, candidates) if c in self._rows and c not in memory]
        else:
            pool = self.retrieve(memory, self.config.retrieve_k) if system == "eccr" else \
                [c for c in self.titled if c not in memory]
        timings["retrieve"] = time.perf_counter() - t
        t = time.perf_counter()
        attention = np.zeros((len(pool), 0))
        pool_flags = None
        memory_ids: list[str] = []
        lm = np.full(len(pool), np.nan)
        if system == "eccr":
            feats, scores, pool_flags = self.features(query, earlier, pool)
            ranker = feats["ranker"]
            memory_ids = scores.extra.get("memory", [])
            if scores.attention is not None and scores.attention.size:
                attention = scores.attention.mean(axis=1)
            final = self.final_scores(feats)
            timings["rank"] = time.perf_counter() - t
            if self.lm is not None and self.config.lm_top > 0 and self.config.lm_weight > 0:
                t = time.perf_counter()
                top = np.argsort(-final)[: self.config.lm_top]
                lm_top = self._lm_scores(query, earlier, [pool[i] for i in top])
                lm[top] = lm_top
                if np.isfinite(lm_top).any():
                    boost = np.zeros(len(pool))
                    boost[top] = self.config.lm_weight * np.nan_to_num(_z(np.nan_to_num(lm_top, nan=-np.inf)), nan=0.0)
                    final = final + boost
                    final[np.setdiff1d(np.arange(len(pool)), top)] -= 1e3  # LM-checked items stay on top
                timings["lm"] = time.perf_counter() - t
        else:
            ranker = self.baselines[system].score_candidates([query], pool, history=earlier).scores
            final = np.asarray(ranker, dtype=np.float64)
            timings["rank"] = time.perf_counter() - t
        order = np.argsort(-final, kind="stable")
        if self.config.max_per_type > 0:
            order = diversify_by_type(order, [self._leaf(c) for c in pool], self.config.max_per_type)
        order = order[:k]
        qrow = self._rows[query]
        items = []
        for i in order:
            cid = pool[i]
            row = self._rows[cid]
            probability = 1.0 / (1.0 + np.exp(-ranker[i])) if system == "eccr" and np.isfinite(ranker[i]) else None
            complementary = bool(probability is not None and probability >= 0.5) if system == "eccr" else False
            flags = (dataclasses.replace(pool_flags[i], complementary=complementary) if pool_flags is not None
                     else pair_flags(qrow, row, self.extractor, complementary=complementary)).as_dict()
            weights = {m: round(float(w), 4) for m, w in zip(memory_ids, attention[i])} if attention.shape[1] else {}
            items.append(RecommendedItem(
                item_id=cid, title=row["title"], category=list(row["category"]), semantic_id=self._semantic_id(cid),
                score=float(final[i]), ranker_score=float(ranker[i]) if np.isfinite(ranker[i]) else float("-inf"),
                lm_score=float(lm[i]) if np.isfinite(lm[i]) else None, flags=flags, explanation="",
                attention=weights))
        return Recommendation(query=qrow, basket=[self._rows[b] for b in basket_ids], items=items, system=system,
                              timings={k_: round(v, 4) for k_, v in timings.items()})

    def _explain(self, items: list[RecommendedItem], results: list[Recommendation]) -> None:
        owners = [rec for rec in results for _ in rec.items]
        t = time.perf_counter()
        explained = self.explain_pairs([(rec.query["item_id"], item.item_id) for item, rec in zip(items, owners)],
                                       [item.flags for item in items])
        for rec in results:
            rec.timings["explain"] = round(time.perf_counter() - t, 4)
        for item, (text, source, _) in zip(items, explained):
            item.explanation, item.explanation_source = text, source

    def explain_pairs(self, pairs: Sequence[tuple[str, str]], flags: Sequence[dict] | None = None,
                      intents: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
        """(explanation, source, raw LM sentence) per (query, item) pair: the LM sentence when it passes the
        grounding check, else the grounded template ("" raw when no LM)."""
        from eccr.coherence import PairFlags

        templates = []
        for n, (q, c) in enumerate(pairs):
            pf = PairFlags.from_dict(flags[n]) if flags is not None else pair_flags(
                self._rows[q], self._rows[c], self.extractor, complementary=True)
            templates.append(grounded_explanation(self._rows[q], self._rows[c], pf,
                                                  intents[n] if intents is not None else ""))
        raw = [""] * len(pairs)
        if self.config.explain == "lm" and self.lm is not None and self.table is not None:
            raw = self._lm_explanations(pairs)
        out = []
        for (q, c), text, template in zip(pairs, raw, templates):
            if text and grounding(text, self._rows[q]["title"], self._rows[c]["title"], self.extractor,
                                  context=self.category_text(q, c)).grounded:
                out.append((text, "lm", text))
            else:
                out.append((template, "grounded", text))
        return out

    def category_text(self, *items: str) -> str:
        return " ".join(" ".join(self._rows[i]["category"]) for i in items)

    def _lm_explanations(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        from eccr.llm.config import GenerationConfig
        from eccr.llm.generate import generate_texts

        builder = self._task_builder()
        prompts, slots = [], []
        for n, (q, c) in enumerate(pairs):
            if self._semantic_id(q) and self._semantic_id(c):
                prompts.append(builder.render("explain", q, c))
                slots.append(n)
        out = [""] * len(pairs)
        if prompts:
            gen = GenerationConfig(max_new_tokens=self.config.max_new_tokens)
            for n, text in zip(slots, generate_texts(self.lm, self.tokenizer, prompts, gen)):
                out[n] = text.strip().split("\n")[0]
        return out

    # ------------------------------------------------------------------ cold start
    def add_items(self, extra: Catalog) -> list[str]:
        """Make new items (title + category) recommendable now: text, directed and fused vectors, index rows,
        semantic IDs. Returns the ids added (ids already known are skipped)."""
        from eccr.represent.directed import DirectedModel, directed_vectors
        from eccr.represent.fuse import DirectedVectors, fuse
        from eccr.represent.text import text_vectors

        new = extra.items[~extra.items["item_id"].isin(list(self._rows))]
        new = new[new["title"].str.len() > 0]
        if new.empty:
            return []
        cat = Catalog(new.copy())
        text = text_vectors(cat, self.run_config.text)
        source, target = directed_vectors(DirectedModel.load(self.run.directed_model), cat, text)
        fused = fuse(text, self.behaviour, DirectedVectors(source, target), self.run_config.fusion)
        self.text = _concat(self.text, text)
        self.source, self.target = _concat(self.source, source), _concat(self.target, target)
        self.fused = _concat(self.fused, fused)
        self.fused_unit = self.fused.normalized()
        self.index.add(target)
        if self.near_index is not None:
            self.near_index.add(fused)
        if self.text_index is not None:
            self.text_index.add(text)
        from eccr.rank.attention_cf import AttentionCFScorer
        from eccr.rank.baselines import TextCosine

        self.ranker = AttentionCFScorer(self.ranker.model, self.fused, max_memory=self.run_config.ranker.max_memory)
        self.baselines["text-cosine"] = TextCosine(self.text)
        if self.table is not None:
            self.table.add_items(fused.ids, fused.vectors, self.quantizer)
            if self.lm is not None:
                missing = [t for t in self.table.all_tokens() if t not in self.tokenizer.get_vocab()]
                if missing:  # a new counter token: the LM has an untrained row for it, ranking still works
                    self.tokenizer.add_special_tokens({"additional_special_tokens": missing})
                    self.lm.resize_token_embeddings(len(self.tokenizer))
            self._tasks = None
        self.catalog = Catalog(pd.concat([self.catalog.items, cat.items], ignore_index=True))
        if self.complement is not None:
            self.complement = self.complement.with_items(self.text, self.catalog)
        for r in cat.items.itertuples(index=False):
            self._rows[r.item_id] = r._asdict()
            self.titled.append(r.item_id)
            self._titled_set.add(r.item_id)
            self._title_lower[r.title.lower()] = r.item_id
        return list(cat.items["item_id"])


def _concat(a: ItemVectors, b: ItemVectors) -> ItemVectors:
    return ItemVectors(a.ids + b.ids, np.concatenate([a.vectors, b.vectors]), dict(a.meta))
