from dataclasses import replace

import numpy as np
import pytest

from eccr.data.candidate_lists import CandidateListConfig, CandidateLists, build_candidate_lists
from eccr.evaluate.config import (
    EvaluationConfig,
    RetrievalProtocolConfig,
    SampledProtocolConfig,
)
from eccr.evaluate.harness import evaluate_systems
from eccr.evaluate.protocols import (
    depth_ablation,
    popularity_counts,
    run_eccr_protocol,
    run_retrieval_protocol,
    run_sampled_protocol,
)
from eccr.rank.base import Scores

from .conftest import ConstantScorer, OracleScorer, RandomScorer, RecordingScorer, bundle_mates


@pytest.fixture
def candidates(tiny_split):
    return build_candidate_lists(tiny_split, "test", CandidateListConfig(seed=3))


def test_candidates_are_shuffled_before_scoring(candidates):
    rec = RecordingScorer()
    run_eccr_protocol(candidates, {"rec": rec})
    where = [cands.index(pair.positive) for (_, cands, _), pair in zip(rec.calls, candidates.pairs)]
    assert len(set(where)) > 1  # the positive is not always listed first


def test_oracle_random_and_constant_on_eccr(tiny_split, candidates):
    truth = bundle_mates(tiny_split.test)
    systems = {"oracle": OracleScorer(truth), "constant": ConstantScorer()}
    res = run_eccr_protocol(candidates, systems)
    assert res["oracle"].summary["HR@5"].mean == 1.0 and res["oracle"].summary["NDCG@5"].mean == 1.0
    assert res["constant"].summary["HR@5"].mean == 0.0
    lengths = np.array([1 + len(p.negatives) for p in candidates.pairs])
    assert res["constant"].summary["MRR"].mean == pytest.approx(np.mean(1 / lengths))  # ties count against
    assert res["constant"].extra["pairs_beaten_by"]["random"] == 1.0
    assert res["oracle"].extra["pairs_beaten_by"]["co_bought"] == 0.0
    # many copies of the lists so the random scorer's average is tight: expected HR@5 = 5/21
    many = CandidateLists(candidates.dataset, "test", candidates.config, candidates.pairs * 250)
    hr = run_eccr_protocol(many, {"random": RandomScorer(1)})["random"].summary["HR@5"]
    chance = float(np.mean(np.minimum(5 / lengths, 1.0)))
    assert abs(hr.mean - chance) < 0.03 and hr.ci_low < chance < hr.ci_high


def test_breakdown_names_the_kind_that_wins(candidates):
    class PrefersSessionItems:  # ranks co-bought items first: they should show up in the breakdown
        def score_candidates(self, query, candidates, history=()):
            return Scores(np.array([1.0 if c in {"hdmi3", "mouse1", "head1"} else 0.0 for c in candidates]))

    r = run_eccr_protocol(candidates, {"s": PrefersSessionItems()})["s"]
    with_cobought = np.mean(["co_bought" in p.kinds for p in candidates.pairs])
    assert 0 < with_cobought < 1 and r.extra["pairs_beaten_by"]["co_bought"] == pytest.approx(with_cobought)
    assert r.extra["outranked_share"]["co_bought"] == 1.0


def test_hit_rate_by_the_positives_status(tiny_split, candidates):
    """A system that knows the answers only for lists whose positive was seen in training scores 1 there, 0 on the
    cold lists, and the breakdown says so (the pooled HR@5 is the pair-weighted mean of the two)."""
    seen = [p for p in candidates.pairs if p.positive_seen]
    cold = [p for p in candidates.pairs if not p.positive_seen]
    lists = CandidateLists(candidates.dataset, "test", candidates.config, seen + cold) if seen and cold else None
    if lists is None:  # the tiny split must hold both kinds for this test to mean anything
        pytest.fail(f"tiny split lists: {len(seen)} seen, {len(cold)} cold positives")

    class KnowsSeen:
        def score_candidates(self, query, candidates, history=()):
            answers = {p.positive for p in seen if p.query == query[-1]}
            return Scores(np.array([1.0 if c in answers else 0.0 for c in candidates]))

    r = run_eccr_protocol(lists, {"s": KnowsSeen()})["s"]
    status = r.extra["by_positive_status"]
    assert status["seen"]["mean"] == 1.0 and status["seen"]["n"] == len(seen)
    assert status["cold"]["n"] == len(cold) and status["cold"]["mean"] < 1.0
    assert r.summary["HR@5"].mean == pytest.approx((len(seen) + status["cold"]["mean"] * len(cold)) / len(lists.pairs))


