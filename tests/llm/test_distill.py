"""`eccr distill`: teacher-written explanation targets (local tiny LM and a fake OpenAI-compatible server on
127.0.0.1), grounding flags, resume, and TaskBuilder picking up the grounded sentences."""
from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
from collections import Counter
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pandas as pd
import pytest

from eccr.data.schema import Behaviour, Bundles, Catalog, DataError, Dataset
from eccr.jobs.distill import distill_dataset
from eccr.llm.config import TaskConfig
from eccr.llm.tasks import TaskBuilder, read_distilled, select_pairs, with_short_names
from eccr.llm.teacher import (
    API_KEY_ENV,
    DistillConfig,
    OpenAITeacher,
    TeacherError,
    check_teacher_spec,
    clean_sentence,
    redact_spec,
)

CAMERA = "Canon EOS 60D Digital SLR Camera Body"
BATTERY = "Wasabi Battery for Canon LP-E6 and EOS 60D"
CARD = "SanDisk Extreme 64GB SDXC Card"
INTENT = "Canon shooter spares"

needs_openai = pytest.mark.skipif(importlib.util.find_spec("openai") is None,
                                  reason="the endpoint teacher needs the openai client: pip install 'eccr[teacher]'")
GOOD = "The Wasabi Battery fits the Canon EOS 60D camera."            # names both, nothing invented
INVENTED = "The Wasabi Battery also fits the Nikon Z9 with 128GB."  # Z9 and 128GB appear in neither title


def _dataset() -> Dataset:
    items = [("c1", CAMERA, ["Camera", "DSLR"]), ("b1", BATTERY, ["Camera", "Batteries"]),
             ("s1", CARD, ["Camera", "Memory"]), ("h1", "HDMI Cable 6ft", ["TV", "Cables"])]
    cat = Catalog(pd.DataFrame([{"item_id": i, "title": t, "category": c, "brand": "", "text": ""}
                                for i, t, c in items]))
    ev = pd.DataFrame({"user_id": ["u1"] * 4, "session_id": ["s"] * 4, "item_id": ["c1", "b1", "s1", "h1"],
                       "timestamp": [100] * 4})
    # two bundles repeat the pair c1-b1: it must be explained once, with the first bundle's intent
    bundles = pd.DataFrame({"bundle_id": ["x", "x", "x", "y", "y"], "session_id": ["s"] * 5,
                            "item_id": ["c1", "b1", "s1", "c1", "b1"],
                            "intent": [INTENT] * 3 + ["second intent"] * 2, "timestamp": [100] * 5})
    return Dataset("tiny", cat, Behaviour(ev), Bundles(bundles))


class ScriptedTeacher:
    """Answers GOOD for c1->b1 and INVENTED otherwise; can crash after `crash_after` calls (a killed job)."""

    name = "scripted"

    def __init__(self, crash_after: int | None = None):
        self.calls, self.asked, self.crash_after = 0, [], crash_after

    def complete(self, conversations):
        if self.crash_after is not None and self.calls >= self.crash_after:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        self.asked.extend(c[-1]["content"].split("Now this pair")[1] for c in conversations)
        return [GOOD if f"A: {CAMERA}" in a and f"B: {BATTERY}" in a else INVENTED for a in self.asked[-len(conversations):]]


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------------------------------------- pairs, prompts
def test_select_pairs_deduplicates_keeps_first_intent_and_grows_as_a_prefix():
    ds = _dataset()
    every = select_pairs(ds, None, seed=0)
    assert len(every) == 6 and not every.duplicated(["source", "target"]).any()
    assert every.set_index(["source", "target"]).loc[("c1", "b1"), "intent"] == INTENT
    small, large = select_pairs(ds, 3, seed=1), select_pairs(ds, 5, seed=1)
    assert small.equals(large.head(3))          # more pairs extends the sample, so resuming with larger N works
    assert small.equals(select_pairs(ds, 3, seed=1))
    assert set(select_pairs(ds, None, 0, allowed_items={"c1", "b1"})["source"]) == {"c1", "b1"}
    with pytest.raises(ValueError, match="pairs"):
        select_pairs(ds, 0, seed=0)


