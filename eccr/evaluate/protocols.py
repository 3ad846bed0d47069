"""The three evaluation protocols. Each ranks held-out complements of the TEST part (or the VALID part, for
tuning) of a temporal split; anything learned (popularity, seen status) comes from the TRAIN part only.

Every protocol is built so that a system cannot score by a construction artefact (eccr.data.candidate_lists says
why each rule is there): negatives have the positive's seen/unseen status, substitutes are drawn from the
positive's leaf at random, never by a system's vectors, candidates are shuffled and ties count against the system.
tests/evaluate/test_real_data.py plants the artefacts (a scorer that only prefers unseen items, one that inverts
text cosine) and checks they get no credit on any protocol.

a. ECCR protocol (Li et al., 'ECCR: Explainable and coherent complement recommendation based on LLMs', 2024):
   each positive pair (q, p) from a held-out bundle is ranked among 20 negatives -- bought with q but not
   bundled, p's leaf category, random -- and scored with HR@5, NDCG@5 and MRR. The lists are built once
   (seeded) and saved as JSON, so every model sees the same lists.
b. Full catalogue: every titled item except the query is a candidate; other known complements of q are removed
   (neither rewarded nor penalised); Recall@10/50 and NDCG@10, plus the share of each system's top 10 that is
   unseen and that shares q's leaf, beside the same shares among the positives.
c. Sampled protocol of Lake et al., 'Large-scale Collaborative Filtering with Product Embeddings' §5.3
   (Figures 2-4): the positives among N negatives, seen ones drawn from P_gamma ∝ count^gamma and unseen ones
   uniformly, in the positives' seen/unseen proportion, for several gamma and N.

Scorers implement eccr.rank.base.Scorer. Scores are assumed pointwise (a candidate's score does not depend on
the other candidates), which lets the sampled protocol score the largest nested negative set once.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from eccr.data.candidate_lists import (
    NEGATIVE_KINDS,
    CandidateLists,
    CatalogueIndex,
    known_complements,
    parts_up_to,
    seen_items,
)
from eccr.data.sampling import AliasSampler
from eccr.data.schema import Dataset
from eccr.data.splits import TemporalSplit, UserHistories, heldout_queries
from eccr.evaluate.config import (
    BootstrapConfig,
    EccrProtocolConfig,
    RetrievalProtocolConfig,
    SampledProtocolConfig,
)
from eccr.evaluate.metrics import MetricSummary, bootstrap_ci, metrics_from_ranks, pad_ranks, positive_ranks
from eccr.rank.base import Scorer


# ----------------------------------------------------------------------------------------------- results
@dataclass
class ProtocolResult:
    """One system under one protocol setting: per-query metric arrays (aligned with `query_ids`) + summary."""

    protocol: str
    system: str
    setting: dict
    query_ids: list[str]
    per_query: dict[str, np.ndarray]
    summary: dict[str, MetricSummary]
    extra: dict = field(default_factory=dict)

    def to_dict(self, include_per_query: bool = False) -> dict:
        out = {"protocol": self.protocol, "system": self.system, "setting": self.setting,
               "n_queries": len(self.query_ids),
               "summary": {m: s.as_dict() for m, s in self.summary.items()}, "extra": self.extra}
        if include_per_query:
            out["query_ids"] = list(self.query_ids)
            out["per_query"] = {m: v.tolist() for m, v in self.per_query.items()}
        return out


def summarize(per_query: dict[str, np.ndarray], bootstrap: BootstrapConfig) -> dict[str, MetricSummary]:
    return {m: bootstrap_ci(v, bootstrap.resamples, bootstrap.confidence, bootstrap.seed)
            for m, v in per_query.items()}


# ----------------------------------------------------------------------------------------------- shared
def score_with(scorer: Scorer, system: str, query: Sequence[str], candidates: Sequence[str],
               history: Sequence[str]) -> np.ndarray:
    """Calls score_candidates and checks the answer (one finite-or-inf number per candidate)."""
    out = scorer.score_candidates(list(query), list(candidates), list(history))
    scores = np.asarray(getattr(out, "scores", out), dtype=np.float64).reshape(-1)
    if scores.shape[0] != len(candidates):
        raise ValueError(f"system {system!r} returned {scores.shape[0]} scores for {len(candidates)} candidates")
    if np.isnan(scores).any():
        raise ValueError(f"system {system!r} returned NaN scores for query {list(query)}")
    return scores


def _query_pool(part: Dataset, seed: int, max_queries: int | None) -> pd.DataFrame:
    queries = heldout_queries(part, seed=seed, max_queries=max_queries)
    if queries.empty:
        raise ValueError(f"{part.name}: no held-out queries (no bundle with two titled items in this part)")
    return queries


def popularity_counts(train: Dataset, items: np.ndarray) -> np.ndarray:
    """Sessions each item occurs in during TRAIN (0 for unseen items), aligned with `items`."""
    counts = train.behaviour.item_counts()
    return counts.reindex(pd.Index(items, dtype=object)).fillna(0).to_numpy(dtype=np.float64)


# ----------------------------------------------------------------------------------------------- a. ECCR
def run_eccr_protocol(lists: CandidateLists, systems: Mapping[str, Scorer],
                      config: EccrProtocolConfig | None = None,
                      bootstrap: BootstrapConfig | None = None) -> dict[str, ProtocolResult]:
    """HR@K, NDCG@K and MRR per pair (candidates shuffled, ties against the system), plus which kind of
    negative outranked the positive (score >= positive)."""
    config, bootstrap = config or EccrProtocolConfig(), bootstrap or BootstrapConfig()
    if not lists.pairs:
        raise ValueError("no ECCR candidate pairs to evaluate")
    metric_names = [f"HR@{config.cutoff}", f"NDCG@{config.cutoff}", "MRR"]
    ids = [f"{p.query}->{p.positive}" for p in lists.pairs]
    orders = [np.random.default_rng([config.seed, 7, n]).permutation(len(p.negatives) + 1)
              for n, p in enumerate(lists.pairs)]
    results = {}
    for system, scorer in systems.items():
        ranks, beaten = [], {k: [] for k in NEGATIVE_KINDS}
        kind_total = {k: 0 for k in NEGATIVE_KINDS}
        kind_beat = {k: 0 for k in NEGATIVE_KINDS}
        for pair, order in zip(lists.pairs, orders):
            candidates = np.array([pair.positive, *pair.negatives], dtype=object)[order]
            shuffled = score_with(scorer, system, [pair.query], candidates.tolist(), pair.history)
            scores = np.empty(len(order))
            scores[order] = shuffled  # back in list order: the positive first
            relevant = np.zeros(len(scores), dtype=bool)
            relevant[0] = True
            ranks.append(positive_ranks(scores, relevant))
            outranks = scores[1:] >= scores[0]
            kinds = np.asarray(pair.kinds, dtype=object)
            for kind in NEGATIVE_KINDS:
                mine = kinds == kind
                kind_total[kind] += int(mine.sum())
                kind_beat[kind] += int(outranks[mine].sum())
                beaten[kind].append(bool(outranks[mine].any()))
        padded, counts = pad_ranks(ranks)
        per_query = metrics_from_ranks(padded, counts, metric_names)
        extra = {
            "pairs": len(lists.pairs),
            "queries": len({p.query for p in lists.pairs}),
            "positive_seen_share": float(np.mean([p.positive_seen for p in lists.pairs])),
            "negatives_per_kind": {k: kind_total[k] / len(lists.pairs) for k in NEGATIVE_KINDS},
            # share of that kind's negatives scored at or above the positive
            "outranked_share": {k: (kind_beat[k] / kind_total[k] if kind_total[k] else None)
                                for k in NEGATIVE_KINDS},
            # share of pairs in which at least one negative of that kind scored at or above the positive
            "pairs_beaten_by": {k: float(np.mean(beaten[k])) for k in NEGATIVE_KINDS},
        }
        results[system] = ProtocolResult("eccr", system, {"negatives": lists.config.get("negatives")}, ids,
                                         per_query, summarize(per_query, bootstrap), extra)
    return results


# ----------------------------------------------------------------------------------------------- b. retrieval
def run_retrieval_protocol(split: TemporalSplit, systems: Mapping[str, Scorer],
                           config: RetrievalProtocolConfig | None = None,
                           bootstrap: BootstrapConfig | None = None,
                           part: str = "test") -> dict[str, ProtocolResult]:
    """Rank all titled items (except the query) for each held-out query; the query's other known complements
    (any bundle up to this part, explicit train pairs) that are not this query's positives are removed.

    Each positive is ranked among the candidates of its own seen/unseen status (a positive bought only after
    the train part competes with the other such items), so preferring unseen items earns nothing.

    A scorer with `retrieve(query, k) -> (ids, scores)` (query: list of item ids, like score_candidates) is
    asked for its top 3·max(K)+|removed| instead (positives it does not return are misses); others score the
    catalogue in chunks of `chunk_size`. `extra` reports the share of each system's top 10 (of the whole
    ranking) that is unseen (not in a train session) and that shares the query's leaf category, and the same
    shares among positives.
    """
    config, bootstrap = config or RetrievalProtocolConfig(), bootstrap or BootstrapConfig()
    dataset = getattr(split, part)
    index = CatalogueIndex(dataset, seen_items(split.train))
    titled = index.ids
    complements = known_complements(split, part)
    queries = _query_pool(dataset, config.seed, config.max_queries)
    histories = UserHistories(parts_up_to(split, part))
    depth = max(max(config.recall_ks), config.ndcg_k)
    metric_names = [f"Recall@{k}" for k in config.recall_ks] + [f"NDCG@{config.ndcg_k}"]
    rows = []
    for r in queries.itertuples(index=False):
        q, positives = str(r.query), [str(p) for p in r.positives]
        removed = {c for c in complements.get(q, ()) if c not in positives} | {q}
        rows.append((q, positives, removed,
                     histories.before(str(r.session_id), int(r.timestamp), config.history_length)))
    query_leaf = {q: index.leaf_mask(index.position[q]) for q, _, _, _ in rows}
    positive_rows = [index.position[p] for _, positives, _, _ in rows for p in positives]
    positive_leaf = [bool(query_leaf[q][index.position[p]]) for q, positives, _, _ in rows for p in positives]
    top = min(10, depth)
    results = {}
    for system, scorer in systems.items():
        ranks, unseen_top, leaf_top = [], [], []
        retrieves = callable(getattr(scorer, "retrieve", None))
        for q, positives, removed, history in rows:
            if retrieves:
                ranked, found = _ranked_by_retrieval(scorer, system, q, positives, removed, depth, index)
            else:
                ranked, found = _ranked_by_full_scoring(scorer, system, q, positives, removed, history, titled,
                                                        index.seen, config.chunk_size)
            ranks.append(found)
            head = np.asarray([index.position[i] for i in ranked[:top]], dtype=np.int64)
            if len(head):
                unseen_top.append(float(np.mean(~index.seen[head])))
                leaf_top.append(float(np.mean(query_leaf[q][head])))
        padded, counts = pad_ranks(ranks, [len(r[1]) for r in rows])
        per_query = metrics_from_ranks(padded, counts, metric_names)
        extra = {"queries": len(rows), "used_retrieve": retrieves,
                 "top_k": top, "top_unseen_share": float(np.mean(unseen_top)) if unseen_top else None,
                 "top_same_leaf_share": float(np.mean(leaf_top)) if leaf_top else None,
                 "positives_unseen_share": float(np.mean(~index.seen[positive_rows])) if positive_rows else None,
                 "positives_same_leaf_share": float(np.mean(positive_leaf)) if positive_leaf else None}
        results[system] = ProtocolResult("retrieval", system, {"candidates": len(titled) - 1},
                                         [r[0] for r in rows], per_query, summarize(per_query, bootstrap), extra)
    return results


def _ranks_within_status(scores: np.ndarray, relevant: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Pessimistic ranks of the relevant candidates, each among the candidates of its own seen status; the two
    rankings are then merged (a positive also counts the other status's positives ranked at or above it), so
    ranks stay distinct and NDCG stays <= 1."""
    parts = [positive_ranks(scores[seen == status], relevant[seen == status])
             for status in (True, False) if relevant[seen == status].any()]
    if len(parts) < 2:
        return parts[0] if parts else np.empty(0)
    first, second = parts
    return np.concatenate([first + np.searchsorted(np.sort(second), first, side="left"),
                           second + np.searchsorted(np.sort(first), second, side="right")])


