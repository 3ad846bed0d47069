from dataclasses import replace

import numpy as np
import pytest

from eccr.evaluate.config import (
    EccrProtocolConfig,
    EvaluationConfig,
    RetrievalProtocolConfig,
    SampledProtocolConfig,
)
from eccr.evaluate.harness import evaluate_systems
from eccr.evaluate.protocols import (
    EccrCandidates,
    build_eccr_candidates,
    depth_ablation,
    load_or_build_eccr_candidates,
    popularity_counts,
    run_eccr_protocol,
    run_retrieval_protocol,
    run_sampled_protocol,
    token_jaccard_similarity,
)
from eccr.rank.base import Scores

from .conftest import ConstantScorer, OracleScorer, RandomScorer, RecordingScorer, bundle_mates, tiny_catalog

LEAF = {row["item_id"]: (row["category"][-1] if row["category"] else "") for _, row in
        tiny_catalog().items.iterrows()}


@pytest.fixture
def candidates(tiny_split):
    return build_eccr_candidates(tiny_split, EccrProtocolConfig(seed=3))


def test_pairs_come_from_test_bundles(tiny_split, candidates):
    got = {(p.query, p.positive) for p in candidates.pairs}
    cam1 = {"cam1", "bat1", "mem1"}
    expected = {(a, b) for a in cam1 for b in cam1 if a != b} | {("cam2", "bag2"), ("bag2", "cam2")}
    assert got == expected
    print(f"tiny ECCR protocol: {len(candidates.pairs)} pairs")


def test_negatives_are_never_positives_and_exactly_twenty(tiny_split, candidates):
    everything = bundle_mates(tiny_split.train) | {}
    for part in (tiny_split.valid, tiny_split.test):
        for k, v in bundle_mates(part).items():
            everything.setdefault(k, set()).update(v)
    for pair in candidates.pairs:
        assert len(pair.negatives) == 20 == len(pair.kinds)
        assert len(set(pair.negatives)) == 20
        assert pair.query not in pair.negatives and pair.positive not in pair.negatives
        assert not set(pair.negatives) & everything[pair.query]
        assert "x0" not in pair.negatives  # untitled items are never candidates
    cam1 = [p for p in candidates.pairs if p.query == "cam1"]
    assert all("bag3" not in p.negatives for p in cam1)  # a train-period complement of cam1


def test_cobought_negatives_are_in_the_session_but_not_the_bundle(candidates):
    for pair in candidates.pairs:
        co = [n for n, k in zip(pair.negatives, pair.kinds) if k == "co_bought"]
        if pair.query == "cam1":
            assert sorted(co) == ["hdmi3", "mouse1"]  # x0 is untitled; bat1/mem1 are in the bundle
        if pair.query == "cam2":
            assert co == ["head1"]


def test_substitutes_share_the_leaf_category(candidates):
    kinds_seen = set()
    for pair in candidates.pairs:
        for item, kind in zip(pair.negatives, pair.kinds):
            kinds_seen.add(kind)
            if kind == "substitute_query":
                assert LEAF[item] == LEAF[pair.query]
            if kind == "substitute_positive":
                assert LEAF[item] == LEAF[pair.positive]
        assert sum(k.startswith("substitute") for k in pair.kinds) <= 7
        assert sum(k == "co_bought" for k in pair.kinds) <= 5
    assert kinds_seen == {"co_bought", "substitute_query", "substitute_positive", "random"}


def test_near_duplicate_titles_count_as_substitutes(tiny_split):
    catalog = tiny_split.test.catalog
    sim = token_jaccard_similarity(catalog)(["cam1"], ["cam2", "bat1", "cam1"])[0]
    assert sim[2] == pytest.approx(1.0) and sim[0] > 0.5 > sim[1]

    def same_leaf_never(ids_a, ids_b):  # a similarity that calls lamps near-duplicates of everything
        return np.array([[1.0 if b.startswith("lamp") else 0.0 for b in ids_b] for _ in ids_a])

    built = build_eccr_candidates(tiny_split, EccrProtocolConfig(max_substitutes=14), similarity=same_leaf_never)
    subs = {n for p in built.pairs for n, k in zip(p.negatives, p.kinds) if k.startswith("substitute")}
    assert any(s.startswith("lamp") for s in subs)


