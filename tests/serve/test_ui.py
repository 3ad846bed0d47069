"""The demo's page logic (eccr.serve.ui) without a browser: rendering, escaping, errors, wiring, and the app served
over HTTP in-process. The in-test FakeRecommender has exactly the Recommender API the page uses."""
from __future__ import annotations

import importlib.util
import json
import logging
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import ClassVar

import gradio as gr
import pytest

from eccr.recommendation import Recommendation, RecommendedItem
from eccr.serve.ui import (
    DemoActions,
    UIConfig,
    build_demo,
    render_attention,
    render_comparison,
    render_flags,
    render_item,
)

REPO = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fake = _load("eccr_fake_recommender", Path(__file__).with_name("fake_recommender.py"))


@pytest.fixture
def actions():
    return DemoActions(fake.FakeRecommender())


def _nasty_item(**overrides) -> RecommendedItem:
    fields = {"item_id": 'X"1', "title": "<script>alert(1)</script> Bag & Strap", "category": ["A<b>", "C"],
              "semantic_id": "<a_1><b_2>", "score": 0.5, "ranker_score": 0.25, "lm_score": None,
              "flags": {"complementary": True, "relevant": False, "compatible": True, "substitute": False,
                        "evidence": ["fits <EOS> & more"]},
              "explanation": "Goes with <i>it</i>.", "attention": {"Q": 0.75, "B<1>": 0.25}, "explanation_source": "lm"}
    fields.update(overrides)
    return RecommendedItem(**fields)


def _recommendation(items, system="eccr") -> Recommendation:
    return Recommendation(query={"item_id": "Q", "title": "Query <cam>", "category": ["Cams"]},
                          basket=[{"item_id": "B<1>", "title": "Basket & co"}], items=items, system=system)


# ------------------------------------------------------------------------------------------------ rendering


def test_everything_from_the_catalogue_or_model_is_escaped():
    page = render_comparison([_recommendation([_nasty_item()])])
    assert "<script>" not in page and "<i>" not in page and "<EOS>" not in page and "<a_1>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Bag &amp; Strap" in page
    assert "&lt;a_1&gt;&lt;b_2&gt;" in page                        # semantic ID shown literally
    assert "fits &lt;EOS&gt; &amp; more" in page                    # evidence
    assert 'data-item-id="X&quot;1"' in page                        # attribute quoting
    assert "Goes with &lt;i&gt;it&lt;/i&gt;." in page
    assert "Query &lt;cam&gt;" in page and "basket: Basket &amp; co" in page
    assert "A&lt;b&gt; &gt; C" in page                              # category path


def test_flags_render_as_badges_with_evidence():
    html = render_flags({"complementary": True, "relevant": False, "compatible": True, "substitute": False,
                         "evidence": ["fits Canon EOS"]})
    assert 'data-flag="complementary" data-on="true"' in html
    assert 'data-flag="relevant" data-on="false"' in html
    assert "substitute" not in html                                  # only shown when it fires
    assert "evidence: fits Canon EOS" in html
    assert 'data-flag="substitute" data-on="true"' in render_flags({"substitute": True})
    assert "does not fit" in render_flags({"incompatible": True}) and "does not fit" not in html


def test_the_complement_badge_is_the_coherence_judges_verdict():
    judged = render_item(_nasty_item(coherent_probability=0.91, uncertainty=0.12, uncertainty_level=0, coherent=True),
                         {}, 1)
    assert 'data-flag="coherent-complement" data-on="true" data-probability="0.9100"' in judged
    assert "coherent complement · P 0.91, low uncertainty" in judged
    assert 'data-flag="complementary"' not in judged  # the judge's badge replaces the ranker's
    unsure = render_item(_nasty_item(coherent_probability=0.2, uncertainty=0.5, uncertainty_level=2, coherent=False),
                         {}, 1)
    assert 'data-on="false"' in unsure and "unsure complement · P 0.20, high uncertainty" in unsure
    old_run = render_item(_nasty_item(), {}, 1)  # a run without the judge: the ranker's badge, and a note saying so
    assert "no coherence judge: complementary = ranker sigmoid" in old_run
    assert 'data-flag="complementary" data-on="true"' in old_run