def test_scorer_errors_are_named(candidates):
    class Broken:
        def score_candidates(self, query, candidates, history=()):
            return Scores(np.zeros(len(candidates) - 1))

    with pytest.raises(ValueError, match=r"'broken' returned \d+ scores for \d+ candidates"):
        run_eccr_protocol(candidates, {"broken": Broken()})


def test_retrieval_full_scoring_chunks_and_retrieve_agree(tiny_split):
    truth = bundle_mates(tiny_split.test)
    counts = popularity_counts(tiny_split.train, np.array(sorted(tiny_split.test.catalog.items["item_id"])))

    class Popular:  # deterministic scores with ties, so chunking and retrieve must agree exactly
        def __init__(self):
            self.score = dict(zip(sorted(tiny_split.test.catalog.items["item_id"]), counts))

        def score_candidates(self, query, candidates, history=()):
            return Scores(np.array([self.score.get(c, 0.0) for c in candidates]))

    class PopularRetriever(Popular):
        def retrieve(self, query, k):
            items = sorted(self.score, key=lambda i: -self.score[i])[:k]
            return items, np.array([self.score[i] for i in items])

    cfg = RetrievalProtocolConfig(chunk_size=7)
    res = run_retrieval_protocol(tiny_split, {"oracle": OracleScorer(truth), "constant": ConstantScorer(),
                                              "pop": Popular()}, cfg)
    assert res["oracle"].summary["Recall@10"].mean == 1.0 and res["oracle"].summary["NDCG@10"].mean == 1.0
    assert res["constant"].summary["Recall@10"].mean == 0.0  # all tied: positives are last of their status
    big = run_retrieval_protocol(tiny_split, {"pop": Popular(), "ret": PopularRetriever()},
                                 replace(cfg, chunk_size=10_000, recall_ks=(5, 10)))
    assert res["pop"].per_query["Recall@10"].tolist() == big["pop"].per_query["Recall@10"].tolist()
    assert big["ret"].extra["used_retrieve"] and not big["pop"].extra["used_retrieve"]
    # retrieve breaks ties in its own order (not pessimistically), so it can only do at least as well
    assert (big["ret"].per_query["Recall@10"] >= big["pop"].per_query["Recall@10"]).all()


def test_retrieval_asks_a_retriever_for_each_stratum(tiny_split):
    """A retriever whose pool leans to unseen items (it fills its top k with them first) reaches deeper into that
    stratum than a full scorer; asked once per stratum (`among`), it ranks each stratum like the full scorer of the
    same scores, whatever its pool would have leaned to."""
    ids = sorted(tiny_split.test.catalog.items["item_id"])
    seen = set(tiny_split.train.behaviour.events["item_id"])
    bundled = set(tiny_split.test.bundles.rows["item_id"])
    # distinct scores (no ties for retrieve to break its way), the test part's bundled items first
    score = {i: 100.0 * (i in bundled) + n for n, i in enumerate(reversed(ids))}

    class Full:
        def score_candidates(self, query, candidates, history=()):
            return Scores(np.array([score.get(c, -1.0) for c in candidates]))

    def leaning_pool(k, among=None):
        allowed = [i for i in ids if among is None or i in among]
        pool = sorted(allowed, key=lambda i: (i in seen, -score[i]))[:k]  # unseen first, then by score
        return pool, np.array([score[i] for i in pool])

    class LeaningPool(Full):
        def retrieve(self, query, k):
            return leaning_pool(k)

    class LeaningPoolByStratum(Full):
        def retrieve(self, query, k, among=None):
            return leaning_pool(k, among)

    cfg = RetrievalProtocolConfig(recall_ks=(2, 4), ndcg_k=4)
    res = run_retrieval_protocol(tiny_split, {"full": Full(), "leaning": LeaningPool(),
                                              "by_stratum": LeaningPoolByStratum()}, cfg)
    assert res["by_stratum"].extra["retrieved_by_stratum"] and not res["leaning"].extra["retrieved_by_stratum"]
    for metric in ("Recall@2", "Recall@4", "NDCG@4"):
        assert res["by_stratum"].per_query[metric].tolist() == res["full"].per_query[metric].tolist()
    assert res["full"].summary["Recall@4"].mean == 1.0
    # cut from one pool that leans to unseen items, the seen stratum is cut short and its positives go missing
    assert res["leaning"].summary["Recall@4"].mean < 1.0


