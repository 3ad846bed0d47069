"""Serving backends for explanations: the merged LoRA model, stopping at the first line, the GGUF export (checked
by reading it back with transformers, so it runs without llama.cpp), the fallback to transformers when
llama-cpp-python is absent, and -- when it is installed -- llama.cpp's greedy text equal to transformers'."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from eccr.llm.config import GenerationConfig
from eccr.llm.generate import generate_texts, newline_token_ids
from eccr.llm.item_lm import load_serving_lm, resolve_backend
from eccr.llm.llamacpp import UnsupportedModelError, cached_gguf, export_gguf, llamacpp_available
from eccr.llm.models import load_causal_lm, render_prompt
from eccr.llm.sft import load_finetuned

PROMPTS = ["Explain why a camera needs a battery", "Explain why a camera needs a bag",
           "Explain why a camera needs a lens", "tent"]
needs_llamacpp = pytest.mark.skipif(not llamacpp_available(),
                                    reason="llama-cpp-python is not installed (optional extra `llamacpp`)")


def _logits(model, tok, text: str) -> torch.Tensor:
    x = torch.tensor([tok(render_prompt(tok, text), add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        return model(input_ids=x).logits


def test_merged_adapter_gives_the_adapter_outputs(trained, toy):
    _, tok, result, _ = trained
    adapter, _ = load_finetuned(result.adapter_dir)
    merged, _ = load_finetuned(result.adapter_dir, merge=True)
    assert not hasattr(merged, "peft_config")  # a plain transformers model
    for text in (toy.camera_prompt, toy.camera_prompt + "".join(toy.trained_item)):  # new ID rows included
        assert torch.allclose(_logits(merged, tok, text), _logits(adapter, tok, text), atol=1e-4)


def test_answers_stop_at_their_first_line(tiny):
    model, tok = tiny
    newline = tok("\n", add_special_tokens=False)["input_ids"]
    assert set(newline) <= newline_token_ids(tok)
    assert all("\n" in tok.decode([i]) for i in newline_token_ids(tok))
    full = generate_texts(model, tok, PROMPTS, GenerationConfig(max_new_tokens=24))
    first = generate_texts(model, tok, PROMPTS, GenerationConfig(max_new_tokens=24, stop_at_newline=True))
    assert first == [t.split("\n")[0].strip() for t in full]


@pytest.mark.parametrize(("weight_type", "atol"), [("f32", 1e-4), ("q8_0", 0.15)])
def test_gguf_export_reads_back_as_the_same_model(tiny_with_ids, tmp_path, weight_type, atol):
    """transformers' own GGUF reader un-permutes q/k and maps the names back: the logits must match."""
    from transformers import AutoModelForCausalLM

    model, tok, _ = tiny_with_ids
    path = export_gguf(model, tok, tmp_path / f"tiny.{weight_type}.gguf", weight_type)
    back = AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name, dtype=torch.float32)
    assert back.get_input_embeddings().weight.shape == model.get_input_embeddings().weight.shape
    for text in PROMPTS[:2]:
        assert torch.allclose(_logits(back, tok, text), _logits(model, tok, text), atol=atol)
    with pytest.raises(ValueError, match="weight_type"):
        export_gguf(model, tok, tmp_path / "x.gguf", "q4_k")