def _ranked_by_full_scoring(scorer, system, q, positives, removed, history, titled, seen, chunk_size
                            ) -> tuple[list[str], np.ndarray]:
    """(the top of the ranking, the positives' ranks) when every titled item is scored."""
    keep = np.array([i not in removed for i in titled], dtype=bool)
    candidates = titled[keep]
    scores = np.empty(len(candidates))
    for start in range(0, len(candidates), chunk_size):
        chunk = candidates[start:start + chunk_size]
        scores[start:start + len(chunk)] = score_with(scorer, system, [q], chunk.tolist(), history)
    relevant = np.isin(candidates, np.asarray(positives, dtype=object))
    order = np.argsort(-scores, kind="stable")[:50]
    return candidates[order].tolist(), _ranks_within_status(scores, relevant, seen[keep])


def _ranked_by_retrieval(scorer, system, q, positives, removed, depth, index: CatalogueIndex
                         ) -> tuple[list[str], np.ndarray]:
    ids, scores = scorer.retrieve([q], 3 * depth + len(removed))
    ids = [str(i) for i in ids]
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(ids) != len(scores):
        raise ValueError(f"system {system!r}: retrieve returned {len(ids)} ids but {len(scores)} scores")
    taken, keep = set(), []
    for i, item in enumerate(ids):
        if item not in removed and item in index.position and item not in taken:
            taken.add(item)
            keep.append(i)
    kept_ids = [ids[i] for i in keep]
    relevant = np.isin(np.asarray(kept_ids, dtype=object), positives)
    kept_seen = index.seen[[index.position[i] for i in kept_ids]] if kept_ids else np.zeros(0, dtype=bool)
    found = _ranks_within_status(scores[keep], relevant, kept_seen)
    found = found[found <= depth]  # a positive below the depth of its stratum is a miss, as for full scoring
    return kept_ids, np.concatenate([found, np.full(len(positives) - len(found), np.inf)])


