"""The rank level of a trained run (eccr/rank/candidates.py): pool, features, blend + demotion; the same object
the Recommender ranks with and the blend stage fits on."""
import subprocess
import sys

import numpy as np
import pytest

from eccr.coherence import AttributeExtractor
from eccr.data.lookup import read_catalog
from eccr.rank.blend import FEATURES
from eccr.rank.candidates import CONTEXT_FEATURES, INCOMPATIBLE_PENALTY, CandidateRanker, PoolSize
from eccr.run import Run, load_run_config


@pytest.fixture(scope="module")
def candidates(tiny_run):
    run = Run(tiny_run)
    catalog = read_catalog(run.catalog)
    return CandidateRanker.from_run(run, catalog, AttributeExtractor(catalog),
                                    max_memory=load_run_config(tiny_run).ranker.max_memory)


def test_pool_leaves_out_the_query_and_grows_with_each_source(candidates):
    small = candidates.retrieve(["D0001"], PoolSize(k=5, near_k=0, text_k=0))
    large = candidates.retrieve(["D0001"], PoolSize(k=5, near_k=20, text_k=20))
    assert "D0001" not in large and len(set(large)) == len(large)
    assert large[:5] == small[:5] and len(large) > len(small)
    assert "D0104" not in candidates.retrieve(["D0001", "D0104"])  # the basket is never a candidate


def test_pool_among_a_stratum(candidates):
    """Every source searches only the given items (what the full-catalogue protocol asks for each seen status);
    among every item, the pool is the unrestricted one."""
    everything = set(candidates.items.catalog.items["item_id"])
    assert candidates.retrieve(["D0001"], among=everything) == candidates.retrieve(["D0001"])
    half = set(sorted(everything)[::2])
    pool = candidates.retrieve(["D0001"], among=half)
    assert pool and set(pool) <= half


def test_features_cover_the_blend_and_the_score_demotes_incompatible(candidates):
    pool = candidates.retrieve(["D0001"])[:30]
    feats, scores, flags = candidates.features("D0001", [], pool)
    assert set(feats) == set(FEATURES) | set(CONTEXT_FEATURES) and all(len(v) == len(pool) for v in feats.values())
    assert feats["in_domain"].all()
    np.testing.assert_array_equal(feats["warm"], feats["popularity"] > 0)  # bought in a train basket or not
    assert len(flags) == len(pool) and scores.scores.shape == (len(pool),)
    plain = candidates.final_scores(feats, "coherent", demote_incompatible=False)
    demoted = candidates.final_scores(feats, "coherent")
    np.testing.assert_allclose(plain - demoted, INCOMPATIBLE_PENALTY * feats["incompatible"])
    np.testing.assert_allclose(candidates.score_pool("D0001", [], pool), demoted)
    assert not np.allclose(candidates.score_pool("D0001", [], pool, ranking="bought_together"), demoted)


def test_a_query_from_a_domain_the_run_never_saw_is_ranked_by_text_cosine(candidates):
    pool = candidates.retrieve(["D0001"])[:30]
    trained = candidates.trained_domains
    assert candidates.items.rows["D0001"]["category"][0] in trained
    try:
        candidates.trained_domains = {"Grocery & Gourmet Food"}
        feats = candidates.features("D0001", [], pool)[0]
        assert not feats["in_domain"].any()
        np.testing.assert_allclose(candidates.final_scores(feats, "coherent"),
                                   feats["text_cosine"] - INCOMPATIBLE_PENALTY * feats["incompatible"])
        size = PoolSize(k=5, near_k=0, text_k=5)
        nearest = candidates.text_index.search(candidates.text.lookup(["D0001"]), 12)[0][0]
        assert candidates.retrieve(["D0001"], size)[:10] == [i for i in nearest if i != "D0001"][:10]
    finally:
        candidates.trained_domains = trained
    feats = candidates.features("D0001", [], pool)[0]
    assert not np.allclose(candidates.final_scores(feats, "coherent", demote_incompatible=False),
                           feats["text_cosine"])


def test_the_recommender_ranks_with_the_same_features(candidates, tiny_run):
    from eccr.pipeline import Recommender

    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    pool = rec.retrieve(["D0001"], rec.config.retrieve_k)
    assert pool == candidates.retrieve(["D0001"])
    np.testing.assert_allclose(rec.score_pool("D0001", ["D0104"], pool[:20]),
                               candidates.score_pool("D0001", ["D0104"], pool[:20]))


def test_library_layers_and_the_trainer_do_not_load_the_recommender():
    code = ("import sys, eccr.rank.candidates, eccr.data.lookup, eccr.llm.item_lm, eccr.llm.models, eccr.jobs.train; "
            "print('eccr.pipeline' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
