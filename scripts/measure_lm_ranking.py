"""Does the LM pair scorer raise the shipped ranking's honest HR@5? (issue #10 A)

    OMP_NUM_THREADS=1 .venv/bin/python scripts/measure_lm_ranking.py --run runs/electronic \
        --adapter runs/lm_pair/electronic/adapter --valid-lists 150 --test-lists 300 \
        --out runs/results/lm_ranking/electronic

On the honest ECCR lists (eccr/data/candidate_lists.py: the bundle partner among 20 negatives with its seen
status; the test lists are the run's own `eccr_candidates_test.json`, the ones `eccr evaluate` scores) of a
seeded subset of lists of each part, every system scores all 21 candidates, except the LM, which scores the
shipped ranking's top `--top` (it is a reranker: 21 LM forward passes per list do not fit a CPU budget):

- eccr: the shipped ranking (`PipelineScorer`, what `eccr explain` returns), lm_weight 0
- text_cosine, complement: the project's baselines (the complement scorer is the listwise MLP over text vectors)
- lm_rerank: the eccr top N reordered by the LM log-odds alone, the rest below in eccr order
- eccr+lm: the eccr top N reordered by z(eccr) + w z(LM) (z within the N), the rest below in eccr order; N and w
  chosen on the VALID lists (best HR@5, then the smaller w), never on test
- text_cosine+lm: the same over text cosine's top N (N and w chosen on valid apart): what an out-of-domain query,
  which eccr ranks by text cosine, would get from the LM

HR@5 (ties against the system) with 95% bootstrap intervals, paired bootstraps (eccr/evaluate/metrics.py) of
eccr+lm and lm_rerank against eccr and of eccr against text cosine. LM scores are cached in --out
(lm_scores_<part>*.json), so a stopped run resumes where it was; `--lm-only valid` and `--lm-only test` fill the
two caches in parallel processes (`--shard I/N` splits one part over N processes), then the plain command merges
and reads them. Writes lm_ranking.json, lm_ranking.md and
lm_ranking.png to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HR = "HR@5"


def list_subset(n_lists: int, count: int, seed: int) -> list[int]:
    """The first `count` lists of a seeded permutation: a larger count extends a smaller one (and its cache)."""
    return np.random.default_rng([seed, 10]).permutation(n_lists)[:count].tolist()


def hits_at_5(scores: list[np.ndarray]) -> np.ndarray:
    """Per list: 1 if the positive (candidate 0) is in the top 5, ties counted against the system."""
    from eccr.evaluate.metrics import positive_first_metrics

    return positive_first_metrics(scores, [HR])[HR]


def _z(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else x - x.mean()


def rerank(eccr: np.ndarray, lm_top: np.ndarray, top: np.ndarray, n: int, weight: float | None) -> np.ndarray:
    """Scores of all candidates: the eccr top n (indices `top`, best first) reordered by z(eccr) + weight z(lm)
    (weight None = LM alone), the rest keep eccr's order below them."""
    out = np.empty(len(eccr))
    rest = np.setdiff1d(np.arange(len(eccr)), top[:n])
    out[rest] = -1e6 + eccr[rest]  # below every reranked item, in eccr order (eccr scores are far above -1e6)
    head_eccr, head_lm = eccr[top[:n]], lm_top[:n]
    finite = np.isfinite(head_eccr)
    if not finite.all():  # items the pipeline cannot score (-inf) stay last within the head
        head_eccr = np.where(finite, head_eccr, (head_eccr[finite].min() if finite.any() else 0.0) - 10.0)
    out[top[:n]] = _z(head_lm) if weight is None else _z(head_eccr) + weight * _z(head_lm)
    return out


