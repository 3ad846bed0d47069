"""LoRA SFT through TRL: completion-only labels, resumable checkpoints, standard adapter layout."""
from __future__ import annotations

import json

import pytest
import torch
from datasets import Dataset

from eccr.llm.config import LoraSftConfig
from eccr.llm.models import render_prompt
from eccr.llm.sft import (
    build_trainer,
    check_sft_dataset,
    last_checkpoint,
    load_finetuned,
    sft_arguments,
    train_sft,
    truncation_report,
)


def test_dataset_validation_names_the_problem():
    with pytest.raises(ValueError, match="completion"):
        check_sft_dataset(Dataset.from_list([{"prompt": "p", "task": "t"}]))
    with pytest.raises(ValueError, match="example 1"):
        check_sft_dataset(Dataset.from_list([{"prompt": "p", "completion": "c"}, {"prompt": "p", "completion": " "}]))
    counts = check_sft_dataset(Dataset.from_list([{"prompt": "p", "completion": "c", "task": "explain"}] * 2))
    assert counts == {"explain": 2}


def test_every_trl_sft_config_argument_is_reachable(tmp_path):
    from trl import SFTConfig

    config = LoraSftConfig(output_dir=str(tmp_path), per_device_batch_size=3, lr_scheduler="cosine", trl_args=[
        "gradient_checkpointing=false", "optim=adamw_torch_fused", "adam_beta2=0.95", "packing=true"])
    args = SFTConfig(**sft_arguments(config, on_cpu=True))
    assert args.per_device_train_batch_size == 3 and args.lr_scheduler_type == "cosine"  # eccr names, TRL names
    assert args.max_length == 256 and args.learning_rate == 2e-4 and args.completion_only_loss is True
    assert args.gradient_checkpointing is False and args.optim == "adamw_torch_fused" and args.adam_beta2 == 0.95
    assert args.packing is True  # eccr's choices give way to trl_args


@pytest.mark.parametrize("entry, message", [
    ("optimizer=sgd", "did you mean optim"),
    ("max_steps=5", "--sft.max_steps"),
    ("gradient_accumulation_steps=2", "--sft.grad_accumulation"),
    ("optim=nope", "invalid choice"),
    ("gradient_checkpointing", "NAME=VALUE"),
])
def test_trl_args_errors_name_the_fix(entry, message):
    with pytest.raises(ValueError, match=message):
        sft_arguments(LoraSftConfig(trl_args=[entry]))


def test_loss_is_on_the_completion_only(tiny_with_ids, tmp_path, toy):
    model, tok, ids = tiny_with_ids
    trainer = build_trainer(model, tok, Dataset.from_list(toy.rows(1)), LoraSftConfig(output_dir=str(tmp_path)), ids)
    example = trainer.train_dataset[0]
    prompt_len = len(tok(render_prompt(tok, toy.camera_prompt), add_special_tokens=False)["input_ids"])
    labels, input_ids = example["labels"], example["input_ids"]
    assert all(x == -100 for x in labels[:prompt_len])
    completion = tok("".join(toy.trained_item), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert labels[prompt_len:] == input_ids[prompt_len:] == completion
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    assert int((batch["labels"] != -100).sum()) < int(batch["attention_mask"].sum()) / 3


def test_truncation_report_counts_the_answer_tokens_trl_cuts(tiny_with_ids, tmp_path, toy):
    model, tok, ids = tiny_with_ids
    rows = [{"prompt": toy.camera_prompt, "completion": "a camera needs power and a bag", "task": "explain"}]
    prompt_len = len(tok(render_prompt(tok, toy.camera_prompt), add_special_tokens=False)["input_ids"])
    answer_len = len(tok(rows[0]["completion"], add_special_tokens=False)["input_ids"]) + 1
    assert truncation_report(rows, tok, prompt_len + answer_len)["examples_cut"] == 0
    report = truncation_report(rows, tok, prompt_len + 2)
    assert report["examples_cut"] == 1 and report["completion_tokens_cut"] == round((answer_len - 2) / answer_len, 4)
    trainer = build_trainer(model, tok, Dataset.from_list(rows),
                            LoraSftConfig(output_dir=str(tmp_path), max_length=prompt_len + 2), ids)
    assert sum(x != -100 for x in trainer.train_dataset[0]["labels"]) == 2  # what TRL keeps of the answer


def test_trained_adapter_has_peft_layout_and_reloads_identically(trained, toy):
    model, tok, result, base_folder = trained
    assert result.global_step == 12 and result.examples_per_task == {"recommend": 12, "explain": 4}
    files = {p.name for p in result.adapter_dir.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "eccr_llm.json", "tokenizer.json"} <= files
    assert json.loads((result.adapter_dir / "eccr_llm.json").read_text())["base_spec"] == str(base_folder)
    reloaded, _tok2 = load_finetuned(result.adapter_dir)
    x = torch.tensor([tok(render_prompt(tok, toy.camera_prompt) + "<a_1>", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=x).logits, model(input_ids=x).logits, atol=1e-6)


def test_training_resumes_from_the_last_checkpoint(tiny_with_ids, tmp_path, toy):
    from transformers import TrainerCallback

    class CountSteps(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            CountSteps.steps += 1

    model, tok, ids = tiny_with_ids
    data = Dataset.from_list(toy.rows(2))
    config = LoraSftConfig(output_dir=str(tmp_path), max_steps=2, save_steps=2, per_device_batch_size=2, lora_r=2,
                           logging_steps=100)
    first = train_sft(model, tok, data, config, new_token_ids=ids)
    assert first.global_step == 2 and last_checkpoint(tmp_path).endswith("checkpoint-2")
    ckpt = tmp_path / "checkpoint-2" / "adapter_model.safetensors"
    assert ckpt.stat().st_size < len(tok) * 64 * 4  # checkpoints hold no resized embedding matrix either

    config.max_steps = 4
    second = train_sft(model, tok, data, config, new_token_ids=ids, callbacks=[CountSteps()])
    assert second.global_step == 4 and CountSteps.steps == 2  # two new steps, counting on from 2
    assert last_checkpoint(tmp_path).endswith("checkpoint-4")
