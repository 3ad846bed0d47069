"""The Recommender as a model folder: save_pretrained / from_pretrained, with items added at run time."""
import numpy as np
import pandas as pd
import pytest

from eccr.coherence import short_name
from eccr.data.schema import Catalog
from eccr.pipeline import ADDED_ITEMS, Recommender
from eccr.represent.vectors import ItemVectors


def _new(item_id: str, title: str, leaf: str) -> Catalog:
    return Catalog(pd.DataFrame([{"item_id": item_id, "title": title, "category": ["Electronics", "Camera & Photo", leaf],
                                  "brand": "", "text": ""}]))


BATTERY = _new("NEW1", "Wasabi Power LP-E10 Battery for Canon EOS Rebel T7, T6", "Batteries")
BAG = _new("NEW2", "Lowepro shoulder bag for Canon EOS Rebel cameras", "Bags & Cases")


def _ranked(rec: Recommender, item: str, **kw) -> list[tuple[str, float]]:
    return [(i.item_id, round(i.score, 6)) for i in rec.recommend(item, k=8, explain=False, **kw).items]


def test_added_items_are_saved_with_the_model_and_come_back(tiny_run, tmp_path, monkeypatch):
    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    assert rec.add_items(BATTERY) == ["NEW1"]
    before = {"query": _ranked(rec, "NEW1"), "candidate": _ranked(rec, "D0001", candidates=["NEW1", "D0363"]),
              "id": rec.table.id_string("NEW1")}
    folder = rec.save_pretrained(tmp_path / "model")
    assert not (tiny_run / ADDED_ITEMS).exists()  # the run it came from is untouched
    assert (folder / ADDED_ITEMS / "catalog.parquet").exists() and (folder / "config.json").exists()
    assert not (folder / "checkpoints").exists()
    assert not [p for p in folder.rglob("*") if p.suffix in (".pt", ".pth", ".pkl", ".pickle", ".bin")]

    import eccr.pipeline

    monkeypatch.setattr(eccr.pipeline, "text_vectors", lambda *a, **k: pytest.fail("a saved item was encoded again"))
    again = Recommender.from_pretrained(folder, use_lm=False)
    assert again.is_titled("NEW1") and again.table.id_string("NEW1") == before["id"]
    assert _ranked(again, "NEW1") == before["query"]
    assert _ranked(again, "D0001", candidates=["NEW1", "D0363"]) == before["candidate"]
    ids, _ = again.index.search(again.target.lookup(["NEW1"]), 1)
    assert ids[0] == ["NEW1"]
    monkeypatch.undo()

    # more items, saved into the same folder: both kinds come back
    again.add_items(BAG)
    assert again.save_pretrained(folder) == folder
    third = Recommender.from_pretrained(folder, use_lm=False)
    assert third.is_titled("NEW1") and third.is_titled("NEW2") and third.catalog_size == rec.catalog_size + 1
    np.testing.assert_array_equal(third.text.lookup(["NEW1", "NEW2"]), again.text.lookup(["NEW1", "NEW2"]))



def test_an_item_added_later_is_scored_like_the_same_item_in_the_training_catalogue(tiny_run):
    """What a check on later data sees: items the run never had, added at explain time. Each blend feature of a
    copy of a catalogue item nobody bought in training equals the original's (the category prior once read an
    added item's leaf as unknown, 0)."""
    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    titled = [i for i in rec.items.rows if rec.is_titled(i)]
    popularity = rec.candidates.features(titled[0], [], titled)[0]["popularity"]
    with_behaviour = set(ItemVectors.load(rec.run.behaviour).ids)  # bought in the train period, maybe alone
    unbought = [i for i, p in zip(titled, popularity) if p == 0 and i not in with_behaviour][:12]
    assert len(unbought) >= 5
    originals = rec.catalog.items.set_index("item_id").loc[unbought].reset_index()
    rec.add_items(Catalog(originals.assign(item_id=[f"copy-{i}" for i in unbought])))
    pool = unbought + [f"copy-{i}" for i in unbought]
    for query in [i for i in titled if i not in unbought][:8]:
        feats = rec.candidates.features(query, [], pool)[0]
        for name, values in feats.items():
            values = np.asarray(values, dtype=float)
            np.testing.assert_allclose(values[:len(unbought)], values[len(unbought):], atol=1e-5, err_msg=name)
        scores = rec.candidates.final_scores(feats)
        np.testing.assert_allclose(scores[:len(unbought)], scores[len(unbought):], atol=1e-5)
        original, copy = rec.recommend(query, k=2, candidates=[unbought[0], f"copy-{unbought[0]}"], explain=False).items
        assert copy.score == pytest.approx(original.score, abs=1e-5) and copy.flags == original.flags
        assert copy.coherent_probability == pytest.approx(original.coherent_probability, abs=1e-5)  # the badge