def test_attention_bars_use_basket_titles_sorted_by_weight():
    html = render_attention({"a": 0.2, "b": 0.8}, {"a": "Alpha", "b": "Beta"})
    assert html.index("Beta") < html.index("Alpha")
    assert "width:100%" in html and "width:25%" in html
    assert "0.80" in html and "0.20" in html
    assert render_attention({}, {}) == ""
    assert "unknown-id" in render_attention({"unknown-id": 1.0}, {})   # falls back to the id


def test_item_card_shows_scores_ids_and_explanation_source():
    html = render_comparison([_recommendation([_nasty_item(lm_score=-2.5, score=0.123456)])])
    assert "score 0.123 · ranker 0.250 · LM -2.50" in html
    assert 'data-source="lm">written by the LM</span>' in html
    assert "Basket &amp; co" in html.split('class="eccr-why"')[1]    # attention keyed by basket id shows its title
    no_expl = render_comparison([_recommendation([_nasty_item(explanation="")])])
    assert "eccr-explanation" not in no_expl and "data-source" not in no_expl
    template = render_comparison([_recommendation([_nasty_item(explanation_source="template")])])
    assert 'data-source="template">template from titles and flags</span>' in template


def test_empty_list_and_side_by_side_order():
    html = render_comparison([_recommendation([], "eccr"), _recommendation([_nasty_item()], "co-occurrence")])
    assert "no recommendations from this system" in html
    assert html.index('data-system="eccr"') < html.index('data-system="co-occurrence"')
    assert "eccr (ours)" in html and "co-occurrence (baseline)" in html
    assert "repeat(2," in html


# ------------------------------------------------------------------------------------------------ actions


def test_recommend_html_runs_each_chosen_system(actions):
    html = actions.recommend_html("C1", ["A2", "C1"], 3, ["eccr", "co-occurrence"], True)
    calls = actions.recommender.calls
    assert [c["system"] for c in calls] == ["eccr", "co-occurrence"]
    assert all(c["basket"] == ["A2"] and c["k"] == 3 and c["explain"] for c in calls)  # query dropped from basket
    assert html.count('class="eccr-card"') == 6
    assert html.index('data-item-id="A1"') < html.index('data-item-id="A3"')   # ours: A1, A3, A5
    assert "LP-E10 Battery for Canon EOS Rebel T7 goes with Canon EOS Rebel T7 DSLR." in html


def test_with_an_lm_the_page_shows_templates_first_then_the_lms_sentences():
    lm = DemoActions(fake.FakeRecommender(lm=True))
    steps = list(lm.recommend_stream("C1", [], 3, ["eccr", "co-occurrence"], True))
    assert len(steps) == 2
    assert [c.get("explain") for c in lm.recommender.calls[:2]] == ["template", "template"]
    assert lm.recommender.calls[2] == {"explain_with_lm": 2}                 # one LM call for both systems
    assert 'eccr-message pending' in steps[0] and "LP-E10 Battery for Canon EOS Rebel T7 goes with" in steps[0]
    assert steps[1].count('class="eccr-card"') == 6 and "The LM says" in steps[1] and "follow" not in steps[1]
    assert lm.recommend_html("C1", [], 3, ["eccr"], True) == list(lm.recommend_stream("C1", [], 3, ["eccr"]))[-1]
    off = DemoActions(fake.FakeRecommender(lm=True))
    assert len(list(off.recommend_stream("C1", [], 3, ["eccr"], False))) == 1   # nothing to explain: one step
    assert off.recommender.calls == [{"item": "C1", "basket": [], "k": 3, "system": "eccr", "explain": False}]


def test_a_failing_lm_leaves_the_templates_and_says_so(caplog):
    class Broken(fake.FakeRecommender):
        def explain_with_lm(self, results):
            raise RuntimeError("decode <failed>")

    actions = DemoActions(Broken(lm=True))
    with caplog.at_level(logging.ERROR, logger="eccr.serve.ui"):
        steps = list(actions.recommend_stream("C1", [], 2, ["eccr"], True))
    assert "RuntimeError: decode &lt;failed&gt;" in steps[-1] and "goes with" in steps[-1]
    assert caplog.records and caplog.records[0].exc_info is not None


