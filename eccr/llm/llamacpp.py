"""The CPU decoding backend: the fine-tuned LM (LoRA merged into the base) exported to GGUF and run by llama.cpp
(llama-cpp-python, the optional `llamacpp` extra), with batched greedy decoding and a shared prompt prefix.

Why: on a 2-core CPU, transformers `generate` decodes SmolLM2-135M at ~8 tokens/s per stream (Python overhead per
layer and step); llama.cpp decodes the same model at ~60. Explanations of one query share most of their prompt
(chat header, task text, the query's title and IDs), so that prefix is evaluated once and copied to every sequence
(`llama_memory_seq_cp`), then all sequences decode together, one token each per `llama_decode` call.

    export_gguf(model, tokenizer, path, "q8_0")   # a merged HF Llama-architecture model -> one .gguf file
    LlamaCppGenerator(path, tokenizer).generate(prompts, GenerationConfig(stop_at_newline=True))

The HF tokenizer stays the tokenizer: prompts are encoded by it exactly as in training and answers are decoded by
it, so the GGUF vocabulary only has to have the right size (tokens, types and merges are written for tools that
read the file). Exporting covers Llama-style models (SmolLM2, the tiny test model); other architectures raise
`UnsupportedModelError` and the caller keeps the transformers backend.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eccr.llm.config import GenerationConfig
from eccr.llm.generate import newline_token_ids, shared_prefix_length
from eccr.llm.models import render_prompt

log = logging.getLogger("eccr.llm.llamacpp")
EXPORT_VERSION = 1  # bump when the exported file changes for the same inputs (the cache key includes it)
GGUF_TYPES = ("f32", "f16", "q8_0")


class UnsupportedModelError(ValueError):
    """The model cannot be exported to GGUF by this module (not a Llama-style architecture)."""


def llamacpp_available() -> bool:
    """True when llama-cpp-python imports (it is the optional `llamacpp` extra)."""
    try:
        import llama_cpp  # noqa: F401
    except (ImportError, OSError):  # OSError: the shared library is missing or broken
        return False
    return True


# ------------------------------------------------------------------------------------------------ export
def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF's rotate-half q/k row order -> the interleaved order llama.cpp's rope expects (the inverse of
    transformers' `_reverse_permute_weights`; llama.cpp's convert_hf_to_gguf.py `LlamaModel.permute`)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


_LAYER_TENSORS = {  # HF name inside model.layers.N -> GGUF name inside blk.N
    "input_layernorm.weight": "attn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def _check_llama(config) -> None:
    if getattr(config, "model_type", None) not in ("llama",):
        raise UnsupportedModelError(f"GGUF export covers Llama-style models; this one is "
                                    f"{getattr(config, 'model_type', '?')!r}")
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default" or getattr(config, "attention_bias", False) \
            or getattr(config, "mlp_bias", False):
        raise UnsupportedModelError("GGUF export does not cover rope scaling or biased projections")
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if head_dim * config.num_attention_heads != config.hidden_size:
        raise UnsupportedModelError("GGUF export needs head_dim * heads == hidden size")


def _rope_theta(config) -> float:
    params = getattr(config, "rope_parameters", None) or {}
    return float(params.get("rope_theta", getattr(config, "rope_theta", 10000.0)))


def _vocabulary(tokenizer, n_rows: int) -> tuple[list[str], list[int], list[str]]:
    """(tokens, token types, merges) for `n_rows` embedding rows, from the HF tokenizer."""
    from gguf import TokenType

    vocab = {tok: i for tok, i in tokenizer.get_vocab().items() if i < n_rows}
    tokens = [f"[PAD{i}]" for i in range(n_rows)]
    types = [int(TokenType.UNUSED)] * n_rows
    added = {i: t for i, t in tokenizer.added_tokens_decoder.items() if i < n_rows}
    for tok, i in vocab.items():
        tokens[i] = tok
        types[i] = int(TokenType.NORMAL)
    for i, t in added.items():
        tokens[i] = t.content
        types[i] = int(TokenType.CONTROL if t.special else TokenType.USER_DEFINED)
    merges = []
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    if backend is not None:
        model = json.loads(backend.to_str()).get("model", {})
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return tokens, types, merges


def export_gguf(model, tokenizer, path: str | os.PathLike, weight_type: str = "q8_0") -> Path:
    """Write `model` (a transformers Llama-style causal LM, LoRA already merged) as one GGUF file at `path`
    (atomic). `weight_type`: "q8_0" (default: 8-bit blocks, ~1/4 of fp32, near-lossless), "f16" or "f32";
    norms stay f32. Raises UnsupportedModelError for other architectures."""
    import gguf
    import torch

    if weight_type not in GGUF_TYPES:
        raise ValueError(f"weight_type must be one of {GGUF_TYPES}, got {weight_type!r}")
    config = model.config
    _check_llama(config)
    qtype = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
             "q8_0": gguf.GGMLQuantizationType.Q8_0}[weight_type]
    file_type = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                 "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[weight_type]
    state = {k: v.detach().to(torch.float32).cpu().numpy() for k, v in model.state_dict().items()}
    embed = state["model.embed_tokens.weight"]
    n_rows, n_head, n_kv = embed.shape[0], config.num_attention_heads, config.num_key_value_heads
    tensors = {"token_embd.weight": embed, "output_norm.weight": state["model.norm.weight"]}
    if not config.tie_word_embeddings:
        tensors["output.weight"] = state["lm_head.weight"]
    for n in range(config.num_hidden_layers):
        for hf, gg in _LAYER_TENSORS.items():
            w = state[f"model.layers.{n}.{hf}"]
            if hf.startswith("self_attn.q_proj"):
                w = _permute(w, n_head)
            elif hf.startswith("self_attn.k_proj"):
                w = _permute(w, n_kv)
            tensors[f"blk.{n}.{gg}"] = w

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer = gguf.GGUFWriter(tmp, arch="llama")
        writer.add_name(str(getattr(config, "_name_or_path", "") or "eccr-lm"))
        writer.add_context_length(int(config.max_position_embeddings))
        writer.add_embedding_length(int(config.hidden_size))
        writer.add_block_count(int(config.num_hidden_layers))
        writer.add_feed_forward_length(int(config.intermediate_size))
        writer.add_head_count(int(n_head))
        writer.add_head_count_kv(int(n_kv))
        writer.add_rope_dimension_count(int(config.hidden_size // n_head))
        writer.add_rope_freq_base(_rope_theta(config))
        writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
        writer.add_vocab_size(int(n_rows))
        writer.add_file_type(int(file_type))
        tokens, types, merges = _vocabulary(tokenizer, n_rows)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        if merges:
            writer.add_token_merges(merges)
        for key, tid in (("bos", tokenizer.bos_token_id), ("eos", tokenizer.eos_token_id),
                         ("pad", tokenizer.pad_token_id)):
            if tid is not None and tid < n_rows:
                getattr(writer, f"add_{key}_token_id")(int(tid))
        writer.add_add_bos_token(False)
        if getattr(tokenizer, "chat_template", None):
            writer.add_chat_template(tokenizer.chat_template)
        for name, w in tensors.items():
            if w.ndim == 1 or w.shape[-1] % 32:  # norms (and odd widths) stay f32
                writer.add_tensor(name, np.ascontiguousarray(w, dtype=np.float32))
            else:
                writer.add_tensor(name, gguf.quants.quantize(np.ascontiguousarray(w), qtype), raw_dtype=qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def cached_gguf(adapter_dir: str | os.PathLike, weight_type: str = "q8_0", cache_dir=None) -> Path:
    """Where the merged export of the adapter in `adapter_dir` lives: the model cache (eccr.llm.models) under
    gguf/, named by a hash of the adapter's files, so a retrained adapter gets a new file."""
    from eccr.llm.models import model_cache_dir

    digest = hashlib.sha256(f"v{EXPORT_VERSION}-{weight_type}".encode())
    folder = Path(adapter_dir)
    for name in ("adapter_model.safetensors", "adapter_config.json", "eccr_llm.json", "tokenizer.json"):
        f = folder / name
        if f.is_file():
            digest.update(name.encode())
            digest.update(f.read_bytes())
    return model_cache_dir(cache_dir) / "gguf" / f"{folder.resolve().parent.name}-{digest.hexdigest()[:16]}" \
        f".{weight_type}.gguf"


