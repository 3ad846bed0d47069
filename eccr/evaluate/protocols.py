"""The three evaluation protocols. Each ranks held-out complements of the TEST part (or the VALID part, for
tuning) of a temporal split; anything learned (popularity) comes from the TRAIN part only.

a. ECCR protocol (Li et al., 'ECCR: Explainable and coherent complement recommendation based on LLMs', 2024):
   each positive pair (q, p) from a held-out bundle is ranked among 20 negatives -- "co-bought but incoherent"
   items from q's session, substitutes of q or p, and random titled items -- and scored with HR@5 and NDCG@5.
   The candidate lists are built once (seeded) and saved as JSON, so every model sees the same lists.
b. Full-catalogue retrieval: every titled item except the query is a candidate; Recall@10/50 and NDCG@10.
c. Sampled protocol of Lake et al., 'Large-scale Collaborative Filtering with Product Embeddings' §5.3
   (Figures 2-4): the positives among N negatives drawn from P_gamma ∝ count^gamma, for several gamma and N.

Scorers implement eccr.rank.base.Scorer. Scores are assumed pointwise (a candidate's score does not depend on
the other candidates), which lets the sampled protocol score the largest nested negative set once.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from eccr.data.sampling import AliasSampler
from eccr.data.schema import Catalog, DataError, Dataset
from eccr.data.splits import TemporalSplit, UserHistories, heldout_queries
from eccr.evaluate.config import (
    BootstrapConfig,
    EccrProtocolConfig,
    RetrievalProtocolConfig,
    SampledProtocolConfig,
)
from eccr.evaluate.metrics import MetricSummary, bootstrap_ci, metrics_from_ranks, pad_ranks, positive_ranks
from eccr.rank.base import Scorer

# ids_a, ids_b -> (len(ids_a), len(ids_b)) similarity matrix (higher = more alike)
TextSimilarity = Callable[[Sequence[str], Sequence[str]], np.ndarray]

_TOKEN = re.compile(r"\w+")
NEGATIVE_KINDS = ("co_bought", "substitute_query", "substitute_positive", "random")
CANDIDATES_FORMAT = "eccr-candidates/1"


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
def titled_ids(catalog: Catalog) -> np.ndarray:
    return catalog.items.loc[catalog.items["title"].str.len() > 0, "item_id"].to_numpy(dtype=object)


def known_complements(split: TemporalSplit) -> dict[str, set[str]]:
    """item -> every item it was ever labelled complementary with (bundles of all parts, train pairs), both
    directions: such items are never used as negatives."""
    frames = [split.train.all_pairs(), split.valid.bundles.directed_pairs(), split.test.bundles.directed_pairs()]
    pairs = pd.concat([f[["source", "target"]] for f in frames if len(f)], ignore_index=True) if any(
        len(f) for f in frames) else pd.DataFrame({"source": [], "target": []})
    both = pd.concat([pairs, pairs.rename(columns={"source": "target", "target": "source"})], ignore_index=True)
    return {k: set(v) for k, v in both.groupby("source")["target"]}


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


# ----------------------------------------------------------------------------------------------- similarity
def token_jaccard_similarity(catalog: Catalog) -> TextSimilarity:
    """Fallback text similarity: Jaccard overlap of the lower-cased word-token sets of two titles (sparse)."""
    from scipy.sparse import csr_matrix

    vocabulary: dict[str, int] = {}
    indptr, indices = [0], []
    for title in catalog.items["title"]:
        tokens = {vocabulary.setdefault(t, len(vocabulary)) for t in _TOKEN.findall(title.lower())}
        indices.extend(sorted(tokens))
        indptr.append(len(indices))
    matrix = csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                        shape=(len(catalog), max(len(vocabulary), 1)))
    sizes = np.diff(matrix.indptr).astype(np.float64)

    def similarity(ids_a: Sequence[str], ids_b: Sequence[str]) -> np.ndarray:
        pa, pb = catalog.position(list(ids_a)), catalog.position(list(ids_b))
        if (pa < 0).any() or (pb < 0).any():
            raise KeyError("token_jaccard_similarity: item id not in the catalogue")
        inter = (matrix[pa] @ matrix[pb].T).toarray()
        union = sizes[pa][:, None] + sizes[pb][None, :] - inter
        return np.where(union > 0, inter / np.maximum(union, 1), 0.0)

    return similarity


def vector_similarity(vectors) -> TextSimilarity:
    """Cosine similarity from an eccr.represent.vectors.ItemVectors (e.g. sentence-transformer title vectors);
    items without a vector get similarity 0."""
    unit = vectors.normalized()

    def similarity(ids_a: Sequence[str], ids_b: Sequence[str]) -> np.ndarray:
        pa, pb = unit.position(list(ids_a)), unit.position(list(ids_b))
        va = np.where((pa >= 0)[:, None], unit.vectors[np.maximum(pa, 0)], 0.0)
        vb = np.where((pb >= 0)[:, None], unit.vectors[np.maximum(pb, 0)], 0.0)
        return va @ vb.T

    return similarity


# ----------------------------------------------------------------------------------------------- a. ECCR
@dataclass
class EccrPair:
    query: str
    positive: str
    bundle_id: str
    session_id: str
    history: list[str]
    negatives: list[str]
    kinds: list[str]  # aligned with negatives, one of NEGATIVE_KINDS


@dataclass
class EccrCandidates:
    """The fixed candidate lists of the ECCR protocol: build once, save, give every model the same lists."""

    dataset: str
    part: str
    config: dict
    pairs: list[EccrPair]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": CANDIDATES_FORMAT, "dataset": self.dataset, "part": self.part, "config": self.config,
                   "pairs": [asdict(p) for p in self.pairs]}
        path.write_text(json.dumps(payload, ensure_ascii=False))
        return path

    @classmethod
    def load(cls, path: str | Path) -> EccrCandidates:
        path = Path(path)
        try:
            payload = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read ECCR candidate lists: {exc}", file=path) from exc
        if not isinstance(payload, dict) or payload.get("format") != CANDIDATES_FORMAT:
            raise DataError(f"not an ECCR candidate file (expected format {CANDIDATES_FORMAT!r})", file=path)
        pairs = []
        for i, raw in enumerate(payload.get("pairs", [])):
            try:
                pair = EccrPair(**raw)
            except TypeError as exc:
                raise DataError(f"pair {i} is malformed: {exc}", file=path, field="pairs") from exc
            if len(pair.negatives) != len(pair.kinds) or not set(pair.kinds) <= set(NEGATIVE_KINDS):
                raise DataError(f"pair {i}: negatives and kinds do not match", file=path, field="pairs")
            pairs.append(pair)
        return cls(payload.get("dataset", ""), payload.get("part", ""), payload.get("config", {}), pairs)


class _SubstituteFinder:
    """Titled items of the same leaf category as an item or with a near-duplicate title, most similar first
    (ties in a seeded random order). `prepare` computes the similarities of many items in batches."""

    def __init__(self, catalog: Catalog, titled: np.ndarray, similarity: TextSimilarity, threshold: float,
                 seed: int, batch: int = 256):
        self.titled, self.similarity, self.threshold, self.batch = titled, similarity, threshold, batch
        self.leaf_of = dict(zip(catalog.items["item_id"], catalog.leaf_category()))
        self.titled_leaf = np.array([self.leaf_of[i] for i in titled], dtype=object)
        self.tiebreak = np.random.default_rng(seed).random(len(titled))
        self.cache: dict[str, list[str]] = {}

    def prepare(self, items: Sequence[str]) -> None:
        todo = [i for i in dict.fromkeys(items) if i not in self.cache]
        titled_list = list(self.titled)
        for start in range(0, len(todo), self.batch):
            chunk = todo[start:start + self.batch]
            sims = np.asarray(self.similarity(chunk, titled_list), dtype=np.float64)
            if sims.shape != (len(chunk), len(self.titled)):
                raise ValueError(f"similarity function returned shape {sims.shape}, expected "
                                 f"{(len(chunk), len(self.titled))}")
            for item, sim in zip(chunk, sims):
                self.cache[item] = self._ranked(item, sim)

    def _ranked(self, item: str, sim: np.ndarray) -> list[str]:
        leaf = self.leaf_of.get(item, "")
        same_leaf = (self.titled_leaf == leaf) if leaf else np.zeros(len(self.titled), dtype=bool)
        keep = np.flatnonzero((same_leaf | (sim >= self.threshold)) & (self.titled != item))
        order = np.lexsort((self.tiebreak[keep], -sim[keep]))
        return self.titled[keep[order]].tolist()

    def __call__(self, item: str) -> list[str]:
        if item not in self.cache:
            self.prepare([item])
        return self.cache[item]


def _session_items(part: Dataset) -> dict[str, list[str]]:
    ev = part.behaviour.events[["session_id", "item_id"]]
    rows = pd.concat([ev, part.bundles.rows[["session_id", "item_id"]]], ignore_index=True).drop_duplicates()
    return {s: g.tolist() for s, g in rows.groupby("session_id", sort=False)["item_id"]}


def _draw_random(rng: np.random.Generator, pool: np.ndarray, count: int, used: set[str]) -> list[str]:
    """`count` distinct uniform draws from `pool` avoiding `used` (rejection, then an exact fallback)."""
    picked: list[str] = []
    for _ in range(20):
        if len(picked) >= count:
            break
        for item in pool[rng.integers(0, len(pool), size=2 * (count - len(picked)) + 16)]:
            if item not in used:
                used.add(item)
                picked.append(item)
                if len(picked) == count:
                    break
    if len(picked) < count:
        rest = np.array([i for i in pool if i not in used], dtype=object)
        extra = rng.permutation(rest)[:count - len(picked)].tolist()
        used.update(extra)
        picked += extra
    return picked


def build_eccr_candidates(split: TemporalSplit, config: EccrProtocolConfig | None = None,
                          similarity: TextSimilarity | None = None, part: str = "test") -> EccrCandidates:
    """Candidate lists for every positive pair (q, p) of the part's bundles.

    Mix per pair (first come first served, then random fills up to `negatives`):
    - up to `max_cobought` "co-bought but incoherent" items: in q's session, titled, not a known complement of q;
    - up to `max_substitutes` substitutes, alternating a substitute of q and one of p (same leaf category, or
      title similarity >= `near_duplicate_threshold`; most similar first);
    - random titled items (uniform).
    Never q, p or any known complement of q (any bundle of any part, any train pair).
    """
    config = config or EccrProtocolConfig()
    if config.negatives < 1 or config.max_cobought < 0 or config.max_substitutes < 0:
        raise ValueError("negatives must be >= 1 and the per-kind caps >= 0")
    dataset = getattr(split, part)
    catalog = dataset.catalog
    titled = titled_ids(catalog)
    titled_set = set(titled)
    similarity = similarity or token_jaccard_similarity(catalog)
    substitutes = _SubstituteFinder(catalog, titled, similarity, config.near_duplicate_threshold, config.seed)
    complements = known_complements(split)
    sessions = _session_items(dataset)
    histories = UserHistories(split)

    queries = _query_pool(dataset, config.seed, None)
    pairs_frame = queries.explode("positives").rename(columns={"positives": "positive"})
    if config.max_pairs:
        pairs_frame = pairs_frame.sample(frac=1.0, random_state=config.seed).head(config.max_pairs)
    substitutes.prepare([str(i) for i in pairs_frame["query"]] + [str(i) for i in pairs_frame["positive"]])

    pairs = []
    for index, row in enumerate(pairs_frame.itertuples(index=False)):
        rng = np.random.default_rng([config.seed, index])
        q, p = str(row.query), str(row.positive)
        used = {q, p} | complements.get(q, set())
        cobought = [i for i in sessions.get(str(row.session_id), []) if i in titled_set and i not in used]
        negatives = rng.permutation(np.array(cobought, dtype=object)).tolist()[:min(config.max_cobought,
                                                                                     config.negatives)]
        kinds = ["co_bought"] * len(negatives)
        used.update(negatives)
        room = min(config.max_substitutes, config.negatives - len(negatives))
        for item, kind in _alternate(substitutes(q), substitutes(p), used, room):
            used.add(item)
            negatives.append(item)
            kinds.append(kind)
        randoms = _draw_random(rng, titled, config.negatives - len(negatives), used)
        negatives += randoms
        kinds += ["random"] * len(randoms)
        pairs.append(EccrPair(q, p, str(row.bundle_id), str(row.session_id),
                              histories.before(str(row.session_id), int(row.timestamp), config.history_length),
                              negatives, kinds))
    return EccrCandidates(dataset.name, part, asdict(config), pairs)


def _alternate(of_query: list[str], of_positive: list[str], used: set[str], limit: int) -> list[tuple[str, str]]:
    """Up to `limit` substitutes, alternating one of q and one of p (q first), skipping used items."""
    out: list[tuple[str, str]] = []
    seen = set(used)
    sources = [[iter(of_query), "substitute_query"], [iter(of_positive), "substitute_positive"]]
    while len(out) < limit and sources:
        for source in list(sources):
            item = next((i for i in source[0] if i not in seen), None)
            if item is None:
                sources.remove(source)
                continue
            seen.add(item)
            out.append((item, source[1]))
            if len(out) >= limit:
                break
    return out


def load_or_build_eccr_candidates(split: TemporalSplit, config: EccrProtocolConfig, path: str | Path | None,
                                  similarity: TextSimilarity | None = None, part: str = "test") -> EccrCandidates:
    """Reuse saved candidate lists when their settings match, else build (and save when a path is given)."""
    if path is not None and Path(path).exists():
        cands = EccrCandidates.load(path)
        if cands.config != asdict(config) or cands.part != part:
            raise ValueError(f"{path} was built with other settings ({cands.part}, {cands.config}); "
                             f"delete it or choose another candidates path")
        return cands
    cands = build_eccr_candidates(split, config, similarity, part)
    if path is not None:
        cands.save(path)
    return cands


def run_eccr_protocol(candidates: EccrCandidates, systems: Mapping[str, Scorer],
                      config: EccrProtocolConfig | None = None,
                      bootstrap: BootstrapConfig | None = None) -> dict[str, ProtocolResult]:
    """HR@K, NDCG@K and MRR per pair, plus which kind of negative outranked the positive (score >= positive)."""
    config, bootstrap = config or EccrProtocolConfig(), bootstrap or BootstrapConfig()
    if not candidates.pairs:
        raise ValueError("no ECCR candidate pairs to evaluate")
    metric_names = [f"HR@{config.cutoff}", f"NDCG@{config.cutoff}", "MRR"]
    ids = [f"{p.query}->{p.positive}" for p in candidates.pairs]
    results = {}
    for system, scorer in systems.items():
        ranks, beaten = [], {k: [] for k in NEGATIVE_KINDS}
        kind_total = {k: 0 for k in NEGATIVE_KINDS}
        kind_beat = {k: 0 for k in NEGATIVE_KINDS}
        for pair in candidates.pairs:
            scores = score_with(scorer, system, [pair.query], [pair.positive] + pair.negatives, pair.history)
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
            "pairs": len(candidates.pairs),
            "queries": len({p.query for p in candidates.pairs}),
            "negatives_per_kind": {k: kind_total[k] / len(candidates.pairs) for k in NEGATIVE_KINDS},
            # share of that kind's negatives scored at or above the positive
            "outranked_share": {k: (kind_beat[k] / kind_total[k] if kind_total[k] else None)
                                for k in NEGATIVE_KINDS},
            # share of pairs in which at least one negative of that kind scored at or above the positive
            "pairs_beaten_by": {k: float(np.mean(beaten[k])) for k in NEGATIVE_KINDS},
        }
        results[system] = ProtocolResult("eccr", system, {"negatives": config.negatives}, ids, per_query,
                                         summarize(per_query, bootstrap), extra)
    return results


# ----------------------------------------------------------------------------------------------- b. retrieval
def run_retrieval_protocol(split: TemporalSplit, systems: Mapping[str, Scorer],
                           config: RetrievalProtocolConfig | None = None,
                           bootstrap: BootstrapConfig | None = None,
                           part: str = "test") -> dict[str, ProtocolResult]:
    """Rank all titled items (except the query) for each held-out query.

    A scorer with `retrieve(query, k) -> (ids, scores)` (query: list of item ids, like score_candidates) is
    asked for its top max(K)+1 instead (positives it does not return are misses); others score the catalogue
    in chunks of `chunk_size`.
    """
    config, bootstrap = config or RetrievalProtocolConfig(), bootstrap or BootstrapConfig()
    dataset = getattr(split, part)
    titled = titled_ids(dataset.catalog)
    titled_set = set(titled)
    position = {item: i for i, item in enumerate(titled)}
    queries = _query_pool(dataset, config.seed, config.max_queries)
    histories = UserHistories(split)
    depth = max(max(config.recall_ks), config.ndcg_k)
    metric_names = [f"Recall@{k}" for k in config.recall_ks] + [f"NDCG@{config.ndcg_k}"]
    rows = [(str(r.query), [str(p) for p in r.positives],
             histories.before(str(r.session_id), int(r.timestamp), config.history_length))
            for r in queries.itertuples(index=False)]
    results = {}
    for system, scorer in systems.items():
        ranks = []
        for q, positives, history in rows:
            if callable(getattr(scorer, "retrieve", None)):
                ranks.append(_ranks_from_retrieval(scorer, system, q, positives, depth, titled_set))
            else:
                ranks.append(_ranks_from_full_scoring(scorer, system, q, positives, history, titled,
                                                      position, config.chunk_size))
        padded, counts = pad_ranks(ranks, [len(r[1]) for r in rows])
        per_query = metrics_from_ranks(padded, counts, metric_names)
        results[system] = ProtocolResult("retrieval", system, {"candidates": len(titled) - 1},
                                         [r[0] for r in rows], per_query, summarize(per_query, bootstrap),
                                         {"queries": len(rows), "used_retrieve": callable(
                                             getattr(scorer, "retrieve", None))})
    return results


def _ranks_from_full_scoring(scorer, system, q, positives, history, titled, position, chunk_size) -> np.ndarray:
    scores = np.empty(len(titled))
    for start in range(0, len(titled), chunk_size):
        chunk = titled[start:start + chunk_size]
        scores[start:start + len(chunk)] = score_with(scorer, system, [q], chunk.tolist(), history)
    keep = np.ones(len(titled), dtype=bool)
    keep[position[q]] = False
    relevant = np.zeros(len(titled), dtype=bool)
    relevant[[position[p] for p in positives]] = True
    return positive_ranks(scores[keep], relevant[keep])


def _ranks_from_retrieval(scorer, system, q, positives, depth, titled_set) -> np.ndarray:
    ids, scores = scorer.retrieve([q], depth + 1)
    ids = [str(i) for i in ids]
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(ids) != len(scores):
        raise ValueError(f"system {system!r}: retrieve returned {len(ids)} ids but {len(scores)} scores")
    seen, keep = set(), []
    for i, item in enumerate(ids):
        if item != q and item in titled_set and item not in seen:
            seen.add(item)
            keep.append(i)
    keep = keep[:depth]
    kept_ids = [ids[i] for i in keep]
    relevant = np.isin(np.asarray(kept_ids, dtype=object), positives)
    found = positive_ranks(scores[keep], relevant) if relevant.any() else np.empty(0)
    return np.concatenate([found, np.full(len(positives) - len(found), np.inf)])


# ----------------------------------------------------------------------------------------------- c. sampled
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


def run_sampled_protocol(split: TemporalSplit, systems: Mapping[str, Scorer],
                         config: SampledProtocolConfig | None = None,
                         bootstrap: BootstrapConfig | None = None, part: str = "test",
                         protocol_name: str = "sampled") -> list[ProtocolResult]:
    """Lake et al. §5.3: positives among N negatives from P_gamma (popularity from TRAIN sessions).

    The negative sets are nested (the first 10 of the 50 drawn are the N=10 set), drawn once per query and gamma
    and shared by all systems; one ProtocolResult per (system, gamma, N) with NDCG (whole list) and Recall@K.
    """
    config, bootstrap = config or SampledProtocolConfig(), bootstrap or BootstrapConfig()
    dataset = getattr(split, part)
    titled = titled_ids(dataset.catalog)
    position = {item: i for i, item in enumerate(titled)}
    counts = popularity_counts(split.train, titled)
    complements = known_complements(split)
    histories = UserHistories(split)
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
        if gamma > 0 and counts.sum() == 0:
            raise ValueError(f"gamma={gamma} needs popularity counts, but no titled item occurs in train sessions")
        sampler = AliasSampler.from_counts(counts, gamma=gamma, seed=config.seed * 1000 + g_index)
        drawn = []
        for q, positives, _ in rows:
            excluded = [q, *positives, *complements.get(q, ())]
            excluded_idx = np.array([position[i] for i in excluded if i in position], dtype=np.int64)
            drawn.append(titled[_draw_unique(sampler, n_max, excluded_idx)].tolist())
        for system, scorer in systems.items():
            ranks_by_n = {n: [] for n in config.negative_counts}
            for (q, positives, history), negatives in zip(rows, drawn):
                scores = score_with(scorer, system, [q], positives + negatives, history)
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