# ----------------------------------------------------------------------------------------------- c. sampled
def _draw_unique(sampler: AliasSampler, count: int, excluded: np.ndarray, max_rounds: int = 30) -> np.ndarray:
    """Up to `count` distinct indices from the sampler, none in `excluded` (fewer if the support is exhausted)."""
    picked = np.empty(0, dtype=np.int64)
    for _ in range(max_rounds):
        draw = sampler.sample(2 * (count - len(picked)) + 16)
        draw = draw[~np.isin(draw, excluded) & ~np.isin(draw, picked)]
        _, first = np.unique(draw, return_index=True)
        picked = np.concatenate([picked, draw[np.sort(first)]])[:count]
        if len(picked) == count:
            break
    return picked


def _interleave(seen: np.ndarray, unseen: np.ndarray, seen_share: float, count: int) -> np.ndarray:
    """`count` indices whose every prefix holds seen and unseen items in the proportion `seen_share` (as far as
    each pool lasts), so the nested negative sets keep the positives' status mix."""
    out, s, u = [], 0, 0
    for n in range(1, count + 1):
        want_seen = round(n * seen_share) > s
        if (want_seen and s < len(seen)) or u >= len(unseen):
            if s >= len(seen):
                break
            out.append(seen[s])
            s += 1
        else:
            out.append(unseen[u])
            u += 1
    return np.asarray(out, dtype=np.int64)


