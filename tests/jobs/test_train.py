"""End to end on the tiny trained run: what `eccr train` writes, and what the Recommender does with it."""
import json

import numpy as np
import pandas as pd
import pytest

from eccr.data.schema import Catalog
from eccr.jobs.train import train_run
from eccr.pipeline import Recommender
from eccr.quantize.semantic_ids import SemanticIDTable
from eccr.run import Run, load_run_config


def test_run_directory_has_every_stage(tiny_run):
    run = Run(tiny_run)
    for path in (run / "config.json", run.catalog, run.train_sequences, run.fused.with_suffix(".safetensors"),
                 run.ranker / "config.json", run.dan / "config.json", run.weighted_sum, run.index, run.blend, run.retrieval_blend,
                 run.coherence / "coherence_rule.json", run.coherence / "ensemble" / "member_1" / "complement.json",
                 run.coherence / "ranking_rule.json",
                 run.retrieval_blend, run.semantic_ids, run.sft_data,
                 run.adapter / "adapter_config.json", run.adapter / "adapter_model.safetensors", run.summary):
        assert path.exists(), path
    table = SemanticIDTable.load(run.semantic_ids)
    codes = {tuple(c) for c in table.codes.tolist()}
    assert len(codes) == len(table) >= 300  # zero collisions over the demo catalogue
    report = json.loads((run / "semantic_ids_report.json").read_text())
    assert report["collision_rate_after"] == 0.0
    # the adapter stays small: LoRA + new token rows, never the full resized embedding matrix
    assert (run.adapter / "adapter_model.safetensors").stat().st_size < 5_000_000
    tasks = {json.loads(line)["task"] for line in run.sft_data.read_text().splitlines()}
    assert tasks == {"recommend", "explain", "coherence", "title_to_id", "id_to_title"}


def test_second_train_call_keeps_finished_stages(tiny_run):
    directed = Run(tiny_run).directed_model / "directed.safetensors"
    written = directed.stat().st_mtime_ns
    summary = train_run(load_run_config(tiny_run), tiny_run)
    assert directed.stat().st_mtime_ns == written  # the directed towers are not refitted either
    assert summary["stages"]["rank"] == {"ranker": "kept"}
    assert summary["stages"]["lm"] == {"lm": "kept"}
    assert summary["stages"]["coherence"] == {"coherence": "kept"}


def test_baselines_stage_trains_dan_and_tunes_the_weighted_sum(tiny_run):
    from eccr.evaluate.systems import build_systems

    run = Run(tiny_run)
    tuned = json.loads(run.weighted_sum.read_text())
    assert tuned["valid_lists"] > 0 and 0.0 <= tuned["auc"] <= 1.0 and tuned["decay"] > 0
    systems = build_systems(Recommender.from_run(tiny_run, use_lm=False))
    assert systems["weighted_sum"].decay == tuned["decay"]
    scores = systems["dan"].score_candidates(["D0001"], ["D0002", "D0363"]).scores
    assert scores.shape == (2,) and scores[0] != scores[1]


def test_two_blends_rank_differently_and_the_choice_is_checked(tiny_run):
    coherent = Recommender.from_run(tiny_run, use_lm=False)
    together = Recommender.from_run(tiny_run, use_lm=False, ranking="bought_together")
    assert coherent.blend.weights != together.blend.weights
    assert together.recommend("D0001", k=3, explain=False).items
    with pytest.raises(ValueError, match="ranking 'other'"):
        Recommender.from_run(tiny_run, use_lm=False, ranking="other")


def test_recommend_prompts_show_earlier_items_of_the_shopper(tiny_run):
    prompts = [json.loads(line)["prompt"] for line in Run(tiny_run).sft_data.read_text().splitlines()
               if json.loads(line)["task"] == "recommend"]
    with_basket = [p for p in prompts if "Basket: none" not in p]
    assert 0 < len(with_basket) < len(prompts)  # returning shoppers have one, first-time shoppers do not
    assert all(p.split("Basket: ")[1].split("\n")[0].count("<a_") <= 4 for p in with_basket)


def test_larger_max_steps_trains_the_adapter_on_from_its_checkpoint(tiny_run, tmp_path):
    import dataclasses
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    cfg = load_run_config(run_dir)
    cfg = dataclasses.replace(cfg, sft=dataclasses.replace(cfg.sft, max_steps=6))
    summary = train_run(cfg, run_dir)
    assert summary["stages"]["rank"] == {"ranker": "kept"}
    assert summary["stages"]["lm"]["lm"]["global_step"] == 6
    truncation = summary["stages"]["lm"]["lm"]["truncation"]
    assert truncation["max_length"] == cfg.sft.max_length
    assert truncation["examples"] == sum(summary["stages"]["lm"]["lm"]["examples_per_task"].values())
    assert 0 <= truncation["examples_cut"] <= truncation["examples"] and 0 <= truncation["completion_tokens_cut"] < 1
    assert train_run(cfg, run_dir)["stages"]["lm"] == {"lm": "kept"}