# --------------------------------------------------------------------------------------------- decoding
def idle_threads(max_threads: int = 8) -> int:
    """Cores not busy with other work, at least 1. Other work is counted twice and the smaller count wins: the tasks
    runnable now besides the caller (`_other_runnable_tasks`, a CPU-bound job is always among them) and the
    1-minute load average less this process's own CPU use over the last minute (`_own_load`). The first alone
    counts a browser drawing the page the server has just sent; the second alone counts the answers this server
    has just decoded (an idle 2-core machine that has served a query shows load 1). Without /proc/loadavg, the
    second decides."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    by_load = int(max(0.0, os.getloadavg()[0] - _own_load()) + 0.5)
    now = _other_runnable_tasks()
    busy = by_load if now is None else min(now, by_load)
    return max(1, min(max_threads, cores - busy))


def _other_runnable_tasks(reads: int = 3, pause: float = 0.002) -> int | None:
    """Tasks runnable now besides the caller (/proc/loadavg's fourth field is runnable/total), the fewest of
    `reads` reads: a CPU-bound job is runnable at every read, a short-lived task rarely at all of them."""
    counts = []
    for i in range(reads):
        try:
            counts.append(int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]))
        except (OSError, IndexError, ValueError):
            return None
        if i + 1 < reads:
            time.sleep(pause)
    return max(0, min(counts) - 1)


_CPU_SAMPLES: list[tuple[float, float]] = []  # (wall time, this process's CPU seconds), the last minute's


def _own_load(window: float = 60.0) -> float:
    """This process's CPU use in cores, averaged since the oldest sample of the last `window` seconds (0 at the
    first call): its share of the load average."""
    t = os.times()
    now, cpu = time.monotonic(), t.user + t.system
    _CPU_SAMPLES.append((now, cpu))
    while len(_CPU_SAMPLES) > 2 and now - _CPU_SAMPLES[1][0] >= window:
        _CPU_SAMPLES.pop(0)
    then, cpu_then = _CPU_SAMPLES[0]
    return (cpu - cpu_then) / (now - then) if now - then > 1.0 else 0.0


class LlamaCppGenerator:
    """Greedy batched decoding of a GGUF model with llama.cpp; prompts are encoded and answers decoded by the HF
    `tokenizer` (the one the model was fine-tuned with).

    One llama.cpp context holds up to `n_seq_max` sequences in a unified KV cache of `n_ctx` cells. `generate`
    takes up to `n_seq_max` prompts at a time: the prompts' common token prefix is evaluated once (sequence 0)
    and copied to the others, the rest of each prompt follows in one batch, then every unfinished sequence
    advances one token per `llama_decode`.

    `threads=0` picks the thread count per call from the machine's load (`idle_threads`): llama.cpp's worker
    threads spin while they wait for each other, so on a busy machine two threads were 20x slower than one
    (2 cores, load average ~14: 0.5 vs 10.4 tokens/s), while on an idle one both cores help."""

    def __init__(self, gguf_path: str | os.PathLike, tokenizer, *, n_ctx: int = 4096, n_seq_max: int = 16,
                 n_batch: int = 512, threads: int = 0):
        import llama_cpp as lc

        self.lc, self.tokenizer, self.path = lc, tokenizer, Path(gguf_path)
        _quiet_llama_logs(lc)
        lc.llama_backend_init()
        mparams = lc.llama_model_default_params()
        self.model = lc.llama_model_load_from_file(str(self.path).encode(), mparams)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {self.path}")
        self.fixed_threads = threads
        threads = threads or idle_threads()
        cparams = lc.llama_context_default_params()
        cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = n_ctx, n_batch, n_batch
        cparams.n_seq_max, cparams.n_threads, cparams.n_threads_batch = n_seq_max, threads, threads
        if hasattr(cparams, "kv_unified"):
            cparams.kv_unified = True  # one cache for all sequences: a copied prefix costs no extra cells
        if hasattr(cparams, "no_perf"):
            cparams.no_perf = True
        self.ctx = lc.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            lc.llama_model_free(self.model)
            raise RuntimeError(f"llama.cpp could not create a context for {self.path}")
        self.n_ctx, self.n_seq_max, self.n_batch, self.threads = n_ctx, n_seq_max, n_batch, threads
        self.n_vocab = lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(self.model))
        self.batch = lc.llama_batch_init(n_batch, 0, 1)
        eos = {tokenizer.eos_token_id, lc.llama_vocab_eos(lc.llama_model_get_vocab(self.model))}
        self.eos = frozenset(i for i in eos if i is not None and i >= 0)
        self.last_stats: dict = {}

    def close(self) -> None:
        if getattr(self, "ctx", None):
            self.lc.llama_batch_free(self.batch)
            self.lc.llama_free(self.ctx)
            self.lc.llama_model_free(self.model)
            self.ctx = self.model = None

    def __del__(self):
        with contextlib.suppress(Exception):  # at interpreter shutdown the bindings may be gone already
            self.close()

    # -------------------------------------------------------------------------------------- internals
    def _decode(self, entries: Sequence[tuple[int, int, int, bool]]) -> list[int]:
        """Decode (token, position, sequence, wants_logits) entries in chunks of n_batch; returns the greedy
        next token (argmax of the logits) of each entry that wants logits, in entry order."""
        lc, batch, rows = self.lc, self.batch, []
        for start in range(0, len(entries), self.n_batch):
            chunk = entries[start : start + self.n_batch]
            for k, (tok, pos, seq, want) in enumerate(chunk):
                batch.token[k], batch.pos[k], batch.n_seq_id[k] = tok, pos, 1
                batch.seq_id[k][0] = seq
                batch.logits[k] = want
            batch.n_tokens = len(chunk)
            code = lc.llama_decode(self.ctx, batch)
            if code != 0:
                raise RuntimeError(f"llama_decode failed with code {code} (context {self.n_ctx} cells)")
            for k, (_, _, _, want) in enumerate(chunk):
                if want:
                    ptr = lc.llama_get_logits_ith(self.ctx, k)
                    rows.append(np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).argmax())
        return [int(r) for r in rows]

    def _generate_group(self, prompts: list[list[int]], max_new: int, stops: frozenset[int]) -> list[list[int]]:
        lc = self.lc
        memory = lc.llama_get_memory(self.ctx)
        lc.llama_memory_clear(memory, True)
        n = len(prompts)
        shared = shared_prefix_length(prompts) if n > 1 else 0
        if shared:
            self._decode([(t, i, 0, False) for i, t in enumerate(prompts[0][:shared])])
            for s in range(1, n):
                lc.llama_memory_seq_cp(memory, 0, s, -1, -1)
        rest = [(t, shared + i, s, i == len(p) - shared - 1) for s, p in enumerate(prompts)
                for i, t in enumerate(p[shared:])]
        nxt = self._decode(rest)
        pos = [len(p) for p in prompts]
        out: list[list[int]] = [[] for _ in prompts]
        active = list(range(n))
        for step in range(max_new):
            for s, token in zip(active, nxt):
                out[s].append(token)
            active = [s for s in active if out[s][-1] not in stops and step + 1 < max_new]
            if not active:
                break
            nxt = self._decode([(out[s][-1], pos[s], s, True) for s in active])
            for s in active:
                pos[s] += 1
        self.last_stats["shared_prefix_tokens"] = self.last_stats.get("shared_prefix_tokens", 0) + shared * (n - 1)
        return out

    # ----------------------------------------------------------------------------------------- public
    def generate_ids(self, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int,
                     stop_ids: Sequence[int] = (), stop_at_eos: bool = True) -> list[list[int]]:
        """Greedy continuation token ids of each prompt (the stopping token included), at most `max_new_tokens`;
        `stop_at_eos=False` runs every sequence to `max_new_tokens` (benchmarks)."""
        stops = (frozenset(self.eos) if stop_at_eos else frozenset()) | frozenset(stop_ids)
        if not self.fixed_threads and idle_threads() != self.threads:
            self.threads = idle_threads()
            self.lc.llama_set_n_threads(self.ctx, self.threads, self.threads)
        self.last_stats = {"prompt_tokens": sum(map(len, prompt_ids))}
        outputs: list[list[int]] = []
        group: list[list[int]] = []
        for ids in list(prompt_ids) + [None]:
            full = ids is None or len(group) == self.n_seq_max or \
                sum(len(g) + max_new_tokens for g in group) + len(ids) + max_new_tokens > self.n_ctx
            if group and full:
                outputs += self._generate_group(group, max_new_tokens, stops)
                group = []
            if ids is not None:
                if len(ids) + max_new_tokens > self.n_ctx:
                    raise ValueError(f"a prompt of {len(ids)} tokens + {max_new_tokens} new does not fit "
                                     f"n_ctx={self.n_ctx}")
                group.append(list(ids))
        self.last_stats["new_tokens"] = sum(map(len, outputs))
        return outputs

    def generate(self, prompts: Sequence[str], config: GenerationConfig | None = None, *,
                 render: bool = True) -> list[str]:
        """One greedy answer per prompt, decoded like eccr.llm.generate.generate_texts (same text up to the
        numerics of the exported weights); `config.do_sample` is not supported here."""
        config = config or GenerationConfig()
        if isinstance(prompts, str):
            raise ValueError("prompts must be a list of strings")  # noqa: TRY004 - as generate_texts
        if config.do_sample:
            raise ValueError("the llama.cpp backend decodes greedily; use the transformers backend to sample")
        tok = self.tokenizer
        texts = [render_prompt(tok, p) if render else p for p in prompts]
        ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        stop = newline_token_ids(tok) if config.stop_at_newline else frozenset()
        started = time.perf_counter()
        rows = self.generate_ids(ids, config.max_new_tokens, stop)
        self.last_stats["seconds"] = time.perf_counter() - started
        drop = set(self.eos) | {tok.pad_token_id, tok.bos_token_id}
        texts = [tok.decode([t for t in row if t not in drop], skip_special_tokens=False) for row in rows]
        return [(t.split("\n")[0] if stop else t).strip() for t in texts]


_LOG_CALLBACK = None


def _quiet_llama_logs(lc) -> None:
    """Route llama.cpp's own log lines to this module's logger at debug level (warnings and errors stay
    visible), instead of printing hundreds of model-loading lines to stderr."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return

    @lc.llama_log_callback
    def callback(level, text, user_data):
        message = text.decode("utf-8", "replace").rstrip() if text else ""
        if message:
            # GGML_LOG_LEVEL_WARN = 3, _ERROR = 4
            log.log(logging.WARNING if int(level) in (3, 4) else logging.DEBUG, "llama.cpp: %s", message)

    _LOG_CALLBACK = callback
    lc.llama_log_set(callback, ctypes.c_void_p(0))
