"""c. The sampled protocol of Lake et al., 'Large-scale Collaborative Filtering with Product Embeddings' §5.3
(Figures 2-4): the positives among N negatives, seen ones drawn from P_gamma ∝ count^gamma and unseen ones
uniformly, in the positives' seen/unseen proportion, for several gamma and N; and the depth ablation (Figure 4).

Scores are assumed pointwise (a candidate's score does not depend on the other candidates), which lets the
protocol score the largest nested negative set once.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from eccr.data.candidate_lists import CatalogueIndex, known_complements, parts_up_to, seen_items
from eccr.data.sampling import AliasSampler
from eccr.data.schema import Dataset
from eccr.data.splits import TemporalSplit, UserHistories
from eccr.evaluate.config import BootstrapConfig, SampledProtocolConfig
from eccr.evaluate.metrics import metrics_from_ranks, pad_ranks, positive_ranks
from eccr.evaluate.protocols.base import ProtocolResult, query_pool, score_with, summarize
from eccr.rank.base import Scorer


def popularity_counts(train: Dataset, items: np.ndarray) -> np.ndarray:
    """Sessions each item occurs in during TRAIN (0 for unseen items), aligned with `items`."""
    counts = train.behaviour.item_counts()
    return counts.reindex(pd.Index(items, dtype=object)).fillna(0).to_numpy(dtype=np.float64)


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
    queries = query_pool(dataset, config.seed, None)
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
