"""AttrFormer (Liu et al. 2025) against attention CF, DAN, its SASRec-style ablation and last-item cosine, on the
sampled and full-catalogue protocols of a trained run (issue #13 B).

    python scripts/compare_rankers.py --run runs/electronic --max-epochs 30 --max-queries 400

Trains each of `--kinds` (attrformer, sasrec; attention_cf and dan to retrain those under the same caps) on the run's own split and sequences (`ranker.instances` of the run),
with the run's ranker settings but `--max-epochs`, `--max-seconds` and `--eval-every`, into RUN/rankers/<kind>/ (kept unless
--force; `eccr evaluate --run RUN` picks them up too), then evaluates every system on the test part and writes
RUN/report-rankers/ (report.md, metrics.json, PNGs) and prints the headline table with training and scoring times.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from eccr.evaluate.config import EvaluationConfig, RetrievalProtocolConfig, SampledProtocolConfig
from eccr.evaluate.harness import evaluate_systems
from eccr.evaluate.report import write_report
from eccr.jobs.train import ranker_train_valid, sequential_ranker
from eccr.rank.attrformer import load_ranker_scorer
from eccr.rank.baselines import DAN, DANScorer, LastItemCosine
from eccr.rank.train import RankerTrainer, train_attention_cf
from eccr.represent.vectors import ItemVectors
from eccr.run import Run, load_run_config, split_dataset


def _train_lake(kind: str, fused: ItemVectors, split, config, folder: Path) -> dict:
    """Attention CF or DAN (Lake et al.) trained like `eccr train` does, into `folder`."""
    torch.manual_seed(config.ranker.seed)
    train, valid, ordered = ranker_train_valid(split, config.ranker.instances)
    if kind == "attention_cf":
        result = train_attention_cf(fused, train, config.ranker, valid_sequences=valid, ordered=ordered)
    else:
        result = RankerTrainer(DAN.from_config(fused.dim, config.dan), fused, train, config.ranker, valid,
                               ordered=ordered).train()
    result.model.save_pretrained(folder)
    s = result.state
    return {"seconds": s.seconds, "stopped_because": s.stopped_because, "epochs": s.epoch,
            "history": [{"step": s.step, "valid_loss": s.best_valid_loss}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--kinds", nargs="+", default=["attrformer", "sasrec"])
    parser.add_argument("--max-epochs", type=int, default=30, help="passes over the training sequences per model")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="training time cap per model (a safety net:"
                        " on a shared CPU an epoch cap compares models more fairly than wall time)")
    parser.add_argument("--eval-every", type=int, default=100, help="updates between validation assessments")
    parser.add_argument("--max-queries", type=int, default=400, help="queries per protocol (seeded sample)")
    parser.add_argument("--protocols", nargs="+", default=["sampled", "retrieval"])
    parser.add_argument("--force", action="store_true", help="retrain models already in RUN/rankers/")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = Run(args.run)
    config = load_run_config(run.root)
    _, split = split_dataset(config)
    fused = ItemVectors.load(run.fused)
    trained: dict[str, dict] = {}
    for kind in args.kinds:
        folder = run.root / "rankers" / kind
        if args.force or not (folder / "config.json").exists():
            cfg = dataclasses.replace(config, ranker=dataclasses.replace(
                config.ranker, kind=kind, max_epochs=args.max_epochs, max_seconds=args.max_seconds,
                eval_every=args.eval_every, progress=False))
            if kind in ("attention_cf", "dan"):  # retrained under the same caps (the run's may have had others)
                info = _train_lake(kind, fused, split, cfg, folder)
            else:
                result = sequential_ranker(fused, split, cfg, kind)
                result.model.save_pretrained(folder)
                info = {"seconds": result.seconds, "history": result.history,
                        "stopped_because": result.stopped_because}
            (folder / "train.json").write_text(json.dumps(info, indent=1))
        trained[kind] = json.loads((folder / "train.json").read_text())
        print(f"{kind}: {trained[kind]['seconds']:.0f} s training, stopped by {trained[kind]['stopped_because']}, "
              f"valid loss {trained[kind]['history'][-1]['valid_loss']:.3f}", flush=True)
    max_memory = config.ranker.max_memory
    systems = {kind: load_ranker_scorer(run.root / "rankers" / kind, fused, max_memory=max_memory, name=kind)
               for kind in args.kinds}
    if "attention_cf" not in systems:
        systems["attention_cf"] = load_ranker_scorer(run.ranker, fused, max_memory=max_memory, name="attention_cf")
    if "dan" not in systems and (run.dan / "config.json").exists():
        systems["dan"] = DANScorer(DAN.from_pretrained(run.dan), fused, max_memory=max_memory)
    systems["last_item_cosine"] = LastItemCosine(fused)
    eval_config = EvaluationConfig(protocols=tuple(args.protocols), main_system=args.kinds[0],
                                   sampled=SampledProtocolConfig(max_queries=args.max_queries, seed=config.data.seed),
                                   retrieval=RetrievalProtocolConfig(max_queries=args.max_queries,
                                                                     seed=config.data.seed))
    timing = {}
    items, queries = fused.ids[:1000], fused.ids[-20:]
    for name, scorer in systems.items():  # scoring speed: one query, 1,000 candidates, a 10-item history
        start = time.perf_counter()
        for q in queries:
            scorer.score_candidates([q], items, history=list(fused.ids[-30:-20]))
        timing[name] = (time.perf_counter() - start) / len(queries) * 1000
    results = evaluate_systems(split, systems, config=eval_config)
    results.info["training"] = trained
    results.info["ms_per_query_1000_candidates"] = timing
    paths = write_report(results, run.root / "report-rankers")
    print(f"report: {paths['markdown']}")
    for r in results.results:
        if r.protocol == "sampled" and (r.setting.get("gamma"), r.setting.get("negatives")) != (1.0, 100):
            continue  # the headline setting only; report.md has all
        shown = " ".join(f"{k} {s.mean:.4f} [{s.ci_low:.3f}, {s.ci_high:.3f}]" for k, s in r.summary.items())
        print(f"{r.protocol:9s} {r.system:16s} n={len(r.query_ids)} {shown}  {timing.get(r.system, np.nan):.1f} ms/query")


if __name__ == "__main__":
    main()
