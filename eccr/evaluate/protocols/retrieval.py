"""b. The full-catalogue protocol: every titled item except the query is a candidate; other known complements of
q are removed (neither rewarded nor penalised); Recall@10/50 and NDCG@10, plus the share of each system's top 10
that is unseen and that shares q's leaf, beside the same shares among the positives.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping

import numpy as np

from eccr.data.candidate_lists import CatalogueIndex, known_complements, parts_up_to, seen_items
from eccr.data.splits import TemporalSplit, UserHistories
from eccr.evaluate.config import BootstrapConfig, RetrievalProtocolConfig
from eccr.evaluate.metrics import metrics_from_ranks, pad_ranks, positive_ranks
from eccr.evaluate.protocols.base import ProtocolResult, query_pool, score_with, summarize
from eccr.rank.base import Scorer


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
    catalogue in chunks of `chunk_size`. A retriever that takes `among` (a set of item ids to retrieve from) is
    asked once per stratum that holds a positive, so it ranks the whole stratum as a full scorer does: a pool that
    leans to the positives' usual status would otherwise reach deeper into that stratum and score for it. `extra` reports the share of each system's top 10 (of the whole
    ranking) that is unseen (not in a train session) and that shares the query's leaf category, and the same
    shares among positives.
    """
    config, bootstrap = config or RetrievalProtocolConfig(), bootstrap or BootstrapConfig()
    dataset = getattr(split, part)
    index = CatalogueIndex(dataset, seen_items(split.train))
    titled = index.ids
    complements = known_complements(split, part)
    queries = query_pool(dataset, config.seed, config.max_queries)
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
    strata = {status: frozenset(titled[index.seen == status]) for status in (True, False)}
    positive_rows = [index.position[p] for _, positives, _, _ in rows for p in positives]
    positive_leaf = [bool(query_leaf[q][index.position[p]]) for q, positives, _, _ in rows for p in positives]
    top = min(10, depth)
    results = {}
    for system, scorer in systems.items():
        ranks, unseen_top, leaf_top = [], [], []
        retrieves = callable(getattr(scorer, "retrieve", None))
        by_stratum = retrieves and "among" in inspect.signature(scorer.retrieve).parameters
        for q, positives, removed, history in rows:
            if retrieves:
                ranked, found = _ranked_by_retrieval(scorer, system, q, positives, removed, depth, index,
                                                     strata if by_stratum else None)
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
        extra = {"queries": len(rows), "used_retrieve": retrieves, "retrieved_by_stratum": by_stratum,
                 "top_k": top, "top_unseen_share": float(np.mean(unseen_top)) if unseen_top else None,
                 "top_same_leaf_share": float(np.mean(leaf_top)) if leaf_top else None,
                 "positives_unseen_share": float(np.mean(~index.seen[positive_rows])) if positive_rows else None,
                 "positives_same_leaf_share": float(np.mean(positive_leaf)) if positive_leaf else None}
        results[system] = ProtocolResult("retrieval", system, {"candidates": len(titled) - 1},
                                         [r[0] for r in rows], per_query, summarize(per_query, bootstrap), extra)
    return results


def _ranks_within_status(scores: np.ndarray, relevant: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Pessimistic ranks of the relevant candidates, each among the candidates of its own seen status."""
    return _merged_ranks([positive_ranks(scores[seen == status], relevant[seen == status])
                          for status in (True, False) if relevant[seen == status].any()])


def _merged_ranks(parts: list[np.ndarray]) -> np.ndarray:
    """The two strata's positive ranks merged: a positive also counts the other stratum's positives ranked at or
    above it, so ranks stay distinct and NDCG stays <= 1."""
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


def _ranked_by_retrieval(scorer, system, q, positives, removed, depth, index: CatalogueIndex,
                         strata: dict[bool, frozenset] | None) -> tuple[list[str], np.ndarray]:
    """(the top of the ranking, the positives' ranks within their strata). With `strata`, each stratum holding a
    positive is retrieved on its own (`retrieve(..., among=stratum)`); without, the strata are cut from one
    ranking."""
    kept_ids, scores = _retrieved(scorer, system, q, 3 * depth + len(removed), removed, index)
    if strata is None:
        relevant = np.isin(np.asarray(kept_ids, dtype=object), positives)
        kept_seen = index.seen[[index.position[i] for i in kept_ids]] if kept_ids else np.zeros(0, dtype=bool)
        found = _ranks_within_status(scores, relevant, kept_seen)
    else:
        parts = []
        for status, stratum in strata.items():
            wanted = [p for p in positives if bool(index.seen[index.position[p]]) == status]
            if wanted:
                ids, stratum_scores = _retrieved(scorer, system, q, 3 * depth + len(removed), removed, index, stratum)
                relevant = np.isin(np.asarray(ids, dtype=object), wanted)
                if relevant.any():
                    parts.append(positive_ranks(stratum_scores, relevant))
        found = _merged_ranks(parts)
    found = found[found <= depth]  # a positive below the depth of its stratum is a miss, as for full scoring
    return kept_ids, np.concatenate([found, np.full(len(positives) - len(found), np.inf)])


def _retrieved(scorer, system, q, k, removed, index: CatalogueIndex, among: frozenset | None = None
               ) -> tuple[list[str], np.ndarray]:
    """The scorer's top k for q, without removed items, items outside the catalogue and repeats."""
    ids, scores = scorer.retrieve([q], k) if among is None else scorer.retrieve([q], k, among=among)
    ids = [str(i) for i in ids]
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(ids) != len(scores):
        raise ValueError(f"system {system!r}: retrieve returned {len(ids)} ids but {len(scores)} scores")
    taken, keep = set(), []
    for i, item in enumerate(ids):
        if item not in removed and item in index.position and item not in taken and (among is None or item in among):
            taken.add(item)
            keep.append(i)
    return [ids[i] for i in keep], scores[keep]
