"""The protocols on the real Amazon electronic bundles (skipped when the data is absent): the lists are honest,
and the two artefacts that fooled the earlier protocol earn nothing on any protocol."""
import time

import numpy as np
import pytest

from eccr.data.bundle_intents import load_bundle_intents
from eccr.data.candidate_lists import (
    NEGATIVE_KINDS,
    CandidateListConfig,
    build_candidate_lists,
    known_complements,
    normalized_title,
    seen_items,
)
from eccr.data.splits import temporal_split
from eccr.evaluate.config import RetrievalProtocolConfig, SampledProtocolConfig
from eccr.evaluate.protocols import run_eccr_protocol, run_retrieval_protocol, run_sampled_protocol
from eccr.rank.base import Scores


@pytest.fixture(scope="module")
def split(electronic_dir):
    return temporal_split(load_bundle_intents(electronic_dir))


@pytest.fixture(scope="module")
def lists(split):
    return build_candidate_lists(split, "test", CandidateListConfig())


class PrefersUnseen:
    """The label-free rule "prefer items nobody bought in the train part", random within each status."""

    def __init__(self, seen: set[str], seed: int = 0):
        self.seen, self.rng = seen, np.random.default_rng(seed)

    def score_candidates(self, query, candidates, history=()):
        return Scores(np.array([float(c not in self.seen) for c in candidates]) + 1e-3 * self.rng.random(len(candidates)))


class RandomScores:
    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def score_candidates(self, query, candidates, history=()):
        return Scores(self.rng.random(len(candidates)))


class InvertedTextCosine:
    """Minus the TF-IDF cosine of the titles: rewarded when substitutes are mined by text similarity."""

    def __init__(self, catalog):
        from sklearn.feature_extraction.text import TfidfVectorizer

        items = catalog.items
        self.row = {i: n for n, i in enumerate(items["item_id"])}
        self.matrix = TfidfVectorizer().fit_transform(items["title"])

    def score_candidates(self, query, candidates, history=()):
        q = self.matrix[self.row[query[-1]]]
        return Scores(-(self.matrix[[self.row[c] for c in candidates]] @ q.T).toarray().ravel())


@pytest.mark.real_data
def test_lists_on_electronic_are_status_matched_and_leaf_drawn(split, lists):
    start = time.perf_counter()
    build_candidate_lists(split, "test", CandidateListConfig(max_pairs=500))
    seconds = time.perf_counter() - start
    complements = known_complements(split, "test")
    seen = seen_items(split.train)
    items = split.test.catalog.items.set_index("item_id")
    leaf = {i: (c[-1] if len(c) else "") for i, c in items["category"].items()}
    assert len(lists.pairs) > 2000
    for pair in lists.pairs:
        assert len(pair.negatives) == 20 == len(set(pair.negatives))
        assert not set(pair.negatives) & (complements[pair.query] | {pair.query, pair.positive})
        assert all((n in seen) == pair.positive_seen for n in pair.negatives)
        titles = {normalized_title(items.at[pair.query, "title"]), normalized_title(items.at[pair.positive, "title"])}
        assert not any(normalized_title(items.at[n, "title"]) in titles for n in pair.negatives)
        assert all(leaf[n] == leaf[pair.positive] for n, k in zip(pair.negatives, pair.kinds) if k == "same_leaf")
    per_kind = {k: sum(p.kinds.count(k) for p in lists.pairs) / len(lists.pairs) for k in NEGATIVE_KINDS}
    unseen = 1 - np.mean([p.positive_seen for p in lists.pairs])
    print(f"\nelectronic test: {len(lists.pairs)} pairs, {unseen:.0%} of positives unseen in train; negatives per "
          "pair: " + ", ".join(f"{k} {v:.2f}" for k, v in per_kind.items()) + f"; 500 pairs built in {seconds:.1f}s")
    assert per_kind["co_bought"] > 0.2 and per_kind["same_leaf"] > 3


@pytest.mark.real_data
def test_planted_artefacts_get_no_credit_on_any_protocol(split, lists):
    seen = seen_items(split.train)
    systems = {"random": RandomScores(), "prefers_unseen": PrefersUnseen(seen),
               "inverted_text_cosine": InvertedTextCosine(split.test.catalog)}
    eccr = run_eccr_protocol(lists, systems)
    sampled = run_sampled_protocol(split, systems, SampledProtocolConfig(gammas=(1.0,), negative_counts=(100,),
                                                                         max_queries=400))
    retrieval = run_retrieval_protocol(split, systems, RetrievalProtocolConfig(max_queries=300))
    for name, results, metric in (("eccr", eccr, "HR@5"), ("sampled", {r.system: r for r in sampled}, "NDCG"),
                                  ("retrieval", retrieval, "Recall@50")):
        chance = results["random"].summary[metric]
        for artefact in ("prefers_unseen", "inverted_text_cosine"):
            got = results[artefact].summary[metric]
            print(f"{name} {metric}: {artefact} {got.mean:.3f} vs random {chance.mean:.3f} "
                  f"[{chance.ci_low:.3f}, {chance.ci_high:.3f}]")
            assert got.mean <= chance.ci_high, (name, artefact)
        # preferring unseen items is pure chance once every list is status-matched
        unseen = results["prefers_unseen"].summary[metric]
        assert chance.ci_low <= unseen.mean <= chance.ci_high, name