def test_sampled_protocol_nested_negatives_and_gamma(tiny_split):
    rec = RecordingScorer()
    truth = bundle_mates(tiny_split.test)
    cfg = SampledProtocolConfig(gammas=(0.0, 1.0), negative_counts=(5, 10, 20), recall_ks=(1, 5))
    results = run_sampled_protocol(tiny_split, {"oracle": OracleScorer(truth), "rec": rec}, cfg)
    assert len(results) == 2 * 2 * 3
    oracle = [r for r in results if r.system == "oracle"]
    assert all(r.summary["NDCG"].mean == 1.0 for r in oracle)
    rec_ndcg = {(r.setting["gamma"], r.setting["negatives"]): r.summary["NDCG"].mean
                for r in results if r.system == "rec"}
    assert rec_ndcg[(1.0, 5)] > rec_ndcg[(1.0, 20)]  # more negatives, harder
    seen = set(tiny_split.train.behaviour.events["item_id"])
    for query, cands, _ in rec.calls:
        positives = bundle_mates(tiny_split.test)[query[0]]
        negatives = [c for c in cands if c not in positives]
        assert positives <= set(cands) and 15 <= len(cands) - len(positives) <= 20  # few seen items here
        assert query[0] not in negatives and len(set(negatives)) == len(negatives)
        # negatives keep the positives' seen/unseen proportion
        share = np.mean([p in seen for p in positives])
        assert np.mean([n in seen for n in negatives]) == pytest.approx(share, abs=0.05)


def test_depth_ablation_runs_one_model_per_depth(tiny_split):
    truth = bundle_mates(tiny_split.test)
    built = []

    def factory(hops):
        built.append(hops)
        return OracleScorer(truth) if hops >= 4 else ConstantScorer()

    cfg = SampledProtocolConfig(negative_counts=(5, 10), recall_ks=(1,))
    results = depth_ablation(tiny_split, factory, hops=(1, 4), config=cfg)
    assert built == [1, 4]
    assert {r.setting["hops"] for r in results} == {1, 4} and {r.protocol for r in results} == {"depth"}
    assert all(r.setting["gamma"] == 1.0 for r in results)
    best = max(results, key=lambda r: r.summary["NDCG"].mean)
    assert best.setting["hops"] == 4


def test_evaluate_systems_end_to_end(tiny_split, tmp_path):
    truth = bundle_mates(tiny_split.test)
    cfg = EvaluationConfig(candidates_path=str(tmp_path / "c.json"),
                           sampled=SampledProtocolConfig(negative_counts=(5, 10), recall_ks=(1,)))
    res = evaluate_systems(tiny_split, {"random": RandomScorer(), "oracle": OracleScorer(truth)}, config=cfg)
    assert res.main_system == "random" and (tmp_path / "c.json").exists()
    assert {r.protocol for r in res.results} == {"eccr", "retrieval", "sampled"}
    assert res.info["eccr_pairs"] == 8
    cmp = [c for c in res.comparisons if c["protocol"] == "eccr" and c["metric"] == "HR@5"]
    assert len(cmp) == 1 and cmp[0]["other"] == "oracle" and cmp[0]["mean_difference"] < 0
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate_systems(tiny_split, {"r": RandomScorer()}, protocols=("eccr", "bogus"))
    with pytest.raises(ValueError, match="main_system"):
        evaluate_systems(tiny_split, {"r": RandomScorer()}, config=EvaluationConfig(main_system="x"))
    valid_run = evaluate_systems(tiny_split, {"o": OracleScorer(bundle_mates(tiny_split.valid))},
                                 protocols=("eccr",), config=EvaluationConfig(part="valid"))
    assert {p for p in valid_run.results[0].query_ids} == {"cam4->bag4", "bag4->cam4"}
