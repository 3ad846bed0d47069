"""Multi-task LoRA fine-tuning of the LM (ECCR, Li et al., 2024: one model tuned jointly on complement
recommendation, explanation generation and item<->token alignment tasks; LoRA from Hu et al., 2021).

Input: a `datasets.Dataset` with string columns "prompt", "completion" and "task" (any task plugs in; "task" is
only counted). Each prompt is rendered with the tokenizer's chat template (`models.render_prompt`, the same
function generate.py uses), so training and inference contexts are identical.

Why TRL's SFTTrainer: for prompt/completion data it tokenizes prompt and prompt+completion, appends eos to the
completion and builds a `completion_mask`; with `completion_only_loss=True` its collator sets labels to -100 on
every prompt token, so the loss is on the answer only (checked in tests/llm/test_sft.py). It is a
`transformers.Trainer`, so checkpoints, resuming, bf16 autocast and multi-GPU come with it. One override: the
checkpoints save the adapter with `save_embedding_layers=False` -- PEFT's "auto" would otherwise store the whole
resized embedding matrix (the vocabulary grew), while `trainable_token_indices` already stores the new rows.
The trainer's arguments are a `trl.SFTConfig` built by `sft_arguments` from LoraSftConfig: its own fields plus
`trl_args`, through which every other SFTConfig option is reachable (`--sft.trl_args NAME=VALUE ...`).

Adapter layout (standard PEFT, loads with `PeftModel.from_pretrained` on a base whose vocabulary was resized to
the saved tokenizer -- `load_finetuned` does exactly that):
    <output_dir>/adapter/adapter_config.json, adapter_model.safetensors, tokenizer files, eccr_llm.json

Multi-GPU (data parallel; each process loads the model on its own GPU; process 0 writes the files):
    eccr train --data D --out R --no-lm                 # every other stage, once
    accelerate launch --num_processes 2 -m eccr.cli train --config R --out R --stages lm   # or any script calling train_sft
QLoRA on one GPU: load with `load_causal_lm(spec, quantization="4bit")`; train_sft then runs
`prepare_model_for_kbit_training` before adding the adapter.

bf16 autocast is off by default (`LoraSftConfig.bf16`): on CPU it was slower than fp32 (README, Benchmarks;
`scripts/bench_generate.py`); turn it on for CUDA.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
import shlex
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from eccr.llm.config import LORA_FIELDS, SFT_ARGUMENT_NAMES, LoraSftConfig
from eccr.llm.models import load_causal_lm, render_prompt
from eccr.llm.tokens import trainable_token_indices

log = logging.getLogger(__name__)

ADAPTER_SUBDIR = "adapter"
ECCR_LLM_META = "eccr_llm.json"  # base model spec + semantic-token ids, next to the adapter


def launched_processes() -> int:
    """How many processes a launcher (`accelerate launch`, torchrun: WORLD_SIZE) started; 1 without one."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Process 0 of a launch (RANK), or the only process: the one that writes files all processes share."""
    return int(os.environ.get("RANK", "0")) == 0


def wait_for_processes() -> None:
    """Under a launcher, wait until every process gets here (after process 0 wrote what the others read)."""
    if launched_processes() > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()
REQUIRED_COLUMNS = ("prompt", "completion")


@dataclass
class SftResult:
    adapter_dir: Path          # the final adapter (standard PEFT layout)
    global_step: int           # optimiser steps done in total (including resumed ones)
    train_loss: float          # mean training loss reported by the trainer for this call
    seconds: float             # wall time of this call
    examples_per_task: dict    # task -> number of training examples
    truncation: dict = dataclasses.field(default_factory=dict)  # truncation_report of the data