def test_recommend_html_by_title_clamps_k_and_defaults_system(actions):
    html = actions.recommend_html("Nikon D3500 DSLR", None, 99, [], False)
    call = actions.recommender.calls[-1]
    assert call == {"item": "Nikon D3500 DSLR", "basket": [], "k": 20, "system": "eccr", "explain": False}
    assert "eccr-explanation" not in html
    actions.recommend_html("C1", [], 0, ["not-a-system", "text-cosine"])
    assert actions.recommender.calls[-1]["system"] == "text-cosine" and actions.recommender.calls[-1]["k"] == 5


def test_missing_input_and_too_many_systems_are_messages_not_calls(actions):
    assert "Pick or type a product first" in actions.recommend_html("  ", [], 5, ["eccr"])
    assert "Pick or type a product first" in actions.recommend_html(None, [], 5, ["eccr"])
    small = DemoActions(fake.FakeRecommender(), UIConfig(max_systems=1))
    assert "at most 1 systems" in small.recommend_html("C1", [], 5, ["eccr", "co-occurrence"])
    assert actions.recommender.calls == [] and small.recommender.calls == []


def test_bad_item_becomes_readable_error(actions):
    html = actions.recommend_html("<no such thing>", [], 5, ["eccr"])
    assert 'class="eccr-message error"' in html
    assert "unknown item" in html and "&lt;no such thing&gt;" in html and "<no such" not in html
    assert "Traceback" not in html


def test_unexpected_failure_is_logged_not_shown(caplog):
    broken = DemoActions(fake.FakeRecommender(fail_with=RuntimeError("CUDA <oom>")))
    with caplog.at_level(logging.ERROR, logger="eccr.serve.ui"):
        html = broken.recommend_html("C1", [], 5, ["eccr"])
    assert "Something went wrong" in html and "RuntimeError: CUDA &lt;oom&gt;" in html
    assert "Traceback" not in html and 'File "' not in html
    assert caplog.records and caplog.records[0].exc_info is not None     # full traceback goes to the log
    keyerr = DemoActions(fake.FakeRecommender(fail_with=KeyError("Z9")))
    assert "Could not recommend for C1: Z9" in keyerr.recommend_html("C1", [], 5, ["eccr"])


def test_progress_is_reported_per_system(actions):
    seen = []
    actions.recommend_html("C1", [], 2, ["eccr", "text-cosine"], progress=lambda f, desc="": seen.append((f, desc)))
    assert [f for f, _ in seen] == [0.0, 0.5, 1.0]
    assert seen[1][1].startswith("text-cosine")


def test_choices_small_and_large_catalogues(actions, caplog):
    assert actions.lists_whole_catalog and len(actions.initial_choices()) == 8
    assert ("Canon EOS Rebel T7 DSLR", "C1") in actions.initial_choices()
    large = DemoActions(fake.FakeRecommender(), UIConfig(list_all_up_to=4, search_limit=1))
    assert not large.lists_whole_catalog and large.initial_choices() == []
    assert large.search_choices("b") == []                                  # below min_search_chars
    assert large.search_choices("battery") == [("LP-E10 Battery for Canon EOS Rebel T7", "A1")]
    # what is picked stays choosable (with its title once seen) even when the new search does not find it
    assert large.search_choices("sandisk", keep=["A1", "Q7"]) == [
        ("LP-E10 Battery for Canon EOS Rebel T7", "A1"), ("Q7", "Q7"), ("SanDisk 64GB SD Card", "A2")]

    class BrokenSearch(fake.FakeRecommender):
        def search_items(self, text, limit=20):
            raise OSError("index gone")

    with caplog.at_level(logging.ERROR, logger="eccr.serve.ui"):
        assert DemoActions(BrokenSearch(), UIConfig(list_all_up_to=0)).search_choices("canon") == []
    assert "index gone" in caplog.text


def test_no_systems_is_a_clear_error():
    class NoSystems(fake.FakeRecommender):
        systems: ClassVar[list[str]] = []

    with pytest.raises(ValueError, match="no systems"):
        DemoActions(NoSystems())


