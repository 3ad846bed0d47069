"""Benchmark the LM layer on this machine: generation speed (batch 1 / 8, fp32 vs bf16 autocast), LoRA training
step time (batch 4 x 128 tokens, fp32 vs bf16 autocast, SmolLM2 and the tiny test model), constrained vs free
decoding, candidate scoring with/without the shared-prompt KV cache, load time and peak memory.

    .venv/bin/python scripts/bench_generate.py --quick            # ~11 min on 2 busy CPU cores
    .venv/bin/python scripts/bench_generate.py --model smollm2 --out runs/bench

Prints a table and writes <out>/bench_generate.json and <out>/bench_generate.png.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from eccr.llm.config import LoraSftConfig
from eccr.llm.generate import generate_items, score_items
from eccr.llm.models import (
    autocast_context,
    build_tiny_model,
    count_parameters,
    load_causal_lm,
    render_prompt,
    resolve_model_folder,
)
from eccr.llm.sft import lora_config
from eccr.llm.tokens import add_semantic_tokens, semantic_tokens_from_items
from eccr.quantize.trie import TokenIdTrie

PAIRS = [("camera", "memory card"), ("laptop", "mouse"), ("tent", "sleeping bag"), ("phone", "screen protector"),
         ("camera", "tripod"), ("running shoes", "socks"), ("board game", "dice"), ("headphones", "case")]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeats: int) -> float:
    """Median wall seconds of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def bench_generation(model, tok, new_tokens: int, repeats: int) -> list[dict]:
    rows = []
    prompts = [render_prompt(tok, f"Explain in one sentence why a {a} goes well with {b}.") for a, b in PAIRS]
    for batch in (1, 8):
        enc = tok(prompts[:batch], return_tensors="pt", padding=True, add_special_tokens=False)
        for bf16 in (False, True):
            def run():
                with torch.no_grad(), autocast_context("cpu", bf16):
                    model.generate(**enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                                   pad_token_id=tok.pad_token_id, use_cache=True)
            sec = timed(run, repeats)
            rows.append({"batch": batch, "precision": "bf16-autocast" if bf16 else "fp32", "seconds": sec,
                         "tokens_per_s": batch * new_tokens / sec, "explanations_per_s": batch / sec,
                         "new_tokens": new_tokens})
    return rows


def bench_train_step(model, tok, steps: int, label: str, n_codes: int = 64) -> list[dict]:
    from peft import get_peft_model

    codes = [[f"<a_{i}>", f"<b_{i % 16}>", f"<c_{i % 7}>"] for i in range(n_codes)]
    ids = add_semantic_tokens(model, tok, semantic_tokens_from_items(codes))
    peft_model = get_peft_model(model, lora_config(LoraSftConfig(), model, ids))
    peft_model.train()
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, len(tok), (4, 128), generator=gen)
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-4)
    rows = []
    for bf16 in (False, True):
        def step():
            with autocast_context("cpu", bf16):
                loss = peft_model(input_ids=x, labels=x).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
        sec = timed(step, steps)
        rows.append({"model": label, "precision": "bf16-autocast" if bf16 else "fp32", "step_seconds": sec,
                     "batch": "4x128", "trainable_params": count_parameters(peft_model, trainable_only=True)})
    peft_model.unload()
    return rows