class ListScores:
    """Every system's scores on one part's subset of lists (positive first)."""

    def __init__(self, lists, subset: list[int]):
        self.pairs = [lists.pairs[i] for i in subset]
        self.subset = subset
        self.systems: dict[str, list[np.ndarray]] = {}
        # per base ranking the LM reranks ("eccr", "text_cosine"): indices of its top `top`, best first, and the
        # LM log-odds of those candidates in that order
        self.top: dict[str, list[np.ndarray]] = {}
        self.lm: dict[str, list[np.ndarray]] = {}

    def candidates(self, k: int) -> list[str]:
        p = self.pairs[k]
        return [p.positive, *p.negatives]


# The question comes first and product B last, so the prompt up to "Product B:" is evaluated once per query and each
# candidate costs only its own title's tokens.
ZERO_SHOT_QUESTION = ("Would a shopper who buys product A buy product B to use together with it (a complement, not a "
                      "replacement)? Answer yes or no.\nProduct A: {a}\nProduct B: {b}")


class ZeroShotPairScorer:
    """A local instruct model, not tuned on these data, asked ZERO_SHOT_QUESTION in its own chat template through
    llama.cpp; score = log P(yes) - log P(no) at the answer's first token (either case). The prompt up to
    product B is evaluated once per query and its KV cache reused for every candidate."""

    def __init__(self, spec: str, rec, title_words: int = 16):
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        from eccr.llm.llamacpp import _quiet_llama_logs
        from eccr.llm.teacher import LLAMACPP_PREFIX, gguf_teacher_path

        _quiet_llama_logs(llama_cpp)
        self.rec, self.title_words, self.name = rec, title_words, spec
        self.llm = llama_cpp.Llama(str(gguf_teacher_path(spec.removeprefix(LLAMACPP_PREFIX))), n_ctx=512,
                                   n_threads=int(os.environ.get("OMP_NUM_THREADS", "2")), seed=0, verbose=False)
        meta = self.llm.metadata
        self.format = Jinja2ChatFormatter(meta["tokenizer.chat_template"], eos_token="", bos_token="")
        def single_tokens(*words: str) -> list[int]:
            tokens = [self.llm.tokenize(w.encode(), add_bos=False, special=False) for w in words]
            return [t[0] for t in tokens if len(t) == 1]

        self.yes, self.no = single_tokens("yes", "Yes"), single_tokens("no", "No")
        if not self.yes or not self.no:
            raise ValueError(f"{spec}: 'yes'/'no' are not single tokens")
        self.cached: list[int] = []

    def _text(self, item: str) -> str:
        leaf = self.rec.items.leaf(item)
        title = " ".join(str(self.rec.items.row(item)["title"]).split()[:self.title_words])
        return f"{title} [{leaf}]" if leaf else title

    def _logits_after(self, tokens: list[int]) -> np.ndarray:
        shared = 0
        while shared < min(len(tokens) - 1, len(self.cached)) and tokens[shared] == self.cached[shared]:
            shared += 1
        self.llm.n_tokens = shared
        self.llm.eval(tokens[shared:])
        self.cached = list(tokens)
        return np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.llm.n_vocab(),)).copy()

    reads_basket = False  # the zero-shot question is about the pair alone

    def score(self, query: str, candidates: list[str], basket: Sequence[str] = ()) -> np.ndarray:
        """The pair's log-odds (`basket` is not asked about: `reads_basket`)."""
        out = []
        for c in candidates:
            messages = [{"role": "user", "content": ZERO_SHOT_QUESTION.format(a=self._text(query), b=self._text(c))}]
            prompt = self.format(messages=messages).prompt
            logits = self._logits_after(self.llm.tokenize(prompt.encode(), add_bos=True, special=True))
            out.append(float(np.logaddexp.reduce(logits[self.yes]) - np.logaddexp.reduce(logits[self.no])))
        return np.asarray(out)


