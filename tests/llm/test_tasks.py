import pandas as pd
import pytest

from eccr.coherence import PairFlags
from eccr.data.schema import Behaviour, Bundles, Catalog, Dataset
from eccr.llm.config import TaskConfig
from eccr.llm.tasks import TASKS, TaskBuilder, coherence_answer, load_templates


def _tiny():
    items = [("c1", "Canon EOS 60D Digital SLR Camera Body", ["Camera", "DSLR"]),
             ("b1", "Wasabi Battery for Canon LP-E6 and EOS 60D", ["Camera", "Batteries"]),
             ("s1", "SanDisk Extreme 64GB SDXC Card", ["Camera", "Memory"]),
             ("n1", "Nikon D7100 DX Digital SLR Camera", ["Camera", "DSLR"]),
             ("h1", "HDMI Cable 6ft", ["TV", "Cables"])]
    cat = Catalog(pd.DataFrame([{"item_id": i, "title": t, "category": c, "brand": "", "text": ""}
                                for i, t, c in items]))
    ev = pd.DataFrame({"user_id": ["u1"] * 4, "session_id": ["s"] * 4, "item_id": ["c1", "b1", "s1", "h1"],
                       "timestamp": [100] * 4})
    bundles = pd.DataFrame({"bundle_id": ["x"] * 3, "session_id": ["s"] * 3, "item_id": ["c1", "b1", "s1"],
                            "intent": ["Canon shooter spares"] * 3, "timestamp": [100] * 3})
    return Dataset("tiny", cat, Behaviour(ev), Bundles(bundles))


def test_templates_exist_for_every_task():
    templates = load_templates(TaskConfig().prompts_dir)
    assert set(templates) == set(TASKS)
    assert "{candidate_ids}" in templates["recommend"]


def test_builder_renders_all_tasks_with_real_ids_only():
    ds = _tiny()
    ids = {i: f"<a_{n}><b_{n}><c_0>" for n, i in enumerate(ds.catalog.items["item_id"])}
    examples = TaskBuilder(ds, ids, TaskConfig(n_candidates=3)).build()
    assert {e["task"] for e in examples} == set(TASKS)
    rec = [e for e in examples if e["task"] == "recommend"]
    assert len(rec) == 6  # 3 bundle items -> 6 ordered pairs
    for e in rec:
        assert e["completion"].strip() in e["prompt"]  # the answer is one of the candidates
        assert e["prompt"].count("<a_") == 1 + 3       # query id + 3 candidates
    # the co-bought HDMI cable is a hard negative, never the answer
    assert all(e["completion"].strip() != ids["h1"] for e in rec)
    explain = [e for e in examples if e["task"] == "explain"]
    # the crowd intent is not in the prompt, so it is not in the target either: an LM taught to quote it invents one
    assert explain and not any("Canon shooter spares" in e["completion"] or '"' in e["completion"] for e in explain)


def test_coherence_answers():
    assert coherence_answer(PairFlags(complementary=True, compatible=True)) == "yes, compatible"
    assert coherence_answer(PairFlags(complementary=True, relevant=True)) == "yes, relevant"
    assert coherence_answer(PairFlags(substitute=True)) == "no, substitute"
    assert coherence_answer(PairFlags()) == "no, not used together"


def _with_earlier_session(ds):
    """u1 bought the HDMI cable and the Nikon in an earlier session (t=50) and then the bundle (t=100)."""
    ev = ds.behaviour.events
    ev = ev[ev["item_id"] != "h1"]
    earlier = pd.DataFrame({"user_id": ["u1", "u1"], "session_id": ["e", "e"], "item_id": ["h1", "n1"],
                            "timestamp": [40, 50]})
    return Dataset("tiny", ds.catalog, Behaviour(pd.concat([earlier, ev], ignore_index=True)), ds.bundles)


def test_recommend_prompts_carry_the_shoppers_earlier_items_most_recent_first():
    ds = _with_earlier_session(_tiny())
    ids = {i: f"<a_{n}><b_{n}><c_0>" for n, i in enumerate(ds.catalog.items["item_id"])}
    rec = [e for e in TaskBuilder(ds, ids, TaskConfig(n_candidates=2)).build() if e["task"] == "recommend"]
    basket_lines = {e["prompt"].split("Basket: ")[1].split("\n")[0] for e in rec}
    assert basket_lines == {ids["n1"] + ids["h1"]}  # earlier session only, newest first; not the bundle itself


def test_basket_order_follows_the_weigher_and_is_capped():
    ds = _with_earlier_session(_tiny())
    ids = {i: f"<a_{n}><b_{n}><c_0>" for n, i in enumerate(ds.catalog.items["item_id"])}
    seen = []

    def weigher(query, basket):
        seen.append((query, list(basket)))
        return [1.0 if b == "h1" else 0.0 for b in basket]

    builder = TaskBuilder(ds, ids, TaskConfig(max_basket_items=1), basket_weigher=weigher)
    assert builder.basket_ids("c1", ["h1", "n1"]) == ids["h1"]  # weight beats recency; cap 1
    assert seen == [("c1", ["n1", "h1"])]
    assert builder.basket_ids("c1", ["c1", "zz"]) == "none"    # the query itself and unknown items are left out


def test_explain_prompts_show_each_items_leaf_category():
    """The LM copies the type it writes in parentheses ("(batteries)") from the prompt instead of guessing it."""
    ds = _tiny()
    ids = {i: f"<a_{n}><b_{n}><c_0>" for n, i in enumerate(ds.catalog.items["item_id"])}
    prompt = TaskBuilder(ds, ids, TaskConfig()).render("explain", "c1", "b1")
    assert "A: Canon EOS 60D Digital SLR Camera Body (dslr) <a_0>" in prompt
    assert "B: Wasabi Battery for Canon LP-E6 and EOS 60D (batteries) <a_1>" in prompt


def test_the_configured_tasks_are_the_only_ones_built():
    ds = _tiny()
    ids = {i: f"<a_{n}><b_{n}><c_0>" for n, i in enumerate(ds.catalog.items["item_id"])}
    every = TaskBuilder(ds, ids, TaskConfig(n_candidates=3)).build()
    only = TaskBuilder(ds, ids, TaskConfig(n_candidates=3, tasks=("explain",))).build()
    assert {e["task"] for e in only} == {"explain"}
    # the same explanations as in the multi-task build (the same seed draws the same pairs)
    assert sorted(e["prompt"] for e in only) == sorted(e["prompt"] for e in every if e["task"] == "explain")
    with pytest.raises(ValueError, match="explian"):
        TaskBuilder(ds, ids, TaskConfig(tasks=("explian",))).build()