def truncation_report(dataset, tokenizer, max_length: int | None) -> dict:
    """How much of the answers `max_length` cuts off. TRL keeps the start of each rendered prompt + completion +
    eos, so an example longer than `max_length` loses the end of its answer (and its eos: the model never learns
    where the answer stops), and one whose prompt alone fills `max_length` is dropped."""
    if not max_length:
        return {"max_length": None, "examples_cut": 0, "examples": len(dataset), "completion_tokens_cut": 0.0}
    cut = lost = total = 0
    eos = tokenizer.eos_token or ""
    for row in dataset:  # tokenized as TRL does: prompt, and prompt + completion + eos text, special tokens on
        rendered = render_prompt(tokenizer, row["prompt"])
        prompt = len(tokenizer(rendered)["input_ids"])
        answer = len(tokenizer(rendered + row["completion"] + eos)["input_ids"]) - prompt + (not eos)
        kept = min(answer, max(0, max_length - prompt))
        cut += kept < answer
        lost += answer - kept
        total += answer
    return {"max_length": max_length, "examples_cut": cut, "examples": len(dataset),
            "completion_tokens_cut": round(lost / max(total, 1), 4)}


def check_sft_dataset(dataset) -> dict[str, int]:
    """Validate the {"prompt", "completion", "task"} examples; return counts per task."""
    missing = [c for c in REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise ValueError(f"SFT dataset lacks column(s) {missing}; it has {dataset.column_names}")
    if len(dataset) == 0:
        raise ValueError("SFT dataset is empty")
    for i, row in enumerate(dataset.select_columns(list(REQUIRED_COLUMNS))):
        for col in REQUIRED_COLUMNS:
            if not isinstance(row[col], str) or not row[col].strip():
                raise ValueError(f"SFT example {i}: {col!r} must be a non-empty string, got {row[col]!r}")
    tasks = dataset["task"] if "task" in dataset.column_names else ["-"] * len(dataset)
    return dict(Counter(tasks))


def lora_config(config: LoraSftConfig, model=None, new_token_ids: Sequence[int] = ()):
    """peft.LoraConfig for `config`; the added semantic-ID rows become trainable tokens when asked."""
    from peft import LoraConfig

    tti = None
    if config.train_new_token_rows and len(new_token_ids) > 0:
        if model is None:
            raise ValueError("model is needed to place trainable token rows")
        tti = trainable_token_indices(model, new_token_ids)
    target = config.target_modules
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=target if isinstance(target, str) else list(target),
        trainable_token_indices=tti,
        task_type="CAUSAL_LM",
    )


def _render_dataset(dataset, tokenizer):
    keep = [c for c in dataset.column_names if c not in REQUIRED_COLUMNS]
    return dataset.map(
        lambda row: {"prompt": render_prompt(tokenizer, row["prompt"]), "completion": row["completion"]},
        remove_columns=keep,
    )


def _model_device(model) -> str:
    return str(next(model.parameters()).device)


