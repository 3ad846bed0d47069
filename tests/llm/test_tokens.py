"""Semantic-ID tokens: special tokens, text-initialised rows, only the new rows trained, small adapters."""
from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from eccr.llm.config import LoraSftConfig
from eccr.llm.models import load_causal_lm
from eccr.llm.sft import load_finetuned, lora_config, save_adapter
from eccr.llm.tokens import (
    add_semantic_tokens,
    semantic_tokens_from_items,
    token_texts_from_items,
    trainable_token_indices,
)


def test_codes_are_single_special_tokens(tiny_with_ids):
    _, tok, ids = tiny_with_ids
    encoded = tok("<a_1><b_2><c_3>", add_special_tokens=False)["input_ids"]
    assert encoded == [tok.convert_tokens_to_ids(t) for t in ("<a_1>", "<b_2>", "<c_3>")]
    assert len(encoded) == 3 and all(i in ids for i in encoded)
    assert tok.decode(encoded) == "<a_1><b_2><c_3>"


def test_token_order_and_validation(toy):
    assert semantic_tokens_from_items([["<a_10>", "<b_1>"], ["<a_2>", "<b_1>"]]) == ["<a_2>", "<a_10>", "<b_1>"]
    with pytest.raises(ValueError, match="whitespace"):
        semantic_tokens_from_items([["<a 1>"]])
    with pytest.raises(ValueError, match="same length"):
        token_texts_from_items(toy.items, toy.titles[:2])


def test_new_rows_start_from_title_embeddings(tiny):
    model, tok = tiny
    before = model.get_input_embeddings().weight.detach().clone()
    texts = {"<a_1>": ["camera battery", "camera bag"]}
    ids = add_semantic_tokens(model, tok, ["<a_1>", "<z_9>"], texts)
    emb = model.get_input_embeddings().weight.detach()
    title_ids = [i for t in texts["<a_1>"] for i in tok(t, add_special_tokens=False)["input_ids"]]
    assert torch.allclose(emb[ids[0]], before[title_ids].mean(0), atol=1e-6)
    assert torch.allclose(emb[ids[1]], before.mean(0), atol=1e-6)  # no text: mean of the old rows
    assert torch.equal(emb[: before.shape[0]], before)                 # old rows untouched
    assert model.get_output_embeddings().weight.shape[0] == len(tok)   # tied head grew too


def _train_a_few_steps(model, tok, ids):
    from peft import get_peft_model

    peft_model = get_peft_model(model, lora_config(LoraSftConfig(lora_r=4, lora_alpha=8), model, ids))
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    x = torch.tensor([tok("a camera <a_1><b_2><c_3>", add_special_tokens=False)["input_ids"]])
    for _ in range(3):
        peft_model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad()
    return peft_model.eval(), trainable, x


@pytest.mark.parametrize("tied", [True, False])
def test_only_new_rows_train_and_adapter_is_small_and_reloads(tmp_path, tied, toy):
    from eccr.llm.models import build_tiny_model

    folder = build_tiny_model(tmp_path / "base", tie_embeddings=tied)
    model, tok = load_causal_lm(str(folder))
    old_rows = model.get_input_embeddings().weight.shape[0]
    ids = add_semantic_tokens(model, tok, semantic_tokens_from_items(toy.items),
                               token_texts_from_items(toy.items, toy.titles))
    tti = trainable_token_indices(model, ids)
    assert isinstance(tti, list) == tied
    before = model.get_input_embeddings().weight.detach().clone()
    peft_model, trainable, x = _train_a_few_steps(model, tok, ids)
    assert all("lora_" in n or "trainable_tokens_delta" in n for n in trainable)
    emb = peft_model.get_input_embeddings()
    assert torch.equal(emb.token_adapter.base_layer.weight[:old_rows], before[:old_rows])  # base frozen
    delta = emb.token_adapter.trainable_tokens_delta["default"]
    assert delta.shape == (len(ids), 64) and not torch.allclose(delta, before[ids])       # new rows moved
    with torch.no_grad():
        reference = peft_model(input_ids=x).logits

    out = save_adapter(peft_model, tok, tmp_path / "adapter", base_spec=str(folder), new_token_ids=ids)
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118
    assert not any(k.endswith(("embed_tokens.weight", "lm_head.weight")) for k in shapes)
    assert all(s[0] == len(ids) for k, s in shapes.items() if "trainable_tokens" in k)
    full_matrix_bytes = len(tok) * 64 * 4
    assert (out / "adapter_model.safetensors").stat().st_size < full_matrix_bytes

    reloaded, tok2 = load_finetuned(out)
    assert tok2("<a_1><b_2><c_3>", add_special_tokens=False)["input_ids"] == x[0, -3:].tolist()
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=x).logits, reference)