# ------------------------------------------------------------------------------------------------ Blocks


def _dependency(demo: gr.Blocks, api_name: str):
    return next(fn for fn in demo.fns.values() if fn.api_name == api_name)


def test_blocks_wiring_calls_the_recommender():
    recommender = fake.FakeRecommender()
    demo = build_demo(recommender, UIConfig(concurrency_limit=3))
    assert isinstance(demo, gr.Blocks)
    assert demo._queue.default_concurrency_limit == 3
    dep = _dependency(demo, "recommend")
    *_, html = dep.fn("C1", ["A2"], 2, ["eccr"], True)     # the Blocks' own (streaming) function, default progress
    assert html.count('class="eccr-card"') == 2 and recommender.calls[-1]["basket"] == ["A2"]
    assert [block.elem_id for block in dep.inputs] == ["eccr-item", "eccr-basket", "eccr-k", "eccr-systems",
                                                       "eccr-explain"]
    assert not any(fn.api_name == "refresh_choices" for fn in demo.fns.values())   # small: no search box


def test_blocks_large_catalogue_search_box_refreshes_both_dropdowns():
    demo = build_demo(fake.FakeRecommender(), UIConfig(list_all_up_to=0))
    dep = _dependency(demo, "refresh_choices")
    item_update, basket_update = dep.fn("battery", None, ["A2"])
    assert item_update.constructor_args["choices"] == [("LP-E10 Battery for Canon EOS Rebel T7", "A1"),
                                                       ("EN-EL14a Battery for Nikon D3500", "A4")]
    assert [v for _, v in basket_update.constructor_args["choices"]] == ["A2", "A1", "A4"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_app_serves_the_page_and_answers_through_the_queue():
    recommender = fake.FakeRecommender()
    demo = build_demo(recommender)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/", timeout=10) as response:
            assert response.status == 200
            assert "eccr demo" in response.read().decode()  # the page embeds its config (title included)
        with urllib.request.urlopen(base + "/config", timeout=10) as response:
            assert "Recommend complements" in json.dumps(json.load(response))
        from gradio_client import Client

        client = Client(base + "/", verbose=False, download_files=False)
        html = client.predict("C1", [], 2, ["co-occurrence"], True, api_name="/recommend")
        assert 'data-system="co-occurrence"' in html and html.count('class="eccr-card"') == 2
        assert recommender.calls[-1]["system"] == "co-occurrence"
    finally:
        demo.close()


# ------------------------------------------------------------------------------------------------ app.py


def test_app_without_a_run_explains_how_to_make_one(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "app.py"), "--run", str(tmp_path / "nope")], cwd=tmp_path,
                          capture_output=True, check=False, text=True, timeout=60)
    assert done.returncode == 2
    assert "make demo" in done.stderr and "eccr train --data demo --out runs/demo --quick" in done.stderr
    assert "Traceback" not in done.stderr


def test_app_loads_the_run_and_launches(monkeypatch, tmp_path, capsys):
    app = _load("eccr_app", REPO / "app.py")
    loaded, launched = [], {}

    class Recommender(fake.FakeRecommender):
        @classmethod
        def from_run(cls, run_dir, **overrides):
            loaded.append((Path(run_dir), overrides))
            return cls()

    pipeline = type(sys)("eccr.pipeline")
    pipeline.Recommender = Recommender
    monkeypatch.setitem(sys.modules, "eccr.pipeline", pipeline)
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: launched.update(kw))
    assert app.main(["--run", str(tmp_path), "--port", "7999", "--host", "0.0.0.0"]) == 0
    assert loaded == [(tmp_path, {"max_per_type": 2})]  # the demo varies product types by default
    assert launched["server_port"] == 7999 and launched["server_name"] == "0.0.0.0"

    class Broken(Recommender):
        @classmethod
        def from_run(cls, run_dir, **overrides):
            raise FileNotFoundError(f"{run_dir}/config.json missing")

    pipeline.Recommender = Broken
    assert app.main(["--run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "could not load the run" in err and "config.json missing" in err and "make demo" in err