def test_only_llama_style_models_are_exported(tiny, tmp_path):
    model, tok = tiny
    model.config.model_type = "gemma3_text"
    with pytest.raises(UnsupportedModelError, match="Llama-style"):
        export_gguf(model, tok, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_the_export_cache_follows_the_adapter(trained, tmp_path):
    _, _, result, _ = trained
    first = cached_gguf(result.adapter_dir, "q8_0", tmp_path)
    assert first == cached_gguf(result.adapter_dir, "q8_0", tmp_path) and first.parent == tmp_path / "gguf"
    assert cached_gguf(result.adapter_dir, "f16", tmp_path) != first


def test_without_llamacpp_the_product_falls_back_to_transformers(trained, tmp_path, monkeypatch, caplog):
    import eccr.llm.llamacpp as backend

    _, _, result, _ = trained
    monkeypatch.setattr(backend, "llamacpp_available", lambda: False)
    assert resolve_backend("hf", "cpu") == "hf" and resolve_backend("auto", "cuda") == "hf"
    with caplog.at_level(logging.WARNING, logger="eccr.llm.item_lm"):
        assert resolve_backend("llamacpp", "cpu") == "hf"
    assert "llama-cpp-python is not installed" in caplog.text and "[llamacpp]" in caplog.text
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("onnx", "cpu")
    model, tok, generator, used = load_serving_lm(result.adapter_dir, "cpu", "auto", cache_dir=tmp_path)
    assert generator is None and used == "hf" and not (tmp_path / "gguf").exists()
    assert generate_texts(model, tok, PROMPTS[:1], GenerationConfig(max_new_tokens=4))


@needs_llamacpp
def test_llamacpp_decodes_what_transformers_decodes(tiny_folder, tmp_path):
    from eccr.llm.llamacpp import LlamaCppGenerator

    model, tok = load_causal_lm(str(tiny_folder))
    path = export_gguf(model, tok, tmp_path / "tiny.f32.gguf", "f32")
    generator = LlamaCppGenerator(path, tok, n_ctx=1024, n_seq_max=4, threads=1)
    for stop in (False, True):
        config = GenerationConfig(max_new_tokens=16, stop_at_newline=stop)
        together = generator.generate(PROMPTS, config)  # four sequences, their shared prefix evaluated once
        assert generator.last_stats["shared_prefix_tokens"] > 0
        assert together == [generator.generate([p], config)[0] for p in PROMPTS]
        assert together == generate_texts(model, tok, PROMPTS, config)
    generator.close()


@needs_llamacpp
def test_the_serving_loader_exports_once_and_uses_llamacpp(trained, tmp_path):
    _, _, result, _ = trained
    model, tok, generator, used = load_serving_lm(result.adapter_dir, "cpu", "llamacpp", "f32", cache_dir=tmp_path)
    assert used == "llamacpp" and cached_gguf(result.adapter_dir, "f32", tmp_path).is_file()
    config = GenerationConfig(max_new_tokens=12, stop_at_newline=True)
    assert generator.generate(PROMPTS, config) == generate_texts(model, tok, PROMPTS, config)
    generator.close()


def test_llamacpp_threads_follow_the_idle_cores(monkeypatch):
    import eccr.llm.llamacpp as backend

    cores = min(8, len(backend.os.sched_getaffinity(0)))
    monkeypatch.setattr(backend, "_own_load", lambda: 0.0)
    monkeypatch.setattr(backend.os, "getloadavg", lambda: (14.0, 14.0, 14.0))
    monkeypatch.setattr(backend, "_other_runnable_tasks", lambda: 14)
    assert backend.idle_threads() == 1  # a busy machine: one thread, no spinning workers waiting on each other
    monkeypatch.setattr(backend, "_other_runnable_tasks", lambda: 0)
    assert backend.idle_threads() == cores  # the load is over: nothing else runs now
    monkeypatch.setattr(backend, "_other_runnable_tasks", lambda: 1)
    monkeypatch.setattr(backend.os, "getloadavg", lambda: (0.3, 0.3, 0.3))
    assert backend.idle_threads() == cores  # a burst (a browser drawing the page) with little load behind it
    monkeypatch.setattr(backend.os, "getloadavg", lambda: (1.1, 1.1, 1.1))
    monkeypatch.setattr(backend, "_own_load", lambda: 1.0)
    assert backend.idle_threads() == cores  # the load is this process's own last answers
    monkeypatch.setattr(backend, "_own_load", lambda: 0.0)
    assert backend.idle_threads() == max(1, cores - 1)  # another job: runnable now and in the load average
    monkeypatch.setattr(backend, "_other_runnable_tasks", lambda: None)  # no /proc/loadavg: the load decides
    assert backend.idle_threads() == max(1, cores - 1)


def test_own_load_is_this_process_cpu_use_over_the_last_minute(monkeypatch):
    import eccr.llm.llamacpp as backend

    clock = iter([100.0, 110.0, 130.0])
    cpu = iter([5.0, 15.0, 15.0])
    monkeypatch.setattr(backend, "_CPU_SAMPLES", [])
    monkeypatch.setattr(backend.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(backend.os, "times", lambda: SimpleNamespace(user=next(cpu), system=0.0))
    assert backend._own_load() == 0.0                     # first sample
    assert backend._own_load() == pytest.approx(1.0)      # 10 CPU seconds in 10 s
    assert backend._own_load() == pytest.approx(10 / 30)  # then idle for 20 s


def test_other_runnable_tasks_reads_proc_loadavg_and_leaves_out_the_caller(monkeypatch, tmp_path):
    import eccr.llm.llamacpp as backend

    reads = iter(["0.50 0.40 0.30 3/120 999", "0.50 0.40 0.30 2/120 999", "0.50 0.40 0.30 4/120 999"])
    monkeypatch.setattr(backend.Path, "read_text", lambda self: next(reads))
    assert backend._other_runnable_tasks(reads=3) == 1  # the fewest of three reads (2) less the calling thread