def test_added_items_bring_their_brands_and_types_to_the_grounding_vocabulary(tiny_run):
    """An item added at run time extends what the coherence checks know: its leaf's product type (a reason naming
    a type neither item is) and its brand as a device maker (an accessory "for" that brand's device)."""
    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    extractor = rec.extractor
    assert "telescope" not in extractor.leaf_types and "zorbex" not in extractor.device_brands
    rec.add_items(_new("NEW3", "Zorbex Z9 Mirrorless Camera Body", "Mirrorless Cameras"))
    rec.add_items(_new("NEW4", "Zorbex 70mm travel telescope", "Telescopes"))
    assert rec.extractor is extractor and rec.candidates.extractor is extractor  # one extractor, grown in place
    assert "telescope" in extractor.leaf_types and "zorbex" in extractor.device_brands
    assert extractor.is_device("NEW3") and extractor.brand("NEW4") == "zorbex"

def test_saved_model_with_its_lm_explains_the_added_items(tiny_run, tmp_path):
    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    rec.add_items(BATTERY)
    folder = rec.save_pretrained(tmp_path / "model")
    served = Recommender.from_pretrained(folder)  # with the LoRA LM: the added IDs' tokens are in its vocabulary
    assert served.lm is not None
    assert all(t in served.tokenizer.get_vocab() for t in served.table.tokens_for("NEW1"))
    result = served.recommend("NEW1", k=3)
    assert len(result.items) == 3 and all(i.explanation for i in result.items)


def test_save_refuses_a_foreign_folder_and_clears_added_items_when_none(tiny_run, tmp_path):
    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        rec.save_pretrained(tmp_path / "busy")
    folder = rec.save_pretrained(tmp_path / "plain")
    assert not (folder / ADDED_ITEMS).exists()
    assert _ranked(Recommender.from_pretrained(folder, use_lm=False), "D0001") == _ranked(rec, "D0001")


class _WritingLM:
    """Stands in for the run's LM: writes the given sentence for every pair."""

    def __init__(self, sentence: str):
        self.sentence = sentence

    def explain(self, pairs, max_new_tokens=48):
        return [self.sentence.format(q=q, c=c) for q, c in pairs]


def test_explanations_say_who_wrote_them_and_lm_claims_are_checked(tiny_run):
    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    result = rec.recommend(rec.titled[0], k=3)
    assert [i.explanation_source for i in result.items] == ["template"] * 3
    assert all("hoppers bought" not in i.explanation or rec.bought_together(result.query["item_id"], i.item_id)
               for i in result.items)
    answer = result.as_answer("q1")
    assert [r["explanation_source"] for r in answer["recommendations"]] == ["template"] * 3
    rows = rec.items.rows
    q, c = result.query["item_id"], result.items[0].item_id
    good = f"The {short_name(rows[c]['title'])} goes with the {short_name(rows[q]['title'])}."
    rec.item_lm = _WritingLM(good)
    rec.config.explain = "lm"
    assert rec.explain_pairs([(q, c)])[0][:2] == (good, "lm")
    for bad in (good[:-1] + " and records 4K video at 400W.", good[:-1] + "; Blueberry recommends it.",
                good[:-1] + f" and the {short_name(rows[c]['title'])}.",  # repeats itself
                good[:-1] + ", but it does not fit.", good + " Shoppers bought them together."):
        rec.item_lm = _WritingLM(bad)
        together = rec.bought_together(q, c)
        text, source, raw = rec.explain_pairs([(q, c)])[0]
        if together and bad.endswith("together."):
            assert source == "lm"
        else:
            assert source == "template" and raw == bad and text != bad
    leaf = rows[c]["category"][-1]
    tagged = f"The {short_name(rows[c]['title'])} [{leaf}] goes with the {short_name(rows[q]['title'])}."
    rec.item_lm = _WritingLM(tagged)  # the teacher's bracketed leaf, copied by a student: shown without it
    assert rec.explain_pairs([(q, c)])[0] == (good, "lm", tagged)
    incompatible = {**result.items[0].flags, "incompatible": True, "evidence": ["made for Nikon, not Canon"]}
    rec.item_lm = _WritingLM(good[:-1] + ": it fits.")
    assert rec.explain_pairs([(q, c)], flags=[incompatible])[0][1] == "template"