def test_prompt_holds_titles_evidence_intent_and_shots_but_not_the_pair_itself(tmp_path):
    teacher = ScriptedTeacher()
    distill_dataset(_dataset(), teacher, tmp_path / "o.jsonl", DistillConfig(shots=2, progress=False))
    assert len(teacher.asked) == 6
    # the pair to explain, with its evidence (battery "for ... 60D" fits the camera) and the crowd intent
    battery_for_camera = [a for a in teacher.asked if f"A: {CAMERA}" in a and f"B: {BATTERY}" in a]
    assert len(battery_for_camera) == 1
    assert "fits 60D" in battery_for_camera[0] and INTENT in battery_for_camera[0]


def test_shots_are_grounded_template_examples(tmp_path):
    seen = []

    class Recorder(ScriptedTeacher):
        def complete(self, conversations):
            seen.extend(conversations)
            return super().complete(conversations)

    distill_dataset(_dataset(), Recorder(), tmp_path / "o.jsonl", DistillConfig(shots=2, progress=False))
    system, user = seen[0]
    assert system["role"] == "system" and "ONE short sentence" in system["content"]
    shots = user["content"].split("Now this pair")[0]
    assert shots.count("Example ") == 2 and shots.count("Explanation: The ") == 2  # template style: "The B ... goes with"
    for conversation in seen:  # a pair never appears as its own example
        examples, query = conversation[1]["content"].split("Now this pair")
        a_line = query.strip().splitlines()[0]
        b_line = query.strip().splitlines()[1]
        assert f"{a_line}\n{b_line}" not in examples


def test_by_default_no_shots_and_titles_cut_as_the_student_reads_them(tmp_path):
    seen = []

    class Recorder(ScriptedTeacher):
        def complete(self, conversations):
            seen.extend(c[-1]["content"] for c in conversations)
            return super().complete(conversations)

    teacher = Recorder()
    distill_dataset(_dataset(), teacher, tmp_path / "o.jsonl", DistillConfig(max_title_words=3, progress=False))
    assert seen and all("Example " not in turn for turn in seen)  # the whole user turn: no shots
    assert any("A: Canon EOS 60D [" in a for a in teacher.asked)  # 3 words, then the leaf category
    assert not any("Digital SLR" in a for a in teacher.asked)


def test_clean_sentence_and_redaction():
    assert clean_sentence('Explanation: "It fits."\nmore junk') == "It fits."
    assert clean_sentence("  \n  ") == ""
    # a small teacher that keeps writing the prompt's fields: the echo is not the explanation
    assert clean_sentence("A: Canon EOS 60D\nB: Wasabi Battery\nExplanation: It fits.") == "It fits."
    assert clean_sentence("A: Canon EOS 60D\nMatched evidence: none") == ""
    assert clean_sentence("It powers the camera.\nA: Canon") == "It powers the camera."
    assert redact_spec("openai:http://me:sk-1@127.0.0.1:8000/v1?key=sk-2#m") == "openai:http://127.0.0.1:8000/v1#m"
    assert redact_spec("/models/qwen") == "/models/qwen"


def test_bad_teacher_specs_are_clear(tmp_path):
    with pytest.raises(ValueError, match="#MODEL"):
        check_teacher_spec("openai:http://127.0.0.1:1/v1")
    with pytest.raises(ValueError, match="http"):
        check_teacher_spec("openai:ftp://127.0.0.1:1/v1#m")
    with pytest.raises(ValueError, match="config.json"):
        check_teacher_spec(str(tmp_path / "no-model-here"))
    with pytest.raises(ValueError, match=r"\.gguf"):
        check_teacher_spec(f"llamacpp:{tmp_path / 'missing.gguf'}")