def test_other_data_in_same_run_dir_is_refused(tiny_run, tmp_path):
    import dataclasses

    cfg = load_run_config(tiny_run)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, source=str(tmp_path)))
    with pytest.raises(ValueError, match="other data"):
        train_run(cfg, tiny_run)


@pytest.fixture(scope="module")
def recommender(tiny_run):
    return Recommender.from_run(tiny_run)


def test_recommend_returns_explained_complements_not_the_query(recommender):
    rec = recommender.recommend("Canon EOS Rebel T7", k=5)
    assert rec.query["item_id"] == "D0001"
    assert len(rec.items) == 5
    ids = [i.item_id for i in rec.items]
    assert "D0001" not in ids and len(set(ids)) == 5
    assert all(i.explanation and i.explanation_source in ("lm", "template") for i in rec.items)
    assert all(i.semantic_id.startswith("<a_") for i in rec.items)
    assert rec.items[0].score >= rec.items[-1].score
    # attention: which memory item drove each recommendation; one memory item -> weight on it
    assert all(set(i.attention) == {"D0001"} for i in rec.items)
    answer = rec.as_answer("q1")
    assert answer["ranked"] == ids and answer["recommendations"][0]["flags"].keys() >= {"coherent", "compatible"}


def test_basket_items_are_in_memory_and_never_recommended(recommender):
    rec = recommender.recommend("D0001", basket=["D0104"], k=5)
    assert "D0104" not in [i.item_id for i in rec.items]
    assert all(set(i.attention) == {"D0001", "D0104"} for i in rec.items)
    # the rest of each hop's mass sits on the learned "attend nowhere" slot (null_slot)
    assert all(0 <= sum(i.attention.values()) <= 1.0001 for i in rec.items)


def test_baselines_and_unknown_items(recommender):
    for system in recommender.systems:
        assert len(recommender.recommend("D0001", k=3, system=system, explain=False).items) == 3
    with pytest.raises(KeyError, match="no catalogue item"):
        recommender.recommend("qqqq zzzz", k=3)
    with pytest.raises(ValueError, match="unknown system"):
        recommender.recommend("D0001", system="nope")


def test_given_candidates_are_the_only_ones_ranked(recommender):
    rec = recommender.recommend("D0001", candidates=["D0035", "D0104", "D0363"], k=10)
    assert sorted(i.item_id for i in rec.items) == ["D0035", "D0104", "D0363"]


def test_cold_start_items_get_vectors_ids_and_can_be_recommended(tiny_run):
    rec = Recommender.from_run(tiny_run, use_lm=False)
    new = Catalog(pd.DataFrame([{"item_id": "NEW1", "title": "Wasabi Power LP-E10 Battery for Canon EOS Rebel T7, T6",
                                 "category": ["Electronics", "Camera & Photo", "Batteries"], "brand": "", "text": ""}]))
    assert rec.add_items(new) == ["NEW1"]
    assert rec.table.id_string("NEW1") not in {rec.table.id_string(i) for i in rec.table.item_ids if i != "NEW1"}
    result = rec.recommend("D0001", candidates=["NEW1", "D0363"], k=2)
    assert {i.item_id for i in result.items} == {"NEW1", "D0363"}
    ids, _ = rec.index.search(rec.target.lookup(["NEW1"]), 1)
    assert ids[0] == ["NEW1"]  # in the FAISS index
    rec.config.retrieve_k = 1000
    assert any(i.item_id == "NEW1" for i in rec.recommend("D0001", k=1000, explain=False).items)


def test_search_items(recommender):
    hits = recommender.search_items("canon rebel", limit=50)
    assert hits and all("canon" in t.lower() and "rebel" in t.lower() for _, t in hits)
    assert len(recommender.search_items("", limit=7)) == 7


def test_ranker_instances_baskets_or_users():
    from eccr.data.schema import Behaviour, Dataset
    from eccr.jobs.train import ranker_training_data

    cat = Catalog(pd.DataFrame([{"item_id": i, "title": i, "category": [], "brand": "", "text": ""} for i in "abcde"]))
    ev = pd.DataFrame({"user_id": ["u", "u", "u", "v", "w", "w"], "session_id": ["s1", "s1", "s2", "s3", "s4", "s5"],
                       "item_id": ["b", "a", "c", "d", "e", "e"], "timestamp": [10, 10, 20, 5, 1, 2]})
    ds = Dataset("t", cat, Behaviour(ev))
    baskets, ordered = ranker_training_data(ds, "baskets")
    assert not ordered and sorted(map(sorted, baskets)) == [["a", "b"]]
    users, ordered = ranker_training_data(ds, "users")
    assert ordered and users == [["b", "a", "c"]]  # time order; one-item users (v) and repeats (w) drop out
    with pytest.raises(ValueError, match="baskets' or 'users'"):
        ranker_training_data(ds, "sessions")