def score_baselines(rec, scores: ListScores) -> None:
    from eccr.evaluate.protocols.base import score_with
    from eccr.evaluate.systems import PipelineScorer

    systems = {"eccr": PipelineScorer(rec, with_lm=False), "text_cosine": rec.baselines["text-cosine"]}
    if rec.complement is not None:
        systems["complement"] = rec.complement
    for name, scorer in systems.items():
        scores.systems[name] = [score_with(scorer, name, [p.query], scores.candidates(k), p.history)
                                for k, p in enumerate(scores.pairs)]


BASES = ("eccr", "text_cosine")  # the rankings whose top N the LM reranks (text cosine: out-of-domain queries)


def top_order(scores: np.ndarray, top: int) -> np.ndarray:
    """Indices of the best `top` candidates, best first; ties put the positive (index 0) last."""
    return np.lexsort((np.arange(len(scores)) == 0, -scores))[:top]


def cache_files(out: Path, part: str) -> list[Path]:
    return sorted(out.glob(f"lm_scores_{part}*.json"))


def _scored(entry: dict) -> dict[str, float]:
    """{item: LM log-odds} of one list's cache entry ({"items": [...], "lm": [...]}; {} when absent)."""
    return dict(zip(entry.get("items", []), entry.get("lm", [])))