def test_a_llamacpp_teacher_without_llama_cpp_names_the_install(tmp_path, monkeypatch):
    import eccr.llm.llamacpp as backend

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(backend, "llamacpp_available", lambda: False)
    with pytest.raises(ValueError, match="make llamacpp"):
        check_teacher_spec(f"llamacpp:{gguf}")


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                    reason="llama-cpp-python is not installed (optional extra `llamacpp`)")
def test_llamacpp_teacher_plumbing(tiny_folder, tmp_path):
    from eccr.llm.llamacpp import export_gguf
    from eccr.llm.models import load_causal_lm

    model, tok = load_causal_lm(str(tiny_folder))
    gguf = export_gguf(model, tok, tmp_path / "tiny.f32.gguf", "f32")
    out, cfg = tmp_path / "o.jsonl", DistillConfig(pairs=3, max_new_tokens=8, progress=False)
    report = distill_dataset(_dataset(), f"llamacpp:{gguf}", out, cfg)
    rows = _lines(out)
    assert report.written == 3 == len(rows)
    assert all(r["teacher"] == f"llamacpp:{gguf}" and "\n" not in r["explanation"] for r in rows)
    again = tmp_path / "again.jsonl"
    distill_dataset(_dataset(), f"llamacpp:{gguf}", again, cfg)
    assert _lines(again) == rows  # greedy: the same answers


# --------------------------------------------------------------------------------------- flags and resume
def test_ungrounded_output_is_kept_but_flagged(tmp_path):
    out = tmp_path / "o.jsonl"
    report = distill_dataset(_dataset(), ScriptedTeacher(), out, DistillConfig(progress=False))
    rows = {(r["source"], r["target"]): r for r in _lines(out)}
    assert len(rows) == 6 == report.written
    assert rows[("c1", "b1")] == {"source": "c1", "target": "b1", "explanation": GOOD, "teacher": "scripted",
                                  "grounded": True}
    assert all(r["explanation"] == INVENTED and r["grounded"] is False
               for k, r in rows.items() if k != ("c1", "b1"))
    assert report.grounded == 1


@pytest.mark.parametrize("sentence, grounded", [
    ("The Wasabi Battery for the Canon EOS 60D", False),                    # cut off at the token budget
    ("The Wasabi Battery (cables) fits the Canon EOS 60D camera.", False),  # not the battery's type
    ("The Wasabi Battery (batteries) fits the Canon EOS 60D camera.", True),
    (GOOD, True),
])
def test_cut_off_and_mislabelled_teacher_sentences_are_flagged(tmp_path, sentence, grounded):
    """What Gemma-3-270M wrote as a teacher: sentences cut off at its token budget ("The Sony E 18-"), and types
    in parentheses; the teacher's check reads the pair's categories."""

    class Sloppy(ScriptedTeacher):
        def complete(self, conversations):
            return [sentence if answer == GOOD else answer for answer in super().complete(conversations)]

    out = tmp_path / "o.jsonl"
    distill_dataset(_dataset(), Sloppy(), out, DistillConfig(progress=False))
    assert {(r["source"], r["target"]): r["grounded"] for r in _lines(out)}[("c1", "b1")] is grounded


@needs_openai
def test_resume_skips_done_pairs_and_drops_a_torn_line(tmp_path):
    out = tmp_path / "o.jsonl"
    cfg = DistillConfig(batch_size=2, progress=False)
    with pytest.raises(KeyboardInterrupt):
        distill_dataset(_dataset(), ScriptedTeacher(crash_after=2), out, cfg)
    assert len(_lines(out)) == 4                      # two batches were flushed before the kill
    with out.open("a") as fh:
        fh.write('{"source": "s1", "targ')            # killed mid-write
    again = ScriptedTeacher()
    report = distill_dataset(_dataset(), again, out, cfg)
    assert report.skipped_done == 4 and report.written == 2 and len(again.asked) == 2
    keys = [(r["source"], r["target"]) for r in _lines(out)]
    assert len(keys) == len(set(keys)) == 6
    # nothing left to do: the teacher is not even built (a spec that would need loading a model is fine)
    assert distill_dataset(_dataset(), "openai:http://127.0.0.1:9/v1#never", out, cfg).written == 0