def test_diversify_by_type_reorders_without_dropping():
    from eccr.pipeline import diversify_by_type

    types = ["battery", "battery", "battery", "card", "", "bag", "battery"]
    order = diversify_by_type(range(7), types, max_per_type=2)
    assert order.tolist() == [0, 1, 3, 4, 5, 2, 6]
    assert diversify_by_type(range(3), ["a", "a", "a"], 1).tolist() == [0, 1, 2]  # one type only: order kept
    # with scores, a held battery (1.5) comes before a card that scores more than the margin below it (-1.0)
    scores = [4.0, 3.0, 1.5, -1.0, -1.2, -3.0, -4.0]
    assert diversify_by_type(range(7), types, 2, scores, margin=2.0).tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert diversify_by_type(range(7), types, 2, scores, margin=3.0).tolist() == [0, 1, 3, 4, 2, 5, 6]
    assert diversify_by_type(range(7), types, 2, scores).tolist() == [0, 1, 3, 4, 5, 2, 6]  # no margin: as before


def test_max_per_type_limits_one_type_in_the_top_k(tiny_run):
    plain = Recommender.from_run(tiny_run, use_lm=False)
    varied = Recommender.from_run(tiny_run, use_lm=False, max_per_type=1, type_margin=float("inf"),
                                  type_floor=float("-inf"))  # the cap alone decides
    k = 6
    leaves = [plain._leaf(i.item_id) for i in plain.recommend("D0001", k=k, explain=False).items]
    varied_leaves = [varied._leaf(i.item_id) for i in varied.recommend("D0001", k=k, explain=False).items]
    assert len(set(varied_leaves)) >= len(set(leaves))
    assert len(varied_leaves) == k and len(set(varied_leaves)) == k  # the demo catalogue has many types


def test_bought_together_lists_are_pools_of_one_status(tiny_run):
    """The bought_together blend is fitted on valid pools retrieved from one seen status's items at a time, as the
    full-catalogue protocol asks: every list holds items of one status and a positive of it."""
    from eccr.data.candidate_lists import seen_items
    from eccr.jobs.train import _retrieval_blend_lists
    from eccr.run import split_dataset

    run, config = Run(tiny_run), load_run_config(tiny_run)
    candidates = Recommender.from_run(tiny_run, use_lm=False).candidates
    _, split = split_dataset(config)
    seen = seen_items(split.train)
    pools = []
    retrieve = candidates.retrieve

    def recording(query, size=None, among=None):
        pools.append((among, retrieve(query, size, among)))
        return pools[-1][1]

    candidates.retrieve = recording
    try:
        _columns, labels, sizes = _retrieval_blend_lists(run, candidates, config, split)
    finally:
        del candidates.retrieve
    assert sizes and len(labels) == sum(sizes) and all(among is not None for among, _ in pools)
    statuses = set()
    for among, pool in pools:
        status = {i in seen for i in among}
        assert len(status) == 1 and set(pool) <= among
        statuses |= status
    assert statuses == {True, False}  # the demo's valid part has positives of both kinds


def test_a_judge_without_a_ranking_rule_gets_one_from_the_blend_stage(tiny_run, tmp_path):
    """A run trained before the ranking rule existed: `eccr train --stages blend` fits it (and refits the blend to
    the same weights); the Recommender then reads it."""
    import shutil

    from eccr.jobs.train import stage_blend
    from eccr.rank.blend import Blend
    from eccr.run import split_dataset

    old = tmp_path / "old_run"
    shutil.copytree(tiny_run, old, ignore=shutil.ignore_patterns("checkpoints", "lm"))
    run, config = Run(old), load_run_config(old)
    (run.coherence / "ranking_rule.json").unlink()
    assert Recommender.from_pretrained(old, use_lm=False).judge.ranking_rule is None
    weights = Blend.load(run.blend).weights
    out = stage_blend(run, config, split_dataset(config)[1], force=False)
    assert out["blend_bought_together"] == "kept" and set(out["ranking_rule"]) == {"target_precision", "level_cut",
                                                                                   "global_cut"}
    assert Blend.load(run.blend).weights == pytest.approx(weights)
    rec = Recommender.from_pretrained(old, use_lm=False)
    assert rec.judge.ranking_rule is not None
    # the spreads it was fitted on are the judge's as served, not the scores of an unknown query
    from eccr.jobs.train import _known_lists, _valid_lists, list_member_scores

    lists = _valid_lists(run, config, split_dataset(config)[1])
    members = list_member_scores(rec.judge, rec.candidates, lists)
    query, _, pool = next(iter(_known_lists(rec.candidates, lists)))
    assert np.array_equal(members[:, :len(pool)], rec.judge.ensemble.score_candidates([query], pool))
    assert (members > -100).all() and rec.judge.rule.calibration.combine(members)[1].std() > 0
    assert stage_blend(run, config, split_dataset(config)[1], force=False)["blend"] == "kept"