def fill_lm_cache(pair_scorer, scores: ListScores, top: int, cache_path: Path, shard: tuple[int, int] = (0, 1),
                  caches: list[Path] = (), log_every: int = 20) -> None:
    """LM log-odds of every candidate in the top `top` of any base ranking, for the lists k with k % n == i
    (shard (i, n)), cached by list number in `cache_path` (resumable; `caches` are read too)."""
    cache = read_caches(list(dict.fromkeys([*caches, cache_path])))  # `caches` may hold cache_path
    mine = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    started, done = time.perf_counter(), 0
    index, count = shard
    for k, pair in enumerate(scores.pairs):
        if k % count != index:
            continue
        cands = scores.candidates(k)
        needed = list(dict.fromkeys(cands[i] for base in BASES for i in top_order(scores.systems[base][k], top)))
        basket = list(pair.history) if reads_basket(pair_scorer) else []
        key = cache_key(scores, k, basket)
        known = _scored(cache.get(key, {}))
        missing = [c for c in needed if c not in known]
        if missing:
            lm = np.nan_to_num(pair_scorer.score(pair.query, missing, basket=basket), nan=-50.0)
            known.update(zip(missing, lm.tolist()))
            cache[key] = mine[key] = {"items": list(known), "lm": list(known.values())}
            done += 1
            if done % log_every == 0:
                cache_path.write_text(json.dumps(mine))
                print(f"  LM scored {done} lists (list {k + 1}/{len(scores.pairs)}), "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
    cache_path.write_text(json.dumps(mine))


def reads_basket(pair_scorer) -> bool:
    return getattr(pair_scorer, "reads_basket", True)


def cache_key(scores: ListScores, k: int, basket: Sequence[str]) -> str:
    """The cache key of list k: its number, and the basket the LM was asked with when there is one (so scores
    asked without it, by an earlier prompt, are not taken for scores with it)."""
    return str(scores.subset[k]) + (f"|{' '.join(basket)}" if basket else "")


def read_caches(paths: list[Path]) -> dict:
    """Merge LM score caches: per list number, every item scored in any of them."""
    merged: dict[str, dict] = {}
    for path in paths:
        if not path.exists():
            continue
        for key, value in json.loads(path.read_text()).items():
            known = _scored(merged.get(key, {})) | _scored(value)
            merged[key] = {"items": list(known), "lm": list(known.values())}
    return merged


def attach_lm(scores: ListScores, top: int, cache: dict, with_basket: bool = True) -> None:
    """Fill scores.top / scores.lm for every base from the merged cache (every needed item must be there);
    `with_basket`: the LM was asked with each list's basket (`reads_basket`)."""
    for base in BASES:
        scores.top[base], scores.lm[base] = [], []
        for k, pair in enumerate(scores.pairs):
            order = top_order(scores.systems[base][k], top)
            known = _scored(cache.get(cache_key(scores, k, list(pair.history) if with_basket else []), {}))
            cands = scores.candidates(k)
            missing = [cands[i] for i in order if cands[i] not in known]
            if missing:
                raise SystemExit(f"list {scores.subset[k]}: no LM score for {missing[:3]}; fill the caches first")
            scores.top[base].append(order)
            scores.lm[base].append(np.asarray([known[cands[i]] for i in order]))


def lm_auc(scores: ListScores, base: str = "eccr") -> tuple[float, int]:
    """(share of the base ranking's top negatives the LM scores below the positive, ties half, lists with the
    positive in that top): 0.5 is a coin."""
    shares = []
    for lm, top in zip(scores.lm[base], scores.top[base]):
        where = np.flatnonzero(top == 0)
        if len(where):
            others = np.delete(lm, where[0])
            shares.append(((others < lm[where[0]]).sum() + 0.5 * (others == lm[where[0]]).sum()) / len(others))
    return (float(np.mean(shares)) if shares else float("nan")), len(shares)


def blended(scores: ListScores, n: int, weight: float | None, base: str = "eccr") -> list[np.ndarray]:
    return [rerank(e, lm, top, n, weight)
            for e, lm, top in zip(scores.systems[base], scores.lm[base], scores.top[base])]


def choose_on_valid(valid: ListScores, tops: list[int], weights: list[float],
                    base: str = "eccr") -> tuple[dict, list[dict]]:
    grid = []
    for n in tops:
        for w in weights:
            grid.append({"top": n, "weight": w,
                         "valid_hr@5": float(hits_at_5(blended(valid, n, w, base)).mean())})
    best = max(grid, key=lambda g: (round(g["valid_hr@5"], 10), -g["weight"]))
    return best, grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="runs/electronic")
    parser.add_argument("--adapter", default="runs/lm_pair/electronic/adapter")
    parser.add_argument("--valid-lists", type=int, default=150)
    parser.add_argument("--test-lists", type=int, default=400)
    parser.add_argument("--top", type=int, default=10, help="the LM scores this many of eccr's top candidates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--out", default="runs/results/lm_ranking/electronic")
    parser.add_argument("--zero-shot", metavar="llamacpp:MODEL",
                        help="instead of the adapter: a local instruct GGUF asked zero-shot (ZeroShotPairScorer), "
                             "e.g. llamacpp:qwen2.5-coder-1.5b")
    parser.add_argument("--lm-only", choices=("valid", "test"),
                        help="only fill the LM score cache of this part and stop (run the parts side by side)")
    parser.add_argument("--shard", default="0/1", metavar="I/N",
                        help="with --lm-only: score only the lists k with k %% N == I, into a cache file of its own "
                             "(N processes fill one part side by side; the plain command merges the files)")
    args = parser.parse_args()
    shard = tuple(int(x) for x in args.shard.split("/"))
    if len(shard) != 2 or not 0 <= shard[0] < shard[1]:
        parser.error(f"--shard {args.shard}: expected I/N with 0 <= I < N")

    import torch

    from eccr.data.candidate_lists import CandidateListConfig, CandidateLists, load_or_build_candidate_lists
    from eccr.evaluate.metrics import bootstrap_ci, paired_bootstrap
    from eccr.llm.pair_scorer import load_pair_scorer
    from eccr.pipeline import Recommender
    from eccr.run import Run, split_dataset

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rec = Recommender.from_run(args.run, use_lm=False)
    run = Run(args.run)
    _, split = split_dataset(rec.run_config)
    seed = rec.run_config.data.seed
    test_path = run.root / "eccr_candidates_test.json"
    test_lists = CandidateLists.load(test_path) if test_path.exists() else \
        load_or_build_candidate_lists(split, "test", CandidateListConfig(seed=seed), test_path)
    valid_lists = load_or_build_candidate_lists(split, "valid", CandidateListConfig(seed=seed))
    parts = {"valid": ListScores(valid_lists, list_subset(len(valid_lists.pairs), args.valid_lists, args.seed)),
             "test": ListScores(test_lists, list_subset(len(test_lists.pairs), args.test_lists, args.seed))}
    if args.lm_only:
        parts = {args.lm_only: parts[args.lm_only]}
    for name, scores in parts.items():
        score_baselines(rec, scores)
        print(f"{name}: {len(scores.pairs)} lists scored by eccr and the baselines "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    if args.zero_shot:
        pair_scorer = ZeroShotPairScorer(args.zero_shot, rec)
        meta = {"model": args.zero_shot, "global_step": 0, "seconds": 0, "question": ZERO_SHOT_QUESTION}
    else:
        pair_scorer = load_pair_scorer(args.adapter, args.run, device="cpu")
        meta = json.loads((Path(args.adapter) / "pair_scorer.json").read_text())
    for name, scores in parts.items():
        suffix = "" if shard == (0, 1) else f".shard{shard[0]}of{shard[1]}"
        fill_lm_cache(pair_scorer, scores, args.top, out / f"lm_scores_{name}{suffix}.json", shard,
                      caches=cache_files(out, name))
        print(f"{name}: LM done ({time.perf_counter() - started:.0f} s)", flush=True)
    if args.lm_only:
        return
    for name, scores in parts.items():
        attach_lm(scores, args.top, read_caches(cache_files(out, name)), reads_basket(pair_scorer))

    tops = [n for n in (6, 8, 10, 15, 21) if n <= args.top]
    weights = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0]
    best, grid = choose_on_valid(parts["valid"], tops, weights)
    best_cosine, _ = choose_on_valid(parts["valid"], tops, weights, base="text_cosine")
    systems = {}
    for name, scores in parts.items():
        rows = {k: hits_at_5(v) for k, v in scores.systems.items()}
        rows["lm_rerank"] = hits_at_5(blended(scores, args.top, None))
        rows["eccr+lm"] = hits_at_5(blended(scores, best["top"], best["weight"]))
        rows["text_cosine+lm"] = hits_at_5(blended(scores, best_cosine["top"], best_cosine["weight"], "text_cosine"))
        systems[name] = rows
    test = systems["test"]
    table = {name: {"valid": bootstrap_ci(systems["valid"][name], args.resamples, seed=args.seed).as_dict(),
                    "test": bootstrap_ci(values, args.resamples, seed=args.seed).as_dict()}
             for name, values in test.items()}
    comparisons = {
        "eccr+lm vs eccr": paired_bootstrap(test["eccr+lm"], test["eccr"], args.resamples, seed=args.seed).as_dict(),
        "lm_rerank vs eccr": paired_bootstrap(test["lm_rerank"], test["eccr"], args.resamples,
                                              seed=args.seed).as_dict(),
        "eccr vs text_cosine": paired_bootstrap(test["eccr"], test["text_cosine"], args.resamples,
                                                seed=args.seed).as_dict(),
        "eccr+lm vs text_cosine": paired_bootstrap(test["eccr+lm"], test["text_cosine"], args.resamples,
                                                   seed=args.seed).as_dict(),
        "text_cosine+lm vs text_cosine": paired_bootstrap(test["text_cosine+lm"], test["text_cosine"],
                                                          args.resamples, seed=args.seed).as_dict(),
    }
    training = {k: meta.get(k) for k in ("model", "global_step", "train_loss", "seconds", "examples", "lists",
                                         "question")}
    training["batch_size"] = meta.get("sft", {}).get("per_device_batch_size")
    result = {"run": args.run, "adapter": args.adapter, "lm_training": training,
              "lists": {k: len(v.pairs) for k, v in parts.items()}, "top": args.top, "seed": args.seed,
              "lm_auc_in_top": {k: dict(zip(("auc", "lists"), lm_auc(v))) for k, v in parts.items()},
              "lm_auc_in_text_cosine_top": {k: dict(zip(("auc", "lists"), lm_auc(v, "text_cosine")))
                                            for k, v in parts.items()},
              "chosen_on_valid": best, "chosen_on_valid_text_cosine": best_cosine, "valid_grid": grid,
              "hr@5": table, "paired": comparisons,
              "seconds": round(time.perf_counter() - started, 1)}
    (out / "lm_ranking.json").write_text(json.dumps(result, indent=1))
    md = markdown(result)
    (out / "lm_ranking.md").write_text(md)
    figure(result, out / "lm_ranking.png")
    print(md)