def test_malformed_middle_line_is_an_error(tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_text('{"source": "c1", "target": "b1"}\nnot json\n{"source": "b1", "target": "c1"}\n')
    with pytest.raises(DataError, match="o.jsonl:2"):
        distill_dataset(_dataset(), ScriptedTeacher(), out, DistillConfig(progress=False))


def test_local_tiny_model_teacher_plumbing(tiny_folder, tmp_path):
    from eccr.coherence import AttributeExtractor, grounding, pair_flags

    ds, out = _dataset(), tmp_path / "o.jsonl"
    cfg = DistillConfig(pairs=4, shots=1, batch_size=4, max_new_tokens=12, progress=False)
    report = distill_dataset(ds, str(tiny_folder), out, cfg)
    rows = _lines(out)
    assert report.written == 4 and len(rows) == 4
    items = {r.item_id: r._asdict() for r in ds.catalog.items.itertuples(index=False)}
    extractor = AttributeExtractor(ds.catalog)
    intents = select_pairs(ds, None, 0).set_index(["source", "target"])["intent"]
    for r in rows:
        assert r["teacher"] == str(tiny_folder) and isinstance(r["explanation"], str)
        assert "\n" not in r["explanation"]
        a, b = items[r["source"]], items[r["target"]]
        expected = bool(r["explanation"]) and grounding(
            r["explanation"], a["title"], b["title"], extractor, intents[(r["source"], r["target"])],
            flags=pair_flags(a, b, extractor, complementary=True),
            categories=(" ".join(a["category"]), " ".join(b["category"]))).grounded
        assert r["grounded"] is expected
    assert distill_dataset(ds, str(tiny_folder), out, cfg).skipped_done == 4


# ------------------------------------------------------------------------------ OpenAI-compatible endpoint
class FakeServer:
    """An OpenAI-compatible /v1/chat/completions on 127.0.0.1 returning a canned sentence; the first
    `failures` requests get `fail_status`."""

    def __init__(self, failures: int = 0, fail_status: int = 500, answer: str = GOOD):
        self.requests: list[dict] = []
        self.failures, self.fail_status, self.answer = failures, fail_status, answer
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if len(outer.requests) <= outer.failures:
                    self.send_response(outer.fail_status)
                    self.end_headers()
                    self.wfile.write(b'{"error": "busy"}')
                    return
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": outer.answer}}]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    servers = []

    def make(**kwargs) -> FakeServer:
        servers.append(FakeServer(**kwargs))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@needs_openai
def test_endpoint_request_body_key_header_and_no_key_in_output(server, tmp_path, monkeypatch):
    secret = "sk-test-secret-4711"
    monkeypatch.setenv(API_KEY_ENV, secret)
    srv = server()
    out = tmp_path / "o.jsonl"
    spec = f"openai:{srv.url}#teacher-7b"
    report = distill_dataset(_dataset(), spec, out, DistillConfig(max_new_tokens=50, progress=False))
    assert report.written == 6 and len(srv.requests) == 6
    first = srv.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == f"Bearer {secret}"
    assert first["body"]["model"] == "teacher-7b" and first["body"]["temperature"] == 0
    assert first["body"]["max_tokens"] == 50
    asked = [r["body"]["messages"] for r in srv.requests]
    queries = [m[-1]["content"].split("Now this pair")[1] for m in asked]  # requests run concurrently: any order
    battery_for_camera = [q for q in queries if f"A: {CAMERA}" in q and f"B: {BATTERY}" in q]
    assert len(battery_for_camera) == 1 and INTENT in battery_for_camera[0]
    written = out.read_text()
    assert secret not in written and all(r["teacher"] == spec for r in _lines(out))
    assert sum(r["grounded"] for r in _lines(out)) >= 1


@needs_openai
def test_endpoint_retries_a_500_then_succeeds(server):
    srv = server(failures=2)
    teacher = OpenAITeacher(srv.url, "m", DistillConfig(retries=3))
    assert teacher.complete([[{"role": "user", "content": "hi"}]]) == [GOOD]
    assert len(srv.requests) == 3


@needs_openai
def test_endpoint_gives_up_with_the_url_and_does_not_retry_client_errors(server):
    srv = server(failures=10)
    with pytest.raises(TeacherError, match=r"127\.0\.0\.1.*2 attempt.*HTTP 500"):
        OpenAITeacher(srv.url, "m", DistillConfig(retries=2)).complete_one([])
    bad = server(failures=10, fail_status=400)
    with pytest.raises(TeacherError, match="HTTP 400"):
        OpenAITeacher(bad.url, "m", DistillConfig(retries=3)).complete_one([])
    assert len(bad.requests) == 1


@needs_openai
def test_endpoint_down_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = f"openai:http://127.0.0.1:{port}/v1#m"
    with pytest.raises(TeacherError, match=f"http://127.0.0.1:{port}/v1/chat/completions failed after 2"):
        distill_dataset(_dataset(), spec, tmp_path / "o.jsonl", DistillConfig(retries=2, progress=False))


def test_a_missing_openai_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)  # `import openai` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'eccr\[teacher\]'"):
        check_teacher_spec("openai:http://127.0.0.1:9/v1#m")
    with pytest.raises(ImportError, match="eccr\\[teacher\\]"):
        OpenAITeacher("http://127.0.0.1:9/v1", "m")


