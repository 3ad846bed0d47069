"""The LM pair scorer (eccr/llm/pair_scorer.py): its score is the " yes" vs " no" log-odds, its training examples
come from the honest train lists, and its training resumes from a checkpoint. Tiny model and shop built here."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from eccr.data.candidate_lists import (
    CandidateList,
    CandidateListConfig,
    CandidateLists,
    build_candidate_lists,
    known_complements,
    seen_items,
)
from eccr.data.schema import Catalog
from eccr.data.splits import temporal_split
from eccr.llm.config import LoraSftConfig, PairScorerConfig
from eccr.llm.models import render_prompt
from eccr.llm.pair_scorer import (
    NO,
    YES,
    PairPrompts,
    PairScorer,
    answer_token_ids,
    choose_negatives,
    pair_examples,
    train_pair_scorer,
)
from eccr.quantize.semantic_ids import SemanticIDTable

from ..evaluate.conftest import dataset_from_sessions

LEAVES = {"cam": "Digital Cameras", "bat": "Camera Batteries", "mem": "Memory Cards", "bag": "Camera Bags",
          "mouse": "Mice", "lamp": "Desk Lamps"}


def shop_split():
    """Days 1..10: train 1-7 (bundles cam+bat, cam+mem, cam+bag), valid 8, test 9-10; items numbered 5-6 of each
    leaf are bought only in the test part, so they are "unseen" for train lists."""
    items = [{"item_id": f"{p}{n}", "title": f"{leaf.lower()} item {n}", "category": ["Electronics", leaf],
              "brand": "", "text": ""} for p, leaf in LEAVES.items() for n in range(1, 7)]
    sessions = {
        "s1": ("u1", 1, ["cam1", "bat1", "mouse1", "lamp1"], [["cam1", "bat1"]]),
        "s2": ("u2", 2, ["cam2", "mem2", "mouse2", "lamp2"], [["cam2", "mem2"]]),
        "s3": ("u3", 3, ["cam3", "bag3", "mouse3", "bat3"], [["cam3", "bag3"]]),
        "s4": ("u4", 4, ["cam4", "bat4", "mem4", "lamp3", "bag4"], [["cam4", "bat4", "mem4"]]),
        "s5": ("u5", 5, ["cam1", "mem1", "lamp4", "mouse4"], [["cam1", "mem1"]]),
        "s6": ("u6", 6, ["cam2", "bag2", "bat2", "mem3"], [["cam2", "bag2"]]),
        "s7": ("u7", 7, ["cam3", "bat3", "bag1", "mem3"], [["cam3", "bat3"]]),
        "s8": ("u8", 8, ["cam4", "bag4"], [["cam4", "bag4"]]),
        "s9": ("u1", 9, ["cam5", "bat5", "mem5", "bag5", "mouse5", "lamp5"], [["cam5", "bat5"]]),
        "s10": ("u2", 10, ["cam6", "bat6", "mem6", "bag6", "mouse6", "lamp6"], [["cam6", "mem6"]]),
    }
    ds = dataset_from_sessions("shop", Catalog(pd.DataFrame(items)), sessions)
    return temporal_split(ds, valid_fraction=0.1, test_fraction=0.2)


def id_table(item_ids) -> SemanticIDTable:
    ids = sorted(item_ids)
    return SemanticIDTable(ids, np.array([[n // 8, n % 8] for n in range(len(ids))]))


@pytest.fixture(scope="module")
def shop():
    split = shop_split()
    table = id_table(split.train.catalog.items["item_id"])
    prompts = PairPrompts(split.train.catalog.items, {i: table.id_string(i) for i in table.item_ids})
    lists = build_candidate_lists(split, "train", CandidateListConfig(negatives=8, max_cobought=3, max_same_leaf=2))
    return split, table, prompts, lists


def test_score_is_the_yes_no_log_odds_at_the_answer_position(tiny):
    model, tok = tiny
    yes, no = answer_token_ids(tok)
    assert (yes, no) == (tok(YES)["input_ids"][0], tok(NO)["input_ids"][0])  # the completions' first tokens
    prompts = ["A: camera B: battery", "A: camera B: lamp and a longer title here"]
    scorer = PairScorer(model, tok, batch_size=2)
    got = scorer.score_prompts(prompts)
    for prompt, value in zip(prompts, got):  # one unpadded forward per prompt, by hand
        ids = tok(render_prompt(tok, prompt), return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0, -1].float(), dim=-1)
        assert value == pytest.approx(float(logp[yes] - logp[no]), abs=1e-4)
    assert abs(got[0] - got[1]) > 1e-6  # not a constant
    # the shared-prefix path (the query's part runs once) gives the same numbers
    same_query = ["A: camera B: battery", "A: camera B: memory card", "A: camera B: bag"]
    np.testing.assert_allclose(scorer.score_shared_prefix(same_query), scorer.score_prompts(same_query), atol=1e-4)


def test_pair_scores_follow_candidates_and_mark_unknown_items(tiny, shop):
    model, tok = tiny
    _, _, prompts, _ = shop
    scorer = PairScorer(model, tok, prompts, batch_size=2)
    out = scorer.score("cam1", ["bat1", "not-an-item", "mem1"])
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all()
    single = scorer.score_prompts([prompts.render("cam1", "mem1")])[0]
    assert out[2] == pytest.approx(single, abs=1e-4)


def test_training_examples_come_from_honest_train_lists(shop):
    split, _, prompts, lists = shop
    seen = seen_items(split.train)
    complements = known_complements(split, "train")
    rows = pair_examples(lists, prompts, PairScorerConfig(negatives_per_positive=3))
    yes = [r for r in rows if r["completion"] == YES]
    no = [r for r in rows if r["completion"] == NO]
    assert len(yes) == len(lists.pairs) and len(no) == 3 * len(lists.pairs)
    train_pairs = {(q, p) for q, ps in complements.items() for p in ps}
    assert all((r["query"], r["item"]) in train_pairs for r in yes)  # positives: train bundle partners
    for r in no:  # negatives: the positive's seen status (every train positive is seen), never a known complement
        assert r["item"] in seen, r
        assert r["item"] not in complements.get(r["query"], set()) and r["item"] != r["query"]
    assert not any(r["item"].endswith(("5", "6")) for r in rows)  # items bought only in the test part
    assert {"co_bought", "same_leaf", "random"} <= {r["source"] for r in no}
    assert all(r["prompt"] == prompts.render(r["query"], r["item"]) for r in rows)
    assert "[Camera Batteries]" in prompts.render("cam1", "bat1")  # the category leaf is in the prompt


def test_the_prompt_shows_both_items_with_their_ids_and_the_basket_when_there_is_one(shop, tmp_path):
    split, table, prompts, _ = shop
    plain = prompts.render("cam1", "bat1")
    assert table.id_string("cam1") in plain and table.id_string("bat1") in plain
    assert "Has:" not in plain and plain == prompts.render("cam1", "bat1", ["not-an-item"])
    with_basket = prompts.render("cam1", "bat1", ["mouse1", "lamp1", "not-an-item", "mem2", "bag3"])
    lines = with_basket.splitlines()
    basket = next(line for line in lines if line.startswith("Has: "))
    assert lines.index(basket) == next(n for n, line in enumerate(lines) if line.startswith("A: ")) + 1  # A, then it
    assert basket == "Has: " + "; ".join(f"{prompts.title[i]} {table.id_string(i)}" for i in ("lamp1", "mem2", "bag3"))
    assert with_basket.replace(basket + "\n", "") == plain  # the basket line is all that is added
    cut = PairPrompts(split.train.catalog.items, prompts.ids, PairScorerConfig(max_title_words=2))
    assert cut.basket_line(["lamp1"]) == f"\nHas: desk {table.id_string('lamp1')}"  # titles cut to half
    none = PairPrompts(split.train.catalog.items, prompts.ids, PairScorerConfig(max_basket_items=0))
    assert none.render("cam1", "bat1", ["lamp1"]) == plain
    custom = tmp_path / "pair.txt"  # a template of one's own without the field still renders
    custom.write_text("Is {target_title} for {query_title}?")
    own = PairPrompts(split.train.catalog.items, prompts.ids, PairScorerConfig(prompt_file=str(custom)))
    assert own.render("cam1", "bat1", ["lamp1"]) == "Is camera batteries item 1 for digital cameras item 1?"


def test_training_and_scoring_prompts_carry_the_lists_basket(tiny, shop):
    _, _, prompts, _ = shop
    lists = CandidateLists("shop", "train", {}, [CandidateList("cam1", "bat1", "b", "s", ["lamp1"], ["mouse1"],
                                                               ["random"], True)])
    rows = pair_examples(lists, prompts, PairScorerConfig(negatives_per_positive=1))
    assert [r["prompt"] for r in rows] == [prompts.render("cam1", c, ["lamp1"]) for c in ("bat1", "mouse1")]
    assert all("Has: " in r["prompt"] for r in rows)
    model, tok = tiny
    scorer = PairScorer(model, tok, prompts, batch_size=2)
    with_basket = scorer.score("cam1", ["bat1"], basket=["lamp1"])[0]
    assert with_basket == pytest.approx(scorer.score_prompts([rows[0]["prompt"]])[0], abs=1e-4)
    assert abs(with_basket - scorer.score("cam1", ["bat1"])[0]) > 1e-6


def test_negatives_take_one_of_each_kind_first():
    pair = CandidateList("q", "p", "b", "s", [], ["r1", "r2", "c1", "l1", "r3", "n1"],
                         ["random", "random", "co_bought", "same_leaf", "random", "near_category"], True)
    for seed in range(5):
        chosen = choose_negatives(pair, 3, np.random.default_rng(seed))
        kinds = [k for _, k in chosen]
        assert kinds[0] == "co_bought" and kinds[1] in ("same_leaf", "near_category") and kinds[2] == "random"
    assert len(choose_negatives(pair, 10, np.random.default_rng(0))) == 6  # never more than the list has


def test_training_resumes_from_its_checkpoint(tiny_folder, shop, tmp_path):
    split, table, prompts, lists = shop
    small = CandidateLists(lists.dataset, lists.part, lists.config, lists.pairs[:4])
    config = PairScorerConfig(negatives_per_positive=1)
    sft = LoraSftConfig(max_steps=2, save_steps=2, per_device_batch_size=2, max_length=384, logging_steps=1,
                        report_to="none")
    data = (prompts, small, table, split)
    first = train_pair_scorer("unused", tmp_path, config, sft, model_spec=str(tiny_folder), data=data)
    assert first.global_step == 2 and (tmp_path / "checkpoint-2").is_dir()
    assert (tmp_path / "pair_scorer.json").is_file() and (first.adapter_dir / "pair_scorer.json").is_file()
    import json

    state = json.loads((tmp_path / "checkpoint-2" / "trainer_state.json").read_text())
    from transformers import TrainerCallback

    class CountSteps(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            CountSteps.steps += 1

    second = train_pair_scorer("unused", tmp_path, config, LoraSftConfig(**{**sft.__dict__, "max_steps": 3}),
                               model_spec=str(tiny_folder), data=data, callbacks=[CountSteps()])
    assert second.global_step == 3 and CountSteps.steps == 1  # went on from step 2, did not start again
    resumed = json.loads((tmp_path / "checkpoint-3" / "trainer_state.json").read_text())
    assert resumed["log_history"][:2] == state["log_history"][:2]  # steps 1-2 are the first call's

    from eccr.llm.pair_scorer import load_pair_scorer

    scorer = load_pair_scorer(second.adapter_dir, device="cpu")
    assert np.isfinite(scorer.score_prompts([prompts.render("cam1", "bat1")])).all()


def test_the_command_line_is_generated_from_the_configs():
    from eccr.llm.pair_scorer import PairScorerJob, job_parser

    args = job_parser().parse_args(["--run", "r", "--out", "o"])
    assert args.job == PairScorerJob() and (args.job.sft.max_steps, args.job.sft.per_device_batch_size) == (300, 8)
    args = job_parser().parse_args(["--run", "r", "--out", "o", "--sft.max_steps", "7", "--pair.max_basket_items",
                                    "0", "--pair.max_seconds", "60", "--sft.bf16", "true", "--no-resume"])
    assert (args.job.sft.max_steps, args.job.pair.max_basket_items, args.job.pair.max_seconds) == (7, 0, 60.0)
    assert args.job.sft.bf16 and args.no_resume and args.job.sft.learning_rate == 3e-4