def run_sampled_protocol(split: TemporalSplit, systems: Mapping[str, Scorer],
                         config: SampledProtocolConfig | None = None,
                         bootstrap: BootstrapConfig | None = None, part: str = "test",
                         protocol_name: str = "sampled") -> list[ProtocolResult]:
    """Lake et al. §5.3: positives among N negatives; seen negatives from P_gamma (popularity from TRAIN
    sessions), unseen ones uniformly (they have no count), in the positives' seen/unseen proportion.

    The negative sets are nested (the first 10 of the 50 drawn are the N=10 set), drawn once per query and gamma
    and shared by all systems; one ProtocolResult per (system, gamma, N) with NDCG (whole list) and Recall@K.
    """
    config, bootstrap = config or SampledProtocolConfig(), bootstrap or BootstrapConfig()
    dataset = getattr(split, part)
    index = CatalogueIndex(dataset, seen_items(split.train))
    titled = index.ids
    counts = popularity_counts(split.train, titled)
    seen_rows, unseen_rows = np.flatnonzero(index.seen), np.flatnonzero(~index.seen)
    complements = known_complements(split, part)
    histories = UserHistories(parts_up_to(split, part))
    queries = _query_pool(dataset, config.seed, None)
    rows = []
    for r in queries.itertuples(index=False):
        history = histories.before(str(r.session_id), int(r.timestamp), config.history_length)
        if config.require_history and not history:
            continue
        rows.append((str(r.query), [str(p) for p in r.positives], history))
    rows = rows[:config.max_queries] if config.max_queries else rows
    if not rows:
        raise ValueError(f"{dataset.name}: no queries left for the sampled protocol (require_history="
                         f"{config.require_history})")
    n_max = max(config.negative_counts)
    metric_names = ["NDCG"] + [f"Recall@{k}" for k in config.recall_ks]
    results = []
    for g_index, gamma in enumerate(config.gammas):
        seen_sampler = (AliasSampler.from_counts(np.maximum(counts[seen_rows], 1.0), gamma=gamma,
                                                 seed=config.seed * 1000 + g_index) if len(seen_rows) else None)
        drawn = []
        for n, (q, positives, _) in enumerate(rows):
            rng = np.random.default_rng([config.seed, g_index, n])
            excluded = {q, *positives, *complements.get(q, ())}
            excluded_rows = np.array([index.position[i] for i in excluded if i in index.position], dtype=np.int64)
            for p in positives + [q]:
                excluded_rows = np.concatenate([excluded_rows, index.same_title(index.position[p])])
            seen_share = float(np.mean(index.seen[[index.position[p] for p in positives]]))
            local = (_draw_unique(seen_sampler, n_max, np.flatnonzero(np.isin(seen_rows, excluded_rows)))
                     if seen_sampler is not None and seen_share > 0 else np.empty(0, dtype=np.int64))
            seen_pick = seen_rows[local]
            unseen_pool = unseen_rows[~np.isin(unseen_rows, excluded_rows)] if seen_share < 1 else unseen_rows[:0]
            unseen_pick = rng.permutation(unseen_pool)[:n_max]
            drawn.append(titled[_interleave(seen_pick, unseen_pick, seen_share, n_max)].tolist())
        for system, scorer in systems.items():
            ranks_by_n = {n: [] for n in config.negative_counts}
            for n_query, ((q, positives, history), negatives) in enumerate(zip(rows, drawn)):
                candidates = positives + negatives
                order = np.random.default_rng([config.seed, g_index, 7, n_query]).permutation(len(candidates))
                shuffled = score_with(scorer, system, [q], [candidates[i] for i in order], history)
                scores = np.empty(len(candidates))
                scores[order] = shuffled
                for n in config.negative_counts:
                    subset = scores[:len(positives) + n]
                    relevant = np.arange(len(subset)) < len(positives)
                    ranks_by_n[n].append(positive_ranks(subset, relevant))
            for n in config.negative_counts:
                padded, n_pos = pad_ranks(ranks_by_n[n])
                per_query = metrics_from_ranks(padded, n_pos, metric_names)
                results.append(ProtocolResult(
                    protocol_name, system, {"gamma": float(gamma), "negatives": int(n)}, [r[0] for r in rows],
                    per_query, summarize(per_query, bootstrap),
                    {"queries": len(rows), "mean_negatives_drawn": float(np.mean([min(n, len(d)) for d in drawn]))}))
    return results


def depth_ablation(split: TemporalSplit, factory: Callable[[int], Scorer], hops: Sequence[int] = (1, 2, 4, 10),
                   config: SampledProtocolConfig | None = None,
                   bootstrap: BootstrapConfig | None = None, part: str = "test",
                   gamma: float = 1.0) -> list[ProtocolResult]:
    """Lake et al. Figure 4: the sampled protocol (empirical distribution, gamma=1) for models of depth K."""
    config = config or SampledProtocolConfig()
    systems = {f"K={h}": factory(h) for h in hops}
    results = run_sampled_protocol(split, systems, replace(config, gammas=(gamma,)), bootstrap, part, "depth")
    for r in results:
        r.setting["hops"] = int(r.system.split("=")[1])
    return results
