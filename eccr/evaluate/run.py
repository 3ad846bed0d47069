"""`eccr evaluate --run DIR`: every system of a run on the run's own temporal split, all three protocols."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from eccr.evaluate.config import EccrProtocolConfig, EvaluationConfig
from eccr.evaluate.harness import evaluate_systems
from eccr.evaluate.protocols import vector_similarity
from eccr.evaluate.report import write_report


def evaluate_run(run_dir: str | Path, part: str = "test", protocols: tuple[str, ...] = ("eccr", "retrieval", "sampled"),
                 with_lm: bool = False, max_pairs: int | None = None, lm_max_pairs: int = 200,
                 depth_ablation: bool = False, out: str | Path | None = None) -> Path:
    """Writes the report folder (metrics.json, report.md, PNGs) and returns the path of report.md."""
    from eccr.evaluate.systems import build_systems
    from eccr.pipeline import Recommender
    from eccr.train import Run, split_dataset

    run = Run(run_dir)
    rec = Recommender.from_run(run_dir, use_lm=with_lm)
    _, split = split_dataset(rec.run_config)
    systems = build_systems(rec, with_lm=with_lm)
    out_dir = Path(out) if out else run / f"report-{part}"
    config = EvaluationConfig(protocols=protocols, part=part, main_system="eccr",
                              valid_fraction=rec.run_config.data.valid_fraction,
                              test_fraction=rec.run_config.data.test_fraction,
                              candidates_path=str(run / f"eccr_candidates_{part}.json"),
                              eccr=EccrProtocolConfig(max_pairs=max_pairs, seed=rec.run_config.data.seed))
    lm_systems = {k: v for k, v in systems.items() if k.endswith("+lm")}
    fast = {k: v for k, v in systems.items() if k not in lm_systems}
    results = evaluate_systems(split, fast, config=config, similarity=vector_similarity(rec.text),
                               depth_factory=_depth_factory(rec, split) if depth_ablation else None)
    if lm_systems and "eccr" in protocols:  # the LM scores ~20 candidates per pair: a capped, seeded sample
        lm_config = dataclasses.replace(config, protocols=("eccr",), candidates_path=None,
                                        eccr=dataclasses.replace(config.eccr, max_pairs=lm_max_pairs))
        both = {"eccr": systems["eccr"], **lm_systems}
        lm_results = evaluate_systems(split, both, config=lm_config, similarity=vector_similarity(rec.text))
        for r in lm_results.results:
            r.setting = {**r.setting, "pairs": f"first {lm_max_pairs}"}
        results.results.extend(lm_results.results)
        results.comparisons.extend(lm_results.comparisons)
    results.info["run"] = str(run.root)
    paths = write_report(results, out_dir)
    if part == "test":
        shutil.copy(paths["metrics"], run / "metrics.json")
    return Path(paths["markdown"])


def _depth_factory(rec, split):
    from eccr.rank.attention_cf import AttentionCFScorer
    from eccr.rank.train import train_attention_cf
    from eccr.train import ranker_sequences

    def build(hops: int):
        cfg = dataclasses.replace(rec.run_config.ranker, hops=hops, progress=False)
        result = train_attention_cf(rec.fused, ranker_sequences(split.train), cfg,
                                    valid_sequences=ranker_sequences(split.valid) or None, ordered=False)
        return AttentionCFScorer(result.model, rec.fused, name=f"attention_cf_K{hops}")

    return build