def markdown(result: dict) -> str:
    best, lm = result["chosen_on_valid"], result["lm_training"]
    scorer = (f"zero-shot {lm['model']}, not tuned" if lm.get("question") else
              f"LM pair scorer ({lm['model']}, {lm['global_step']} LoRA steps of {lm['batch_size']} examples, "
              f"{lm['seconds']} s)")
    intro = (f"{scorer}, run {result['run']}; {result['lists']['valid']} valid / "
             f"{result['lists']['test']} test lists (seeded subset); lm_rerank = eccr top {result['top']} ordered "
             f"by the LM; eccr+lm = eccr top {best['top']} reranked by z(eccr) + {best['weight']} z(LM), chosen "
             "on valid.")
    if "chosen_on_valid_text_cosine" in result:
        cos = result["chosen_on_valid_text_cosine"]
        intro += (f" text_cosine+lm = the text cosine top {cos['top']} reranked by z(cosine) + {cos['weight']} z(LM), "
                  "chosen on valid (how an out-of-domain query, ranked by text cosine, would use the LM).")
    lines = [intro, "", "| system | valid HR@5 | test HR@5 [95% CI] |", "|---|---|---|"]
    for name, cell in result["hr@5"].items():
        t = cell["test"]
        lines.append(f"| {name} | {cell['valid']['mean']:.3f} | {t['mean']:.3f} [{t['ci_low']:.3f}, "
                     f"{t['ci_high']:.3f}] |")
    lines += ["", "| paired (test) | difference [95% CI] | p |", "|---|---|---|"]
    for name, c in result["paired"].items():
        lines.append(f"| {name} | {c['mean_difference']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] | "
                     f"{c['p_value']:.3f} |")
    auc = result["lm_auc_in_top"]
    lines += ["", (f"LM alone within the eccr top {result['top']}: share of negatives scored below the positive "
              f"(0.5 = chance) valid {auc['valid']['auc']:.3f} ({auc['valid']['lists']} lists), test "
              f"{auc['test']['auc']:.3f} ({auc['test']['lists']} lists).")]
    return "\n".join(lines) + "\n"


def figure(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["hr@5"])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for offset, part in ((-0.2, "valid"), (0.2, "test")):
        means = [result["hr@5"][n][part]["mean"] for n in names]
        err = [[m - result["hr@5"][n][part]["ci_low"] for n, m in zip(names, means)],
               [result["hr@5"][n][part]["ci_high"] - m for n, m in zip(names, means)]]
        ax.bar(np.arange(len(names)) + offset, means, 0.4, yerr=err, capsize=3, label=part)
    ax.set_xticks(np.arange(len(names)), names, rotation=20)
    ax.set_ylabel("HR@5 (honest ECCR lists)")
    ax.legend()
    ax.set_title("HR@5 with 95% bootstrap intervals")
    for n in sorted({g["top"] for g in result["valid_grid"]}):
        rows = [g for g in result["valid_grid"] if g["top"] == n]
        ax2.plot([g["weight"] for g in rows], [g["valid_hr@5"] for g in rows], marker="o", label=f"top {n}")
    ax2.set_xscale("symlog", linthresh=0.1)
    ax2.set_xlabel("LM weight w (valid lists)")
    ax2.set_ylabel("valid HR@5")
    ax2.legend()
    ax2.set_title("choosing N and w on valid")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
