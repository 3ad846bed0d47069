"""a. The ECCR protocol (Li et al., 'ECCR: Explainable and coherent complement recommendation based on LLMs', 2024):
each positive pair (q, p) from a held-out bundle is ranked among 20 negatives -- bought with q but not bundled,
p's leaf category, random, all with p's seen/unseen status (eccr.data.candidate_lists builds them) -- and scored
with HR@5, NDCG@5 and MRR. The lists are built once (seeded) and saved as JSON, so every model sees the same lists.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from eccr.data.candidate_lists import NEGATIVE_KINDS, CandidateLists
from eccr.evaluate.config import BootstrapConfig, EccrProtocolConfig
from eccr.evaluate.metrics import bootstrap_ci, positive_first_metrics
from eccr.evaluate.protocols.base import ProtocolResult, score_with, summarize
from eccr.rank.base import Scorer


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
    seen = np.array([p.positive_seen for p in lists.pairs], dtype=bool)
    results = {}
    for system, scorer in systems.items():
        in_list_order, beaten = [], {k: [] for k in NEGATIVE_KINDS}
        kind_total = {k: 0 for k in NEGATIVE_KINDS}
        kind_beat = {k: 0 for k in NEGATIVE_KINDS}
        for pair, order in zip(lists.pairs, orders):
            candidates = np.array([pair.positive, *pair.negatives], dtype=object)[order]
            shuffled = score_with(scorer, system, [pair.query], candidates.tolist(), pair.history)
            scores = np.empty(len(order))
            scores[order] = shuffled  # back in list order: the positive first
            in_list_order.append(scores)
            outranks = scores[1:] >= scores[0]
            kinds = np.asarray(pair.kinds, dtype=object)
            for kind in NEGATIVE_KINDS:
                mine = kinds == kind
                kind_total[kind] += int(mine.sum())
                kind_beat[kind] += int(outranks[mine].sum())
                beaten[kind].append(bool(outranks[mine].any()))
        per_query = positive_first_metrics(in_list_order, metric_names)
        hits = per_query[metric_names[0]]
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
            # HR@K of the lists whose positive was bought in the train part ("seen") and of the cold ones
            "by_positive_status": {status: _status_summary(hits[mask], bootstrap)
                                   for status, mask in (("seen", seen), ("cold", ~seen))},
        }
        results[system] = ProtocolResult("eccr", system, {"negatives": lists.config.get("negatives")}, ids,
                                         per_query, summarize(per_query, bootstrap), extra)
    return results


def _status_summary(hits: np.ndarray, bootstrap: BootstrapConfig) -> dict | None:
    if not len(hits):
        return None
    return bootstrap_ci(hits, bootstrap.resamples, bootstrap.confidence, bootstrap.seed).as_dict()