def test_construction_is_seeded_and_saved_lists_reload_identically(tiny_split, candidates, tmp_path):
    again = build_eccr_candidates(tiny_split, EccrProtocolConfig(seed=3))
    assert again.pairs == candidates.pairs
    other = build_eccr_candidates(tiny_split, EccrProtocolConfig(seed=4))
    assert [p.negatives for p in other.pairs] != [p.negatives for p in candidates.pairs]
    path = candidates.save(tmp_path / "cands.json")
    loaded = EccrCandidates.load(path)
    assert loaded.pairs == candidates.pairs and loaded.config == candidates.config
    assert load_or_build_eccr_candidates(tiny_split, EccrProtocolConfig(seed=3), path).pairs == candidates.pairs
    with pytest.raises(ValueError, match="other settings"):
        load_or_build_eccr_candidates(tiny_split, EccrProtocolConfig(seed=9), path)
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not an ECCR candidate file"):
        EccrCandidates.load(tmp_path / "bad.json")


def test_history_is_the_users_earlier_items(candidates):
    cam2 = next(p for p in candidates.pairs if p.query == "cam2")
    assert cam2.history == ["cam3", "bat3", "kbd1"]  # u1's session s1, nothing from the query session
    assert next(p for p in candidates.pairs if p.query == "cam1").history == []


def test_oracle_random_and_constant_on_eccr(tiny_split, candidates):
    truth = bundle_mates(tiny_split.test)
    systems = {"oracle": OracleScorer(truth), "constant": ConstantScorer()}
    res = run_eccr_protocol(candidates, systems)
    assert res["oracle"].summary["HR@5"].mean == 1.0 and res["oracle"].summary["NDCG@5"].mean == 1.0
    assert res["constant"].summary["HR@5"].mean == 0.0
    assert res["constant"].summary["MRR"].mean == pytest.approx(1 / 21)
    assert res["constant"].extra["pairs_beaten_by"]["random"] == 1.0
    assert res["oracle"].extra["pairs_beaten_by"]["co_bought"] == 0.0
    # many copies of the lists so the random scorer's average is tight: expected HR@5 = 5/21
    many = EccrCandidates(candidates.dataset, "test", candidates.config, candidates.pairs * 250)
    hr = run_eccr_protocol(many, {"random": RandomScorer(1)})["random"].summary["HR@5"]
    assert abs(hr.mean - 5 / 21) < 0.03 and hr.ci_low < 5 / 21 < hr.ci_high


def test_breakdown_names_the_kind_that_wins(candidates):
    class PrefersSessionItems:  # ranks co-bought items first: they should show up in the breakdown
        def score_candidates(self, query, candidates, history=()):
            return Scores(np.array([1.0 if c in {"hdmi3", "mouse1", "head1"} else 0.0 for c in candidates]))

    r = run_eccr_protocol(candidates, {"s": PrefersSessionItems()})["s"]
    assert r.extra["pairs_beaten_by"]["co_bought"] == 1.0
    assert r.extra["outranked_share"]["co_bought"] == 1.0


def test_scorer_errors_are_named(candidates):
    class Broken:
        def score_candidates(self, query, candidates, history=()):
            return Scores(np.zeros(len(candidates) - 1))

    with pytest.raises(ValueError, match="'broken' returned 20 scores for 21"):
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
    assert res["constant"].summary["Recall@50"].mean == 0.0  # 53 candidates, all tied: positives are last
    big = run_retrieval_protocol(tiny_split, {"pop": Popular(), "ret": PopularRetriever()},
                                 replace(cfg, chunk_size=10_000, recall_ks=(5, 10)))
    assert res["pop"].per_query["Recall@10"].tolist() == big["pop"].per_query["Recall@10"].tolist()
    assert big["ret"].extra["used_retrieve"] and not big["pop"].extra["used_retrieve"]
    # retrieve breaks ties in its own order (not pessimistically), so it can only do at least as well
    assert (big["ret"].per_query["Recall@10"] >= big["pop"].per_query["Recall@10"]).all()


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
    train_items = set(tiny_split.train.behaviour.events["item_id"])
    n_queries = len(rec.calls) // 2
    for i, (query, cands, _) in enumerate(rec.calls):
        positives = bundle_mates(tiny_split.test)[query[0]]
        negatives = cands[len(positives):]
        assert set(cands[:len(positives)]) == positives
        assert not set(negatives) & (positives | {query[0]}) and len(set(negatives)) == len(negatives)
        if i >= n_queries:  # gamma = 1: only items seen in train sessions can be drawn
            assert set(negatives) <= train_items
        else:
            assert len(negatives) == 20


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