@needs_openai
def test_an_answer_without_content_is_a_clear_error():
    teacher = OpenAITeacher("http://127.0.0.1:9/v1", "m")
    teacher.client = SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(
        create=lambda **kwargs: SimpleNamespace(choices=[]))))  # a mocked client: no network
    with pytest.raises(TeacherError, match=r"without choices\[0\]\.message\.content"):
        teacher.complete_one([{"role": "user", "content": "hi"}])


# ------------------------------------------------------------------------------------------ TaskBuilder hook
def test_task_builder_uses_grounded_distilled_sentences_only(tmp_path):
    ds = _dataset()
    path = tmp_path / "distilled.jsonl"
    lines = [{"source": "c1", "target": "b1", "explanation": GOOD, "grounded": True},
             {"source": "b1", "target": "c1", "explanation": "Ungrounded but flagged.", "grounded": False},
             # flagged grounded, yet invents facts (a file from another catalogue): re-checked and refused
             {"source": "c1", "target": "s1", "explanation": INVENTED, "grounded": True},
             # grounded by the bundle's intent the teacher saw ("Canon shooter spares"), which the student is not shown
             {"source": "s1", "target": "c1", "explanation": "The SanDisk Extreme card keeps a Shooter going with the "
                                                             "Canon EOS 60D.", "grounded": True}]
    path.write_text("".join(json.dumps(dict(r, teacher="t")) + "\n" for r in lines))
    assert set(read_distilled(path)) == {("c1", "b1"), ("c1", "s1"), ("s1", "c1")}
    ids = {i: f"<a_{n}><b_{n}><c_0>" for n, i in enumerate(ds.catalog.items["item_id"])}
    plain = TaskBuilder(ds, ids, TaskConfig(n_candidates=3))
    builder = TaskBuilder(ds, ids, TaskConfig(n_candidates=3, distilled_path=str(path)))
    explain = {e["prompt"]: e for e in builder.build() if e["task"] == "explain"}
    baseline = {e["prompt"]: e for e in plain.build() if e["task"] == "explain"}
    used = explain[builder.render("explain", "c1", "b1")]
    assert used["completion"] == " " + GOOD and used["source"] == "distilled"
    for a, b in (("b1", "c1"), ("c1", "s1"), ("s1", "c1")):
        prompt = builder.render("explain", a, b)
        assert explain[prompt] == baseline[prompt] and explain[prompt]["source"] == "grounded"
    assert sum(e["source"] == "distilled" for e in explain.values()) == 1
    with pytest.raises(FileNotFoundError, match="eccr distill"):
        TaskBuilder(ds, ids, TaskConfig(distilled_path=str(tmp_path / "missing.jsonl")))