def test_templates_first_then_the_lm_replaces_them(tiny_run):
    """What the demo streams: `explain="template"` answers without calling the LM, `explain_with_lm` then swaps in
    the LM's sentences that pass the grounding check (same items, same order)."""
    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    first = rec.recommend(rec.titled[0], k=3)
    rows = rec.items.rows
    q = first.query["item_id"]

    class CountingLM(_WritingLM):
        calls = 0

        def explain(self, pairs, max_new_tokens):
            CountingLM.calls += 1
            return [f"The {short_name(rows[c]['title'])} goes with the {short_name(rows[q]['title'])}." for _, c in pairs]

    rec.item_lm, rec.config.explain = CountingLM(""), "lm"
    assert rec.explains_with_lm
    quick = rec.recommend(rec.titled[0], k=3, explain="template")
    assert CountingLM.calls == 0 and [i.explanation_source for i in quick.items] == ["template"] * 3
    order = [i.item_id for i in quick.items]
    rec.explain_with_lm([quick])
    assert CountingLM.calls == 1 and [i.item_id for i in quick.items] == order
    assert [i.explanation_source for i in quick.items] == ["lm"] * 3
    with pytest.raises(ValueError, match="explain must be"):
        rec.recommend(rec.titled[0], k=3, explain="lm")
    rec.config.explain = "grounded"
    assert not rec.explains_with_lm and rec.explain_with_lm([first]) == [first]


def test_reason_first_shows_a_template_that_states_a_reason_and_asks_the_lm_only_about_the_rest(tiny_run):
    """The default `explain="reason_first"`: the template of a battery for its camera says what it does and that
    it fits, so it is shown and the LM is not asked; a bag with a battery has no such template, so the LM's
    grounded sentence is shown. `raw_for_all` (reports) asks the LM about every pair; "lm" shows it first."""
    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    assert rec.config.explain == "reason_first"
    rows = rec.items.rows
    reasoned, silent = ("D0001", "D0034"), ("D0115", "D0055")  # Rebel T7 / LP-E10; camera bag / NP-FZ100

    class AskedLM(_WritingLM):
        def __init__(self):
            super().__init__("")
            self.asked = []

        def explain(self, pairs, max_new_tokens=48):
            self.asked += list(pairs)
            return [f"The {short_name(rows[c]['title'])} is a spare battery to carry in the "
                    f"{short_name(rows[q]['title'])}." for q, c in pairs]

    rec.item_lm = lm = AskedLM()
    shown = rec.explain_pairs([reasoned, silent])
    assert lm.asked == [silent]
    assert [source for _, source, _ in shown] == ["template", "lm"]
    assert "powers" in shown[0][0] and shown[0][2] == "" and "spare battery" in shown[1][0]
    lm.asked = []
    report = rec.explain_pairs([reasoned, silent], raw_for_all=True)
    assert lm.asked == [reasoned, silent] and [s for _, s, _ in report] == ["template", "lm"]
    assert "spare battery" in report[0][2]  # the raw LM sentence is kept for the report
    rec.config.explain = "lm"
    assert [source for _, source, _ in rec.explain_pairs([reasoned, silent])] == ["lm", "lm"]


