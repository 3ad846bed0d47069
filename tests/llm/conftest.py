"""Fixtures for the LM layer: a tiny Llama built in code and one short fine-tuning run shared by the tests."""
from __future__ import annotations

import pytest

from eccr.llm.config import LoraSftConfig
from eccr.llm.models import build_tiny_model, load_causal_lm
from eccr.llm.tokens import add_semantic_tokens, semantic_tokens_from_items, token_texts_from_items

ITEMS = [["<a_1>", "<b_2>", "<c_3>"], ["<a_1>", "<b_3>", "<c_10>"], ["<a_2>", "<b_2>", "<c_3>"], ["<a_2>", "<b_5>"]]
TITLES = ["camera battery pack", "camera bag", "tent stove", "sleeping bag"]
CAMERA_PROMPT = "Recommend a complement for a camera"
TRAINED_ITEM = ITEMS[1]  # the item the fine-tuning run teaches for CAMERA_PROMPT (untrained, it scores lowest)


@pytest.fixture(scope="session")
def toy():
    """The toy catalogue of these tests (module constants are not importable under --import-mode=importlib)."""
    from types import SimpleNamespace

    return SimpleNamespace(items=ITEMS, titles=TITLES, camera_prompt=CAMERA_PROMPT, trained_item=TRAINED_ITEM,
                           rows=sft_rows)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def tiny(tiny_folder):
    """(model, tokenizer) freshly loaded, without semantic tokens."""
    return load_causal_lm(str(tiny_folder))


@pytest.fixture
def tiny_with_ids(tiny):
    model, tok = tiny
    ids = add_semantic_tokens(model, tok, semantic_tokens_from_items(ITEMS), token_texts_from_items(ITEMS, TITLES))
    return model, tok, ids


def sft_rows(n: int = 4) -> list[dict]:
    """n copies of three recommendation examples (camera -> TRAINED_ITEM) and one explanation example."""
    rows = [{"prompt": CAMERA_PROMPT, "completion": "".join(TRAINED_ITEM), "task": "recommend"}] * 3 + [
        {"prompt": "Explain why a battery goes with a camera", "completion": "a camera needs power", "task": "explain"},
    ]
    return rows * n


@pytest.fixture(scope="session")
def trained(tiny_folder, tmp_path_factory):
    """One short LoRA + token-row run on the tiny model; returns (model, tokenizer, result, folder)."""
    from datasets import Dataset

    from eccr.llm.sft import train_sft

    model, tok = load_causal_lm(str(tiny_folder))
    ids = add_semantic_tokens(model, tok, semantic_tokens_from_items(ITEMS), token_texts_from_items(ITEMS, TITLES))
    out = tmp_path_factory.mktemp("sft")
    config = LoraSftConfig(output_dir=str(out), max_steps=12, save_steps=100, per_device_batch_size=4, lora_r=4,
                           lora_alpha=8, lora_dropout=0.0, learning_rate=2e-2, logging_steps=100, warmup_ratio=0.0,
                           lr_scheduler="constant", max_grad_norm=0.0)
    result = train_sft(model, tok, Dataset.from_list(sft_rows()), config, new_token_ids=ids,
                       base_spec=str(tiny_folder))
    model.eval()
    return model, tok, result, tiny_folder
