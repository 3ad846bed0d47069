"""Benchmark the LM layer on this machine: generation speed (batch 1 / 8, fp32 vs bf16 autocast), side by side
with llama.cpp (llama-cpp-python's single-stream decode of the packaged Q4_1 GGUF and of the run's merged export)
and eccr's llama.cpp backend decoding 1..16 streams at once; the end-to-end latency of a demo query with 5
explanations per backend (`--run`); LoRA training step time (batch 4 x 128 tokens, fp32 vs bf16 autocast, SmolLM2
and the tiny test model), constrained vs free decoding, candidate scoring with/without the shared-prompt KV cache,
load time and peak memory.

    .venv/bin/python scripts/bench_generate.py --quick            # ~11 min on 2 busy CPU cores
    .venv/bin/python scripts/bench_generate.py --sections decode demo --run runs/demo   # the issue #10 C figures
    .venv/bin/python scripts/bench_generate.py --model smollm2 --out runs/bench

Decode speed is tokens/s over a fixed number of new tokens (eos ignored), the prompt excluded. The llama.cpp rows
need llama-cpp-python (`make llamacpp`); without it they are skipped with a note. Prints tables and writes
<out>/bench_generate.json and <out>/bench_generate.png.
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
    packaged_gguf_path,
    render_prompt,
    resolve_model_folder,
)
from eccr.llm.sft import lora_config
from eccr.llm.tokens import add_semantic_tokens, semantic_tokens_from_items
from eccr.quantize.trie import TokenIdTrie

SECTIONS = ("generation", "decode", "demo", "train", "constrained")
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
            def run(enc=enc, bf16=bf16):
                with torch.no_grad(), autocast_context("cpu", bf16):
                    model.generate(**enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                                   pad_token_id=tok.pad_token_id, use_cache=True)
            sec = timed(run, repeats)
            rows.append({"batch": batch, "precision": "bf16-autocast" if bf16 else "fp32", "seconds": sec,
                         "tokens_per_s": batch * new_tokens / sec, "explanations_per_s": batch / sec,
                         "new_tokens": new_tokens})
    return rows


def median_spread(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"median": ordered[len(ordered) // 2], "min": ordered[0], "max": ordered[-1], "runs": len(ordered)}


def bench_llamacpp_single(gguf: Path, prompts: list[str], new_tokens: int, repeats: int, label: str) -> dict:
    """llama-cpp-python's own single-stream greedy decode (`Llama.create_completion`, eos suppressed), decode
    only: (new_tokens - 1) / (t(new_tokens) - t(1)), each call from an empty cache."""
    from llama_cpp import Llama

    from eccr.llm.llamacpp import idle_threads

    threads = idle_threads()  # both engines get the same count: llama.cpp threads spin, so not more than are idle
    llm = Llama(str(gguf), n_ctx=1024, n_threads=threads, n_threads_batch=threads, verbose=False)
    bias = {llm.token_eos(): -1e9}

    def run(n: int) -> float:
        start = time.perf_counter()
        for prompt in prompts:
            llm.reset()
            llm.create_completion(prompt, max_tokens=n, temperature=0.0, logit_bias=bias)
        return time.perf_counter() - start

    run(2)
    rates = []
    for _ in range(repeats):
        rates.append(len(prompts) * (new_tokens - 1) / max(run(new_tokens) - run(1), 1e-9))
    return {"engine": "llama-cpp-python single stream", "model": label, "batch": 1, "threads": threads,
            "tokens_per_s": median_spread(rates)["median"], "spread": median_spread(rates), "new_tokens": new_tokens}


def bench_eccr_llamacpp(gguf: Path, tok, prompts: list[str], new_tokens: int, repeats: int, label: str,
                        batches=(1, 5, 8, 16)) -> list[dict]:
    """eccr's llama.cpp backend (eccr.llm.llamacpp.LlamaCppGenerator): `batch` streams decoded together, decode
    tokens/s measured like the single-stream row (fixed length, eos ignored, prompt time subtracted)."""
    from eccr.llm.llamacpp import LlamaCppGenerator, idle_threads

    threads = idle_threads()
    generator = LlamaCppGenerator(gguf, tok, n_ctx=4096, n_seq_max=max(batches), threads=threads)
    rows = []
    for batch in batches:
        ids = [tok(render_prompt(tok, prompts[i % len(prompts)]), add_special_tokens=False)["input_ids"]
               for i in range(batch)]

        def run(n: int, ids=ids) -> float:
            start = time.perf_counter()
            generator.generate_ids(ids, n, stop_at_eos=False)
            return time.perf_counter() - start

        run(2)
        rates = [batch * (new_tokens - 1) / max(run(new_tokens) - run(1), 1e-9) for _ in range(repeats)]
        rows.append({"engine": "eccr llama.cpp backend", "model": label, "batch": batch, "threads": threads,
                     "tokens_per_s": median_spread(rates)["median"], "spread": median_spread(rates),
                     "new_tokens": new_tokens})
    generator.close()
    return rows


def bench_decode(model_spec: str, run_dir: Path | None, new_tokens: int, repeats: int) -> dict:
    """Side by side on the same prompts: llama.cpp single stream vs eccr's llama.cpp backend, batched."""
    from eccr.llm.llamacpp import llamacpp_available

    prompts = [f"Explain in one sentence why a {a} goes well with {b}." for a, b in PAIRS]
    if not llamacpp_available():
        return {"skipped": "llama-cpp-python is not installed (make llamacpp)"}
    _, tok = load_causal_lm(model_spec)
    rendered = [render_prompt(tok, p) for p in prompts]
    base = packaged_gguf_path(model_spec) if model_spec == "smollm2" else None
    rows = []
    if base is not None:
        rows.append(bench_llamacpp_single(base, rendered, new_tokens, repeats, f"{model_spec} Q4_1 (packaged)"))
        rows += bench_eccr_llamacpp(base, tok, prompts, new_tokens, repeats, f"{model_spec} Q4_1 (packaged)")
    if run_dir is not None and (run_dir / "lm" / "adapter_config.json").exists():
        from eccr.llm.item_lm import load_serving_lm

        _, run_tok, generator, _ = load_serving_lm(run_dir / "lm", "cpu", "llamacpp")
        if generator is not None:
            label = f"{run_dir.name} merged {generator.path.name.rsplit('.', 2)[-2]}"
            path = generator.path
            generator.close()
            rows.append(bench_llamacpp_single(path, rendered, new_tokens, repeats, label))
            rows += bench_eccr_llamacpp(path, run_tok, prompts, new_tokens, repeats, label)
    return {"rows": rows}