def test_recommendations_carry_the_coherence_judges_verdict(tiny_run):
    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    assert rec.judge is not None and len(rec.judge.ensemble.members) == 2  # the fixture's small ensemble
    assert rec.run_info["coherence"].startswith("judge at precision")
    assert rec.judge.ranking_rule is not None  # fitted by the blend stage: the badge reads the score that ranks
    result = rec.recommend("D0001", k=5, explain=False)
    ids = [i.item_id for i in result.items]
    direct = rec.judge.judge(["D0001"], ids, rec.candidates.blend_scores(rec.features("D0001", [], ids)[0]))
    assert direct != rec.judge.judge(["D0001"], ids)  # not the ensemble's own probability
    for item, verdict in zip(result.items, direct):
        assert item.coherent_probability == verdict["probability"] and 0.0 <= item.coherent_probability <= 1.0
        assert item.uncertainty == verdict["uncertainty"] >= 0.0 and item.uncertainty_level == verdict["level"]
        assert item.coherent is (verdict["coherent"] and not item.flags["incompatible"]) is item.flags["complementary"]
    # the probability follows the ranking (incompatible items are demoted below all, whatever their score)
    probabilities = [i.coherent_probability for i in rec.recommend("D0001", k=30, explain=False).items
                     if not i.flags["incompatible"]]
    assert len(probabilities) > 10 and probabilities == sorted(probabilities, reverse=True)
    answer = result.as_answer("q")["recommendations"][0]
    assert {"coherent_probability", "uncertainty", "coherent"} <= set(answer)
    # baselines' recommendations are judged too (the verdict is about the pair, not the system)
    assert rec.recommend("D0001", k=2, explain=False, system="text-cosine").items[0].coherent_probability is not None
    # judge=False (what evaluation asks for): the same ranking and scores, no verdicts computed
    unjudged = rec.recommend("D0001", k=5, explain=False, judge=False)
    assert [(i.item_id, i.score) for i in unjudged.items] == [(i.item_id, i.score) for i in result.items]
    assert all(i.coherent_probability is None for i in unjudged.items) and "judge" not in unjudged.timings

    # min_confidence: the best k of those that pass, down the whole pool
    probabilities = sorted((i.coherent_probability for i in rec.recommend("D0001", k=30, explain=False).items),
                           reverse=True)
    bar = probabilities[2]
    kept = rec.recommend("D0001", k=5, explain=False, min_confidence=bar).items
    assert 3 <= len(kept) <= 5 and all(i.coherent_probability >= bar for i in kept)
    assert rec.recommend("D0001", k=5, explain=False, min_confidence=1.01).items == []

    # items added at run time are judged from their text, like every other item
    rec.add_items(BATTERY)
    added = rec.recommend("D0001", k=1, explain=False, candidates=["NEW1"]).items[0]
    assert added.item_id == "NEW1" and added.coherent_probability is not None


def test_a_run_without_the_judge_says_so_and_keeps_the_ranker_badge(tiny_run, tmp_path):
    import shutil

    from eccr.run import Run

    old = tmp_path / "old_run"
    shutil.copytree(tiny_run, old, ignore=shutil.ignore_patterns("checkpoints", "coherence"))
    rec = Recommender.from_pretrained(old, use_lm=False)
    assert rec.judge is None and "no judge" in rec.run_info["coherence"]
    item = rec.recommend("D0001", k=1, explain=False).items[0]
    assert item.coherent_probability is None and item.uncertainty is None and item.coherent is None
    assert item.flags["complementary"] == bool(1 / (1 + np.exp(-item.ranker_score)) >= 0.5)
    with pytest.raises(ValueError, match="no coherence judge"):
        rec.recommend("D0001", k=1, explain=False, min_confidence=0.5)
    assert not Run(old).coherence.exists()


def test_a_blend_fitted_by_an_older_eccr_is_served_with_a_warning_naming_the_refit(tiny_run, tmp_path, caplog):
    """Fit version 3 changed a feature (the fused cosine over shared blocks); a blend fitted before it still ranks,
    and the log says how to refit it."""
    import json
    import shutil

    old = tmp_path / "v2_run"
    shutil.copytree(tiny_run, old, ignore=shutil.ignore_patterns("checkpoints"))
    blend = json.loads((old / "blend.json").read_text())
    blend["info"]["version"] = 2
    (old / "blend.json").write_text(json.dumps(blend))
    with caplog.at_level("WARNING", logger="eccr.pipeline"):
        rec = Recommender.from_pretrained(old, use_lm=False)
    assert "--stages blend" in caplog.text and "the coherent blend was fitted by an older eccr" in caplog.text
    assert "bought_together blend" not in caplog.text
    assert rec.recommend("D0001", k=3, explain=False).items


def test_a_run_is_served_with_the_prompts_its_adapter_was_trained_on(tiny_run, tmp_path):
    """`eccr train` keeps the task templates beside the adapter (lm/prompts/), and serving reads them there: a
    later change to the package's prompts/ does not change what an older adapter is asked."""
    from eccr.llm.config import TaskConfig
    from eccr.llm.tasks import load_templates

    assert load_templates(tiny_run / "lm" / "prompts") == load_templates(TaskConfig().prompts_dir)
    folder = Recommender.from_pretrained(tiny_run, use_lm=False).save_pretrained(tmp_path / "model")
    (folder / "lm" / "prompts" / "explain.txt").write_text("Say why.\nA: {query_title}\nB: {target_title}\nWhy:\n")
    served = Recommender.from_pretrained(folder)
    assert served.item_lm.tasks.render("explain", "D0001", "D0363").startswith("Say why.\nA: ")
