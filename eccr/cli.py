"""The `eccr` command line: data → train → evaluate → recommend → explain → human-eval → demo."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model hub: weights come from packages or local folders
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _cmd_data_stats(args: argparse.Namespace) -> int:
    from eccr.data.load import load_dataset
    from eccr.data.stats import dataset_stats, format_stats

    stats = dataset_stats(load_dataset(args.data))
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from eccr.data.synth import generate_synthetic, write_dataset_parquet

    ds = generate_synthetic(args.items, args.users, seed=args.seed)
    out = write_dataset_parquet(ds, args.out)
    print(f"wrote {len(ds.catalog):,} items and {len(ds.behaviour):,} interactions to {out}")
    return 0


_RUN_SECTIONS = ("data", "text", "behaviour", "directed", "fusion", "complement", "ranker", "retrieval", "quantizer", "tasks",
                 "model", "sft")


def _run_config_from_args(args: argparse.Namespace):
    from eccr.config import config_from_arguments
    from eccr.run import RunConfig, quick

    cfg = RunConfig()
    if getattr(args, "quick", False):
        cfg = quick(cfg)
    updates = {}
    for section in _RUN_SECTIONS:
        current = getattr(cfg, section)
        updates[section] = config_from_arguments(args, section, type(current), base=current)
    if getattr(args, "data", None):
        updates["data"] = dataclasses.replace(updates["data"], source=args.data)
    cfg = dataclasses.replace(cfg, **updates)
    if getattr(args, "no_lm", False):
        cfg = dataclasses.replace(cfg, stages=tuple(s for s in cfg.stages if s != "lm"))
    return cfg


def _cmd_train(args: argparse.Namespace) -> int:
    from eccr.train import train_run

    cfg = _run_config_from_args(args)
    summary = train_run(cfg, args.out, force=args.force)
    print(json.dumps(summary["seconds"], indent=None))
    print(f"run written to {args.out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from eccr.evaluate.run import evaluate_run

    report = evaluate_run(args.run, part=args.part, protocols=tuple(args.protocols), with_lm=args.with_lm,
                          max_pairs=args.max_pairs, lm_max_pairs=args.lm_max_pairs, depth_ablation=args.depth_ablation,
                          depth_max_seconds=args.depth_max_seconds,
                          out=args.out, explanations=args.explanations, data=args.data)
    print(report.read_text())
    print(f"report: {report.parent}")
    return 0


def _recommender(args: argparse.Namespace, **overrides):
    from eccr.pipeline import Recommender

    run = Path(args.run)
    if not (run / "config.json").exists():
        raise SystemExit(f"eccr: {run} is not a trained run; make one with `eccr train --data demo --out {run} --quick`")
    if getattr(args, "no_lm", False):
        overrides["use_lm"] = False
    if getattr(args, "ranking", None):
        overrides["ranking"] = args.ranking
    if getattr(args, "max_per_type", None):
        overrides["max_per_type"] = args.max_per_type
    return Recommender.from_run(run, **overrides)


def _format_recommendation(rec) -> str:
    lines = [f"{rec.query['title']}  [{rec.query['item_id']}]  ({rec.system})"]
    for n, item in enumerate(rec.items, 1):
        flags = ", ".join(k for k in ("coherent", "complementary", "relevant", "compatible", "incompatible", "substitute")
                          if item.flags.get(k)) or "no flag"
        lines.append(f"{n:>2}. {item.title}  [{item.item_id}] {item.semantic_id}")
        lines.append(f"    score {item.score:.3f} | ranker {item.ranker_score:.3f} | {flags}"
                     + (f" | evidence: {'; '.join(item.flags['evidence'])}" if item.flags.get("evidence") else ""))
        if item.attention:
            top = sorted(item.attention.items(), key=lambda kv: -kv[1])[:3]
            lines.append("    driven by: " + ", ".join(f"{k} ({v:.2f})" for k, v in top))
        if item.explanation:
            lines.append(f"    why ({item.explanation_source}): {item.explanation}")
    return "\n".join(lines)


def _cmd_recommend(args: argparse.Namespace) -> int:
    rec = _recommender(args)
    result = rec.recommend(args.item, basket=args.basket or [], k=args.k, system=args.system,
                           explain=not args.no_explain)
    print(json.dumps(result.as_answer("cli"), indent=1, ensure_ascii=False) if args.json
          else _format_recommendation(result))
    return 0


def _load_extra_catalog(path: str):
    import pandas as pd

    from eccr.data.categories import parse_category_string
    from eccr.data.io import read_table
    from eccr.data.schema import Catalog, DataError

    frame = read_table(path, required=("item_id", "title"))
    empty = frame["title"].astype(str).str.strip().eq("")
    if empty.any():
        raise DataError("empty title", file=path, line=int(frame.loc[empty, "_line"].iloc[0]), field="title")
    cats = frame["category"] if "category" in frame else pd.Series([""] * len(frame))
    return Catalog(pd.DataFrame({
        "item_id": frame["item_id"].astype(str), "title": frame["title"].astype(str),
        "category": [c if isinstance(c, list) else parse_category_string(str(c)) for c in cats],
        "brand": frame.get("brand", ""), "text": frame.get("text", "")}))


def _resolves(rec, item: str) -> bool:
    try:
        rec.resolve_item(item)
        return True
    except KeyError:
        return False


def _cold_id(title: str) -> str:
    import hashlib

    return "title:" + hashlib.sha1(title.strip().lower().encode()).hexdigest()[:12]


def _add_unmatched_titles(rec, batch: list[dict]) -> None:
    """Queries given by a free-text title that matches no catalogue item are answered as new (cold) items from
    their text, like `--catalog` items: they get an id `title:<hash>` and vectors at once, for the whole batch."""
    import pandas as pd

    from eccr.data.schema import Catalog

    new = {}
    for q in batch:
        if not q["item_id"] and q["title"] and q["title"].strip() and not _resolves(rec, q["title"]):
            q["item_id"] = _cold_id(q["title"])
            new.setdefault(q["item_id"], q["title"].strip())
    new = {i: t for i, t in new.items() if not rec.is_titled(i)}
    if new:
        rec.add_items(Catalog(pd.DataFrame({"item_id": list(new), "title": list(new.values()),
                                            "category": [[] for _ in new], "brand": "", "text": ""})))


def _query_problem(rec, q: dict) -> str | None:
    """Why one query of a batch cannot be answered (its own error line; the batch goes on), or None."""
    key = q["item_id"] or q["title"]
    if not _resolves(rec, key):
        return f"no catalogue item matches {key!r}; give an item id or a title"
    unknown = [b for b in q["basket"] if not _resolves(rec, b)]
    if unknown:
        return f"basket item(s) not in the catalogue: {unknown[:3]}"
    if q["candidates"] and not any(rec.is_titled(c) for c in q["candidates"]):
        return f"none of the {len(q['candidates'])} candidates is in the catalogue"
    return None


def _cmd_explain(args: argparse.Namespace) -> int:
    from eccr.serve.batch import BatchConfig, run_batch

    rec = _recommender(args)
    if args.catalog:
        added = rec.add_items(_load_extra_catalog(args.catalog))
        print(f"added {len(added)} new items from {args.catalog} (cold start)", file=sys.stderr)

    def answer(batch: list[dict]) -> list[dict]:
        _add_unmatched_titles(rec, batch)
        good, out = [], {}
        for q in batch:
            problem = _query_problem(rec, q)
            if problem:
                out[q["query_id"]] = {"query_id": q["query_id"], "error": problem, "ranked": [],
                                      "recommendations": []}
            else:
                good.append(q)
        results = rec.recommend_many([{"item": q["item_id"] or q["title"], "basket": q["basket"],
                                       "candidates": q["candidates"]} for q in good], k=args.k, system=args.system)
        for q, r in zip(good, results):
            out[q["query_id"]] = r.as_answer(q["query_id"])
        return [out[q["query_id"]] for q in batch]

    report = run_batch(answer, args.input, args.out, BatchConfig(k=args.k, batch_size=args.batch_size))
    print(report.summary())
    return 0


def _cmd_distill(args: argparse.Namespace) -> int:
    from eccr.llm.distill import DistillConfig, TeacherError, distill_run

    config = DistillConfig(pairs=args.pairs, shots=args.shots, batch_size=args.batch_size,
                           max_new_tokens=args.max_new_tokens, timeout=args.timeout, retries=args.retries)
    try:
        report = distill_run(args.run, args.teacher, args.out, config)
    except (TeacherError, ValueError) as err:
        print(f"eccr distill: {err}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    run = Path(args.run)
    if not (run / "config.json").exists() or not (run / "train_summary.json").exists():
        from eccr.run import RunConfig, quick
        from eccr.train import train_run

        print(f"no trained run in {run}: training the quick demo run first (a few minutes on a CPU)")
        cfg = quick(RunConfig())
        if args.no_lm:
            cfg = dataclasses.replace(cfg, stages=tuple(s for s in cfg.stages if s != "lm"))
        train_run(cfg, run)
    import subprocess

    cmd = [sys.executable, str(Path(__file__).resolve().parents[1] / "app.py"), "--run", str(run),
           "--host", args.host, "--port", str(args.port)]
    return subprocess.call(cmd)


def _cmd_human_eval_export(args: argparse.Namespace) -> int:
    from eccr.evaluate.human_eval import export_human_eval

    systems = {}
    for spec in args.system:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"eccr: --system expects NAME=FILE, got {spec!r}")
        systems[name] = path
    paths = export_human_eval(systems, args.out, n_queries=args.queries, top_k=args.top_k, seed=args.seed)
    print(f"rater files: {Path(paths.ratings_csv).parent}  (give raters this folder only)")
    print(f"key (keep away from raters): {paths.key}")
    return 0


def _cmd_human_eval_import(args: argparse.Namespace) -> int:
    from eccr.evaluate.human_eval import import_human_eval, summary_markdown

    summary = import_human_eval(args.answers, args.key, args.out, seed=args.seed)
    print(summary_markdown(summary))
    print(f"report written to {args.out}")
    return 0


def _add_run_config_arguments(parser: argparse.ArgumentParser) -> None:
    from eccr.config import add_config_arguments
    from eccr.run import RunConfig

    defaults = RunConfig()
    for section in _RUN_SECTIONS:
        add_config_arguments(parser, section, type(getattr(defaults, section)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eccr", description="Explainable, coherent complement recommendation.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    data = commands.add_parser("data", help="inspect and generate datasets")
    data_cmds = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    stats = data_cmds.add_parser("stats", help="summary of a dataset: items, users, sessions, bundles, drops")
    stats.add_argument("--data", required=True, help="'demo', a dataset folder/file, or a generic spec")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(func=_cmd_data_stats)
    synth = data_cmds.add_parser("synth", help="synthetic dataset of any size (same schema) for scale tests")
    synth.add_argument("--items", type=int, required=True)
    synth.add_argument("--users", type=int, required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", required=True, help="output folder (Parquet files; load with --data FOLDER)")
    synth.set_defaults(func=_cmd_data_synth)

    train = commands.add_parser("train", help="train every stage (vectors, ranker, index, semantic IDs, LoRA LM)")
    train.add_argument("--data", help="dataset: 'demo', a folder/file, or a generic spec (= --data.source)")
    train.add_argument("--out", required=True, help="run directory (created; reused stages are skipped)")
    train.add_argument("--quick", action="store_true", help="demo preset: a few minutes on a laptop CPU")
    train.add_argument("--no-lm", action="store_true", help="skip the LM stage (ranker-only run)")
    train.add_argument("--force", action="store_true", help="redo every stage even if its output exists")
    _add_run_config_arguments(train)
    train.set_defaults(func=_cmd_train)

    evaluate = commands.add_parser("evaluate", help="compare the run's model with every baseline (3 protocols)")
    evaluate.add_argument("--run", required=True, help="run directory from `eccr train`")
    evaluate.add_argument("--part", choices=("test", "valid"), default="test",
                          help="test for reported numbers; valid for tuning (never tune on test)")
    evaluate.add_argument("--protocols", nargs="+", default=["eccr", "retrieval", "sampled"],
                          choices=["eccr", "retrieval", "sampled"])
    evaluate.add_argument("--with-lm", action="store_true", help="also score the LM-re-ranked pipeline (slow on CPU)")
    evaluate.add_argument("--max-pairs", type=int, default=None, help="cap ECCR-protocol pairs (seeded sample)")
    evaluate.add_argument("--lm-max-pairs", type=int, default=200, help="cap pairs for the LM systems")
    evaluate.add_argument("--depth-ablation", action="store_true", help="retrain the ranker with K=1,2,4,10 (Fig. 4)")
    evaluate.add_argument("--depth-max-seconds", type=float, default=None,
                          help="time cap per depth-ablation model (default: the run's --ranker.max_seconds)")
    evaluate.add_argument("--explanations", type=int, default=0, metavar="N",
                          help="also score explanations of N test bundle pairs (BLEU/ROUGE, grounding)")
    evaluate.add_argument("--data", default=None,
                          help="evaluate on this dataset's split instead (cross-domain: its items enter as cold items)")
    evaluate.add_argument("--out", default=None, help="report folder (default RUN/report-PART[-on-DATA])")
    evaluate.set_defaults(func=_cmd_evaluate)

    recommend = commands.add_parser("recommend", help="coherent complements for one product, explained")
    recommend.add_argument("--run", required=True)
    recommend.add_argument("--item", required=True, help="item id or title (free text is matched to titles)")
    recommend.add_argument("--basket", nargs="*", help="items already in the basket (ids or titles)")
    recommend.add_argument("-k", type=int, default=5)
    recommend.add_argument("--system", default="eccr", help="eccr, text-cosine or co-occurrence")
    recommend.add_argument("--no-explain", action="store_true")
    recommend.add_argument("--max-per-type", type=int, default=0,
                        help="at most N items of one product type before other types (0 = off, as evaluated)")
    recommend.add_argument("--ranking", choices=("coherent", "bought_together"), default=None,
                        help="blend that ranks: coherent complements (default) or what shoppers bundle")
    recommend.add_argument("--no-lm", action="store_true", help="do not load the LM (ranker + templates only)")
    recommend.add_argument("--json", action="store_true")
    recommend.set_defaults(func=_cmd_recommend)

    explain = commands.add_parser("explain", help="batch: recommend + explain for a file of queries (resumable)")
    explain.add_argument("--run", required=True)
    explain.add_argument("--input", required=True, help="queries: JSON lines, CSV or Parquet")
    explain.add_argument("--out", required=True, help="answers: .jsonl, .csv or .parquet")
    explain.add_argument("--catalog", help="extra items (CSV/JSONL/Parquet: item_id, title, category) to add")
    explain.add_argument("-k", type=int, default=10)
    explain.add_argument("--system", default="eccr")
    explain.add_argument("--batch-size", type=int, default=8)
    explain.add_argument("--max-per-type", type=int, default=0,
                        help="at most N items of one product type before other types (0 = off, as evaluated)")
    explain.add_argument("--ranking", choices=("coherent", "bought_together"), default=None,
                        help="blend that ranks: coherent complements (default) or what shoppers bundle")
    explain.add_argument("--no-lm", action="store_true")
    explain.set_defaults(func=_cmd_explain)

    distill = commands.add_parser("distill", help="explanation targets written by a larger teacher LM (resumable)")
    distill.add_argument("--run", required=True)
    distill.add_argument("--teacher", required=True, metavar="SPEC",
                         help="local HF folder or packaged name, or openai:http://HOST:PORT/v1#MODEL "
                              "(API key from $ECCR_TEACHER_API_KEY)")
    distill.add_argument("--out", required=True, help="explanations .jsonl (appended; rerun to resume)")
    distill.add_argument("--pairs", type=int, default=None, help="pairs to explain (default: run's tasks.max_pairs)")
    distill.add_argument("--shots", type=int, default=3)
    distill.add_argument("--batch-size", type=int, default=4)
    distill.add_argument("--max-new-tokens", type=int, default=80)
    distill.add_argument("--timeout", type=float, default=60.0)
    distill.add_argument("--retries", type=int, default=4)
    distill.set_defaults(func=_cmd_distill)

    demo = commands.add_parser("demo", help="serve the Gradio demo (trains the quick demo run if needed)")
    demo.add_argument("--run", default="runs/demo")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=7860)
    demo.add_argument("--no-lm", action="store_true", help="train/serve without the LM stage")
    demo.set_defaults(func=_cmd_demo)

    human = commands.add_parser("human-eval", help="blinded human evaluation: export sheets, import ratings")
    human_cmds = human.add_subparsers(dest="human_command", metavar="HUMAN_EVAL_COMMAND")
    export = human_cmds.add_parser("export", help="blinded, shuffled rating sheets from 2+ systems' answers")
    export.add_argument("--system", action="append", required=True, metavar="NAME=FILE",
                        help="a system's answers (JSON lines from `eccr explain`); give 2 or more")
    export.add_argument("--out", required=True, help="output folder (for_raters/ + key.json)")
    export.add_argument("--queries", type=int, default=50, help="queries to sample (default 50)")
    export.add_argument("--top-k", type=int, default=1, help="recommendations per system and query (default 1)")
    export.add_argument("--seed", type=int, default=0)
    export.set_defaults(func=_cmd_human_eval_export)
    imp = human_cmds.add_parser("import", help="validate filled sheets, un-blind, report coherent rates")
    imp.add_argument("answers", nargs="+", help="filled CSVs and/or Label Studio JSON exports, one per rater")
    imp.add_argument("--key", required=True, help="key.json written by export")
    imp.add_argument("--out", required=True, help="report folder (summary.json, summary.md, summary.png)")
    imp.add_argument("--seed", type=int, default=0)
    imp.set_defaults(func=_cmd_human_eval_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        # a group without its sub-command: show that group's help
        sub = args.command if args.command in ("data", "human-eval") else None
        parser.parse_args(([sub] if sub else []) + ["--help"])
        return 2
    from eccr.data.schema import DataError

    try:
        return int(args.func(args) or 0)
    except DataError as err:
        print(f"eccr: data error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (KeyError, FileNotFoundError) as err:
        print(f"eccr: {str(err).strip(chr(39))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eccr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