def sft_arguments(config: LoraSftConfig, on_cpu: bool = False) -> dict:
    """Keyword arguments of `trl.SFTConfig` for `config`: its non-LoRA fields (TRL names from SFT_ARGUMENT_NAMES),
    eccr's choices for a few more, then `config.trl_args` parsed by TRL's own argument parser. A `trl_args`
    entry may override eccr's choices but not a field of `config` (set that field instead)."""
    from transformers import HfArgumentParser
    from trl import SFTConfig

    skip = set(LORA_FIELDS) | {"trl_args"}
    args = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in skip}
    own_field = {SFT_ARGUMENT_NAMES.get(name, name): name for name in args}  # TRL name -> field of `config`
    args = {SFT_ARGUMENT_NAMES.get(name, name): value for name, value in args.items()}
    args.update(
        data_seed=config.seed,
        use_cpu=on_cpu,
        save_strategy="steps",
        completion_only_loss=True,  # loss on the answer only (TRL masks the prompt tokens)
        packing=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    extra = _parse_trl_args(config.trl_args)
    clash = sorted(n for n in extra if n in own_field)
    if clash:
        flags = ", ".join(f"--sft.{own_field[n]}" for n in clash)
        raise ValueError(f"sft.trl_args sets {clash}, which LoraSftConfig has as its own field(s): use {flags}")
    known = {f.name for f in dataclasses.fields(SFTConfig) if f.init}
    unknown = sorted(set(extra) - known)
    if unknown:
        hints = {n: difflib.get_close_matches(n, known, n=1) for n in unknown}
        raise ValueError("sft.trl_args: not trl.SFTConfig arguments: "
                         + ", ".join(n + (f" (did you mean {h[0]}?)" if h else "") for n, h in hints.items()))
    parser = HfArgumentParser(SFTConfig)

    def fail(message: str):
        raise ValueError(f"sft.trl_args: {message}")

    parser.error = fail  # argparse would print the whole usage and exit
    tokens = [t for name, value in extra.items() for t in (f"--{name}", *shlex.split(value))]
    parsed = parser.parse_args(tokens)
    return {**args, **{name: getattr(parsed, name) for name in extra}}


def _parse_trl_args(entries: Sequence[str]) -> dict[str, str]:
    """["optim=adamw_torch_fused", "gradient_checkpointing=false"] -> {name: value text}."""
    out = {}
    for entry in entries:
        name, sep, value = str(entry).partition("=")
        name = name.strip().removeprefix("--")
        if not sep or not name:
            raise ValueError(f"sft.trl_args: expected NAME=VALUE, got {entry!r}")
        out[name] = value.strip()
    return out


def build_trainer(model, tokenizer, dataset, config: LoraSftConfig, new_token_ids: Sequence[int] = ()):
    """An SFTTrainer over a LoRA-wrapped `model` (completion-only loss). Exposed so tests and callers can
    inspect the tokenized data and collator before training."""
    from peft import PeftModel, get_peft_model, prepare_model_for_kbit_training
    from trl import SFTConfig

    check_sft_dataset(dataset)
    args = SFTConfig(**sft_arguments(config, on_cpu=_model_device(model) == "cpu"))  # fails before wrapping
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        model = prepare_model_for_kbit_training(model)
    if not isinstance(model, PeftModel):
        model = get_peft_model(model, lora_config(config, model, new_token_ids))
    trainer_class = _trainer_class()  # defined lazily: importing eccr.llm.sft must not import TRL
    return trainer_class(
        model=model, args=args, train_dataset=_render_dataset(dataset, tokenizer), processing_class=tokenizer
    )


def _trainer_class():
    from peft import PeftModel
    from transformers import Trainer
    from trl import SFTTrainer

    class SmallAdapterSFTTrainer(SFTTrainer):
        """SFTTrainer whose checkpoints hold the adapter only (no resized embedding matrix), and whose loss
        goes through the model's own forward when the LM head carries trainable token rows."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # TRL 1.x computes the loss with a "fused LM head" that reads `lm_head.weight` directly; with PEFT
            # trainable tokens the head is a wrapper whose trained rows live outside `.weight`, so that path
            # would score the new tokens with their initial rows (and fails on `.bias`). The plain forward
            # applies the wrapper. Labels are the same (-100 on prompt tokens); mean over completion tokens.
            head = self.accelerator.unwrap_model(model).get_output_embeddings()
            if type(head).__name__ != "TrainableTokensWrapper":
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            return Trainer.compute_loss(self, model, {**inputs, "use_cache": False}, return_outputs,
                                        num_items_in_batch)

        def _save(self, output_dir: str | None = None, state_dict=None) -> None:
            model = self.accelerator.unwrap_model(self.model)
            sharded = getattr(self, "is_fsdp_enabled", False) or getattr(self, "is_deepspeed_enabled", False)
            if sharded or not isinstance(model, PeftModel):
                return super()._save(output_dir, state_dict)
            if not self.args.should_save:
                return None
            output_dir = output_dir or self.args.output_dir
            os.makedirs(output_dir, exist_ok=True)
            model.save_pretrained(output_dir, save_embedding_layers=False)
            if self.processing_class is not None:
                self.processing_class.save_pretrained(output_dir)
            return None

    return SmallAdapterSFTTrainer


def last_checkpoint(output_dir: str | os.PathLike) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None


def train_sft(
    model,
    tokenizer,
    dataset,
    config: LoraSftConfig,
    *,
    new_token_ids: Sequence[int] = (),
    base_spec: str | None = None,
    resume: bool = True,
    callbacks: Sequence = (),
) -> SftResult:
    """LoRA-fine-tune `model` on `dataset`, resuming from the newest checkpoint in `config.output_dir` when
    `resume`; save the adapter to <output_dir>/adapter and return where it is.

    `new_token_ids`: ids returned by `tokens.add_semantic_tokens` (their embedding rows are trained too).
    `base_spec`: how to load the base again ("smollm2", a folder …), stored in eccr_llm.json for load_finetuned."""
    started = time.perf_counter()
    counts = check_sft_dataset(dataset)
    truncation = truncation_report(dataset, tokenizer, config.max_length)
    if truncation["examples_cut"]:
        log.warning("sft.max_length=%s cuts the answer of %d of %d examples (%.0f%% of answer tokens, eos "
                    "included); raise --sft.max_length", config.max_length, truncation["examples_cut"],
                    truncation["examples"], 100 * truncation["completion_tokens_cut"])
    trainer = build_trainer(model, tokenizer, dataset, config, new_token_ids)
    for cb in callbacks:
        trainer.add_callback(cb)
    checkpoint = last_checkpoint(config.output_dir) if resume else None
    output = trainer.train(resume_from_checkpoint=checkpoint)
    adapter_dir = Path(config.output_dir) / ADAPTER_SUBDIR
    if is_main_process():  # under a launcher every process holds the same weights
        save_adapter(trainer.model, tokenizer, adapter_dir, base_spec=base_spec, new_token_ids=new_token_ids,
                     config=config)
    wait_for_processes()
    return SftResult(adapter_dir, int(trainer.state.global_step), float(output.training_loss),
                     time.perf_counter() - started, counts, truncation)


def save_adapter(peft_model, tokenizer, adapter_dir, *, base_spec=None, new_token_ids=(), config=None) -> Path:
    """Save LoRA weights + trained token rows (never the full embedding matrix) + tokenizer + eccr_llm.json."""
    adapter_dir = Path(adapter_dir)
    peft_model.save_pretrained(adapter_dir, save_embedding_layers=False)
    tokenizer.save_pretrained(adapter_dir)
    base = base_spec or peft_model.peft_config["default"].base_model_name_or_path
    meta = {"base_spec": base, "new_token_ids": [int(i) for i in new_token_ids],
            "sft_config": asdict(config) if config is not None else None}
    (adapter_dir / ECCR_LLM_META).write_text(json.dumps(meta, indent=1))
    return adapter_dir


def load_finetuned(adapter_dir, base_spec: str | None = None, device: str = "auto", dtype: str = "auto",
                   cache_dir=None, merge: bool = False):
    """(PeftModel in eval mode, tokenizer with the semantic-ID tokens) from a saved adapter folder.

    The base is `base_spec` or the one recorded in eccr_llm.json; its embeddings are resized to the saved
    tokenizer before the adapter is attached (the trained rows come from the adapter). `merge` folds the LoRA
    update and the trained token rows into the base weights (`merge_and_unload`) and returns the plain
    transformers model: the same outputs up to float rounding, without the adapter's extra matmuls per layer
    (serving; keep the PeftModel to train on)."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ValueError(f"{adapter_dir} is not a PEFT adapter folder (no adapter_config.json)")
    meta_path = adapter_dir / ECCR_LLM_META
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    base_spec = base_spec or meta.get("base_spec")
    if not base_spec:
        raise ValueError(f"no base model given and none recorded in {meta_path}")
    model, _ = load_causal_lm(base_spec, dtype=dtype, device=device, cache_dir=cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    model = PeftModel.from_pretrained(model, str(adapter_dir))
    if merge:
        model = model.merge_and_unload()
    model.eval()
    return model, tokenizer


def adapter_size_bytes(adapter_dir) -> int:
    return (Path(adapter_dir) / "adapter_model.safetensors").stat().st_size