def test_teacher_sentences_lose_the_leaf_tags_of_their_prompt(tmp_path):
    ds = _dataset()
    path = tmp_path / "distilled.jsonl"
    tagged = "The Wasabi Battery [Batteries] fits the Canon EOS 60D camera [ dslr ]."
    path.write_text(json.dumps({"source": "c1", "target": "b1", "explanation": tagged, "grounded": True,
                                "teacher": "t"}) + "\n")
    ids = {i: f"<a_{n}><b_{n}><c_0>" for n, i in enumerate(ds.catalog.items["item_id"])}
    builder = TaskBuilder(ds, ids, TaskConfig(n_candidates=3, distilled_path=str(path)))
    assert builder.explanation("c1", "b1") == (GOOD, "distilled")


def test_teacher_sentences_name_the_items_as_the_templates_do():
    rebel, battery = ("Canon EOS Rebel T7 24.1MP APS-C DSLR (Body Only, Canon EF-S/EF Mount)",
                      "Powerextra LP-E10 Battery (with USB Dual Charger) for Canon EOS Rebel T7, Canon EOS Rebel T6")
    teacher = "The Powerextra LP-E10 Battery keeps the canon EOS Rebel T7 24.1MP APS-C DSLR shooting all day."
    assert with_short_names(teacher, (battery, rebel)) == \
        "The Powerextra LP-E10 Battery keeps the Canon EOS Rebel T7 APS-C shooting all day."
    assert with_short_names("Not the Canon EOS Rebel T7 24.1MP-II.", (rebel,)) == "Not the Canon EOS Rebel T7 24.1MP-II."


def test_demo_runs_train_on_the_teacher_sentences_shipped_with_the_demo():
    from eccr.data.demo import TEACHER_EXPLANATIONS_PATH
    from eccr.run import RunConfig, quick, split_dataset

    config = quick(RunConfig())
    _, split = split_dataset(config)
    shipped = read_distilled(TEACHER_EXPLANATIONS_PATH)
    catalogue = set(split.train.catalog.items["item_id"])
    assert len(shipped) > 300 and {i for pair in shipped for i in pair} <= catalogue
    ids = {i: f"<a_{n % 7}><b_{n % 5}><c_{n % 3}>" for n, i in enumerate(sorted(catalogue))}
    sources = {cfg: Counter(e["source"] for e in TaskBuilder(split.train, ids, replace(config.tasks, distilled_path=cfg))
                                .build() if e["task"] == "explain") for cfg in ("auto", "")}
    assert config.tasks.distilled_path == "auto" and sources["auto"]["distilled"] > 200
    assert sources[""] == Counter(grounded=sum(sources["auto"].values()))
    other = TaskBuilder(_dataset(), {i: "<a_0>" for i in ["c1", "b1", "s1", "h1"]}, TaskConfig(tasks=("explain",)))
    assert not other.distilled  # "auto" reads nothing for data that ships no teacher sentences


# -------------------------------------------------------------------------------------------- on a real run
@pytest.mark.slow
@needs_openai
def test_distill_run_on_tiny_run(tiny_run, server, tmp_path):
    from eccr.jobs.distill import distill_run
    from eccr.run import load_run_config, split_dataset

    srv = server()
    out = tmp_path / "expl.jsonl"
    report = distill_run(tiny_run, f"openai:{srv.url}#m", out, DistillConfig(pairs=5, progress=False))
    rows = _lines(out)
    assert report.written == 5 == len(rows) and report.total == 5
    _, split = split_dataset(load_run_config(tiny_run))
    train_pairs = set(zip(*[split.train.bundles.directed_pairs()[c] for c in ("source", "target")]))
    assert {(r["source"], r["target"]) for r in rows} <= train_pairs
    assert all(r["explanation"] == GOOD for r in rows)
    assert distill_run(tiny_run, f"openai:{srv.url}#m", out, DistillConfig(pairs=5, progress=False)).written == 0