def bench_constrained(model, tok, repeats: int, n_items: int = 500, beams: int = 5) -> dict:
    rng = random.Random(0)
    items = [[f"<a_{rng.randrange(64)}>", f"<b_{rng.randrange(16)}>", f"<c_{rng.randrange(7)}>"]
             for _ in range(n_items)]
    items = [list(t) for t in dict.fromkeys(tuple(i) for i in items)]
    trie = TokenIdTrie.from_tokens(tok, items)
    prompt = "Recommend one complement for a camera."
    enc = tok([render_prompt(tok, prompt)], return_tensors="pt", add_special_tokens=False)
    constrained = timed(lambda: generate_items(model, tok, prompt, trie, num_items=beams), repeats)

    def free():
        with torch.no_grad():
            model.generate(**enc, max_new_tokens=trie.depth + 1, min_new_tokens=trie.depth + 1, num_beams=beams,
                           num_return_sequences=beams, do_sample=False, pad_token_id=tok.pad_token_id)
    unconstrained = timed(free, repeats)
    cands = items[:20]
    cached = timed(lambda: score_items(model, tok, prompt, cands), repeats)
    full = timed(lambda: score_items(model, tok, prompt, cands, use_prompt_cache=False), repeats)
    return {"items": len(items), "beams": beams, "constrained_s": constrained, "free_beam_s": unconstrained,
            "overhead_ratio": constrained / unconstrained, "score20_cached_s": cached, "score20_full_s": full}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    gen = result["generation"]
    axes[0].bar([f"b{r['batch']}\n{r['precision']}" for r in gen], [r["tokens_per_s"] for r in gen], color="#4c72b0")
    axes[0].set_ylabel("generated tokens / s")
    axes[0].set_title(f"{result['model']} generation (CPU, {result['threads']} threads)")
    tr = result["train"]
    axes[1].bar([f"{r['model']}\n{r['precision']}" for r in tr], [r["step_seconds"] for r in tr], color="#dd8452")
    axes[1].set_ylabel("seconds / LoRA step (4 x 128)")
    axes[1].set_yscale("log")
    axes[1].set_title("training step")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="packaged name or local HF folder")
    parser.add_argument("--out", default="runs/bench", help="folder for the JSON and PNG")
    parser.add_argument("--quick", action="store_true", help="fewer tokens and repeats")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    repeats, new_tokens, steps = (1, 16, 2) if args.quick else (3, 48, 4)

    start = time.perf_counter()
    resolve_model_folder(args.model)  # converts a packaged GGUF on first use
    convert_s = time.perf_counter() - start
    start = time.perf_counter()
    model, tok = load_causal_lm(args.model)
    load_s = time.perf_counter() - start
    result = {"model": args.model, "params": count_parameters(model), "threads": torch.get_num_threads(),
              "load_average": os.getloadavg()[0], "quick": args.quick, "first_resolve_s": convert_s,
              "load_s": load_s}
    result["generation"] = bench_generation(model, tok, new_tokens, repeats)
    result["rss_after_generation_mb"] = peak_rss_mb()
    result["train"] = bench_train_step(model, tok, steps, args.model)
    result["rss_after_train_mb"] = peak_rss_mb()
    result["constrained"] = bench_constrained(model, tok, repeats)
    with tempfile.TemporaryDirectory() as tmp:
        tiny, tiny_tok = load_causal_lm(str(build_tiny_model(tmp)))
        result["train"] += bench_train_step(tiny, tiny_tok, steps * 3, "tiny")
    result["peak_rss_mb"] = peak_rss_mb()

    print(f"\n{args.model}: {result['params'] / 1e6:.1f}M params, load {load_s:.2f}s "
          f"(first resolve/convert {convert_s:.1f}s), {result['threads']} threads, "
          f"load average {result['load_average']:.1f}")
    print(f"{'batch':>5} {'precision':>14} {'tok/s':>8} {'expl/s':>8}")
    for r in result["generation"]:
        print(f"{r['batch']:>5} {r['precision']:>14} {r['tokens_per_s']:>8.1f} {r['explanations_per_s']:>8.3f}")
    print(f"{'model':>8} {'precision':>14} {'s/step (4x128)':>15}")
    for r in result["train"]:
        print(f"{r['model']:>8} {r['precision']:>14} {r['step_seconds']:>15.3f}")
    c = result["constrained"]
    print(f"constrained beam ({c['items']} items, {c['beams']} beams) {c['constrained_s']:.3f}s vs free "
          f"{c['free_beam_s']:.3f}s -> x{c['overhead_ratio']:.2f}; score 20 candidates: cached "
          f"{c['score20_cached_s']:.3f}s vs full batch {c['score20_full_s']:.3f}s")
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB")
    (out / "bench_generate.json").write_text(json.dumps(result, indent=1))
    plot(result, out / "bench_generate.png")
    print(f"wrote {out / 'bench_generate.json'} and {out / 'bench_generate.png'}")


if __name__ == "__main__":
    main()