def bench_demo(run_dir: Path, queries: list[str], repeats: int, backends=("hf", "llamacpp")) -> list[dict]:
    """End-to-end `Recommender.recommend(query, k=5)` with explanations, as the demo calls it (max_per_type=2):
    load time once, then the median (min-max) of `repeats` timed calls per query after one warm-up call."""
    from eccr.llm.llamacpp import llamacpp_available
    from eccr.pipeline import Recommender

    rows = []
    for backend in backends:
        if backend == "llamacpp" and not llamacpp_available():
            rows.append({"backend": backend, "skipped": "llama-cpp-python is not installed (make llamacpp)"})
            continue
        start = time.perf_counter()
        rec = Recommender.from_pretrained(run_dir, max_per_type=2, backend=backend)
        load_s = time.perf_counter() - start
        for query in queries:
            rec.recommend(query, k=5)
            times, explain, first, sources = [], [], [], []
            for _ in range(repeats):
                start = time.perf_counter()
                out = rec.recommend(query, k=5)
                times.append(time.perf_counter() - start)
                explain.append(out.timings.get("explain", 0.0))
                sources = [item.explanation_source for item in out.items]
                # what the demo page shows first: the list with its grounded templates (the LM's sentences
                # follow, timed above as the full call)
                start = time.perf_counter()
                rec.recommend(query, k=5, explain="template")
                first.append(time.perf_counter() - start)
            rows.append({"backend": rec.item_lm.backend if rec.item_lm else "none", "query": query,
                         "load_s": load_s, "seconds": median_spread(times), "explain_s": median_spread(explain),
                         "templates_first_s": median_spread(first),
                         "explanations": len(out.items), "lm_explanations": sources.count("lm"),
                         "texts": [item.explanation for item in out.items], "load_average": os.getloadavg()[0]})
        del rec
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
        def step(bf16=bf16):
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

    panels = [k for k in ("generation", "decode", "demo", "train") if result.get(k)]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5 * max(len(panels), 1), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "generation":
            gen = result["generation"]
            ax.bar([f"HF b{r['batch']}\n{r['precision']}" for r in gen], [r["tokens_per_s"] for r in gen],
                   color="#4c72b0")
            ax.set_ylabel("generated tokens / s")
            ax.set_title(f"transformers generate ({result['threads']} threads)")
        elif panel == "decode":
            rows = result["decode"].get("rows", [])
            labels = [("llama.cpp 1" if r["engine"].startswith("llama-cpp") else f"eccr b{r['batch']}") + "\n"
                      + r["model"].split(" (")[0].replace(" merged", "\nmerged") for r in rows]
            colors = ["#c44e52" if r["engine"].startswith("llama-cpp") else "#55a868" for r in rows]
            ax.bar(range(len(rows)), [r["tokens_per_s"] for r in rows], color=colors)
            ax.set_xticks(range(len(rows)), labels, fontsize=6)
            ax.set_ylabel("decode tokens / s")
            ax.set_title("llama.cpp single stream (red) vs eccr batched (green)")
        elif panel == "demo":
            rows = [r for r in result["demo"] if "seconds" in r]
            ax.bar([f"{r['backend']}\n{r['query'][:14]}" for r in rows], [r["seconds"]["median"] for r in rows],
                   yerr=[[r["seconds"]["median"] - r["seconds"]["min"] for r in rows],
                         [r["seconds"]["max"] - r["seconds"]["median"] for r in rows]], color="#8172b2")
            ax.axhline(3.0, color="k", linestyle="--", linewidth=0.8)
            ax.set_ylabel("seconds per query (5 explanations)")
            ax.set_title("demo query end to end (median, min-max)")
        else:
            tr = result["train"]
            ax.bar([f"{r['model']}\n{r['precision']}" for r in tr], [r["step_seconds"] for r in tr], color="#dd8452")
            ax.set_ylabel("seconds / LoRA step (4 x 128)")
            ax.set_yscale("log")
            ax.set_title("training step")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="packaged name or local HF folder")
    parser.add_argument("--out", default="runs/bench", help="folder for the JSON and PNG")
    parser.add_argument("--quick", action="store_true", help="fewer tokens and repeats")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS,
                        help="what to measure (default: all)")
    parser.add_argument("--run", default="runs/demo", help="trained run for the demo latency and the merged export")
    parser.add_argument("--queries", nargs="+", default=["Canon EOS Rebel T7", "Apple iPhone 13"])
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3, --quick 1)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    repeats, new_tokens, steps = (1, 16, 2) if args.quick else (3, 48, 4)
    repeats = args.repeats or repeats
    run_dir = Path(args.run) if Path(args.run).is_dir() else None

    start = time.perf_counter()
    resolve_model_folder(args.model)  # converts a packaged GGUF on first use
    convert_s = time.perf_counter() - start
    result = {"model": args.model, "threads": torch.get_num_threads(), "load_average": os.getloadavg()[0],
              "quick": args.quick, "first_resolve_s": convert_s, "sections": args.sections,
              "note": "2-core machine shared with other jobs unless load_average < 1"}
    if {"generation", "train", "constrained"} & set(args.sections):
        start = time.perf_counter()
        model, tok = load_causal_lm(args.model)
        load_s = time.perf_counter() - start
        result.update(params=count_parameters(model), load_s=load_s)
        print(f"\n{args.model}: {result['params'] / 1e6:.1f}M params, load {load_s:.2f}s "
              f"(first resolve/convert {convert_s:.1f}s), {result['threads']} threads, "
              f"load average {result['load_average']:.1f}")
    if "generation" in args.sections:
        result["generation"] = bench_generation(model, tok, new_tokens, repeats)
        result["rss_after_generation_mb"] = peak_rss_mb()
        print(f"{'batch':>5} {'precision':>14} {'tok/s':>8} {'expl/s':>8}")
        for r in result["generation"]:
            print(f"{r['batch']:>5} {r['precision']:>14} {r['tokens_per_s']:>8.1f} {r['explanations_per_s']:>8.3f}")
    if "decode" in args.sections:
        result["decode"] = bench_decode(args.model, run_dir, new_tokens, repeats)
        if "skipped" in result["decode"]:
            print(f"decode side by side: skipped, {result['decode']['skipped']}")
        print(f"{'engine':>32} {'model':>28} {'streams':>7} {'decode tok/s':>12} {'(min-max)':>14}")
        for r in result["decode"].get("rows", []):
            sp = r["spread"]
            print(f"{r['engine']:>32} {r['model']:>28} {r['batch']:>7} {r['tokens_per_s']:>12.1f} "
                  f"{sp['min']:>6.1f}-{sp['max']:<6.1f}")
    if "demo" in args.sections:
        if run_dir is None:
            print(f"demo latency: skipped, no run at {args.run}")
        else:
            result["demo"] = bench_demo(run_dir, args.queries, repeats)
            print(f"{'backend':>9} {'query':>20} {'load s':>7} {'s/query':>8} {'(min-max)':>12} {'explain s':>9} "
                  f"{'LM':>3} {'templates first s':>17}")
            for r in result["demo"]:
                if "skipped" in r:
                    print(f"{r['backend']:>9} skipped: {r['skipped']}")
                    continue
                sp = r["seconds"]
                print(f"{r['backend']:>9} {r['query'][:20]:>20} {r['load_s']:>7.1f} {sp['median']:>8.2f} "
                      f"{sp['min']:>5.2f}-{sp['max']:<6.2f} {r['explain_s']['median']:>9.2f} "
                      f"{r['lm_explanations']:>3} {r['templates_first_s']['median']:>17.2f}")
    if "train" in args.sections:
        result["train"] = bench_train_step(model, tok, steps, args.model)
        result["rss_after_train_mb"] = peak_rss_mb()
        with tempfile.TemporaryDirectory() as tmp:
            tiny, tiny_tok = load_causal_lm(str(build_tiny_model(tmp)))
            result["train"] += bench_train_step(tiny, tiny_tok, steps * 3, "tiny")
        print(f"{'model':>8} {'precision':>14} {'s/step (4x128)':>15}")
        for r in result["train"]:
            print(f"{r['model']:>8} {r['precision']:>14} {r['step_seconds']:>15.3f}")
    if "constrained" in args.sections:
        if "train" in args.sections:  # the LoRA bench added tokens and an adapter: measure on a fresh model
            model, tok = load_causal_lm(args.model)
        result["constrained"] = bench_constrained(model, tok, repeats)
        c = result["constrained"]
        print(f"constrained beam ({c['items']} items, {c['beams']} beams) {c['constrained_s']:.3f}s vs free "
              f"{c['free_beam_s']:.3f}s -> x{c['overhead_ratio']:.2f}; score 20 candidates: cached "
              f"{c['score20_cached_s']:.3f}s vs full batch {c['score20_full_s']:.3f}s")
    result["peak_rss_mb"] = peak_rss_mb()
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB, load average at the end {os.getloadavg()[0]:.1f}")
    name = "bench_generate" if set(args.sections) == set(SECTIONS) else "bench_generate_" + "_".join(args.sections)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    plot(result, out / f"{name}.png")
    print(f"wrote {out / (name + '.json')} and {out / (name + '.png')}")


if __name__ == "__main__":
    main()
