"""`eccr distill`: explanation targets written by a larger teacher model (eccr/llm/teacher.py builds the teacher
and its prompts), for the explain task of the LM stage:

    eccr distill --run runs/demo --teacher openai:http://127.0.0.1:8000/v1#Qwen2.5-7B-Instruct --out expl.jsonl

Output, one JSON line per directed bundle pair of the run's training split:
    {"source", "target", "explanation", "teacher", "grounded"}
`grounded` is eccr.coherence.grounding: ungrounded sentences are kept but flagged. TaskBuilder uses
the grounded ones as explain targets when `TaskConfig.distilled_path` points at the file.

Resuming: lines are appended and flushed per batch; a restart skips the pairs already in the file and drops a
torn last line, so a killed job loses at most one batch and duplicates nothing.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from eccr.coherence import AttributeExtractor, grounding
from eccr.data.categories import category_text
from eccr.data.io import read_resumable_jsonl
from eccr.data.schema import Dataset
from eccr.llm.config import TaskConfig
from eccr.llm.tasks import select_pairs
from eccr.llm.teacher import (
    DistillConfig,
    Teacher,
    TeacherError,
    build_teacher,
    check_teacher_spec,
    choose_shots,
    clean_sentence,
    pair_facts,
    teacher_messages,
)
from eccr.quantize.semantic_ids import SemanticIDTable
from eccr.run import Run, load_run_config, split_dataset


def read_done(path: str | Path) -> set[tuple[str, str]]:
    """(source, target) pairs already in an output file, by eccr.data.io.read_resumable_jsonl: a torn last line
    (killed mid-write) is cut off the file; any other malformed line is an error naming file:line."""
    return {(str(r["source"]), str(r["target"]))
            for r in read_resumable_jsonl(path, required=("source", "target"), repair=True)}


@dataclass
class DistillReport:
    out: str
    total: int = 0          # pairs selected
    written: int = 0        # lines written by this call
    grounded: int = 0       # of those, flagged grounded
    skipped_done: int = 0   # pairs already in the file (resumed)
    seconds: float = 0.0

    def summary(self) -> str:
        share = f"{self.grounded / self.written:.0%}" if self.written else "n/a"
        return (f"distilled {self.written} explanations into {self.out} in {self.seconds:.1f} s "
                f"({share} grounded); {self.skipped_done} of {self.total} pairs were already done")


def distill_dataset(dataset: Dataset, teacher: Teacher | str, out_path: str | Path,
                    config: DistillConfig | None = None, allowed_items: set[str] | None = None) -> DistillReport:
    """Explain the dataset's directed bundle pairs with `teacher` (a Teacher, or a spec built lazily only when
    there is work left), appending to `out_path`."""
    cfg = config or DistillConfig()
    if cfg.shots < 0 or cfg.batch_size < 1:
        raise ValueError(f"shots must be >= 0 and batch_size >= 1, got {cfg.shots}, {cfg.batch_size}")
    if isinstance(teacher, str):
        check_teacher_spec(teacher)
    seed = 0 if cfg.seed is None else cfg.seed
    title_words = TaskConfig.max_title_words if cfg.max_title_words is None else cfg.max_title_words
    extractor = AttributeExtractor(dataset.catalog)
    rows = {r.item_id: r._asdict() for r in dataset.catalog.items.itertuples(index=False) if r.title}
    pairs = select_pairs(dataset, cfg.pairs, seed, allowed_items)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    done = read_done(out_path)
    todo = [r for r in pairs.itertuples(index=False) if (r.source, r.target) not in done]
    report = DistillReport(out=str(out_path), total=len(pairs), skipped_done=len(pairs) - len(todo))
    if not todo:
        return report
    if isinstance(teacher, str):
        teacher = build_teacher(teacher, cfg)
    shots = choose_shots(pairs, rows, extractor, cfg.shots, seed)
    start = time.perf_counter()
    bar = tqdm(total=len(pairs), initial=report.skipped_done, disable=not cfg.progress, unit="pair",
               desc="distill", file=sys.stderr)
    with out_path.open("a", encoding="utf-8") as fh:
        for at in range(0, len(todo), cfg.batch_size):
            facts_flags = [pair_facts(rows, extractor, r.source, r.target, r.intent)
                           for r in todo[at:at + cfg.batch_size]]
            batch = [facts for facts, _ in facts_flags]
            conversations = [teacher_messages(f, [s for s in shots if s[0].source != f.source
                                                  or s[0].target != f.target][: cfg.shots], title_words)
                             for f in batch]
            answers = teacher.complete(conversations)
            if len(answers) != len(batch):
                raise TeacherError(f"teacher {teacher.name} returned {len(answers)} answers for {len(batch)} prompts")
            for (facts, flags), answer in zip(facts_flags, answers):
                sentence = clean_sentence(answer)
                ok = bool(sentence) and grounding(
                    sentence, facts.title_a, facts.title_b, extractor, facts.intent, flags=flags,
                    categories=(category_text(rows[facts.source].get("category")),
                                category_text(rows[facts.target].get("category")))).grounded
                fh.write(json.dumps({"source": facts.source, "target": facts.target, "explanation": sentence,
                                     "teacher": teacher.name, "grounded": ok}, ensure_ascii=False) + "\n")
                report.written += 1
                report.grounded += ok
            fh.flush()
            os.fsync(fh.fileno())
            bar.update(len(batch))
    bar.close()
    report.seconds = time.perf_counter() - start
    return report


def distill_run(run_dir: str | Path, teacher: Teacher | str, out_path: str | Path,
                config: DistillConfig | None = None) -> DistillReport:
    """`eccr distill`: the run's training-split bundle pairs (by default the same sample TaskBuilder takes)."""
    cfg = config or DistillConfig()
    if isinstance(teacher, str):
        check_teacher_spec(teacher)
    run_cfg = load_run_config(run_dir)
    cfg = replace(cfg, pairs=run_cfg.tasks.max_pairs if cfg.pairs is None else cfg.pairs,
                  seed=run_cfg.tasks.seed if cfg.seed is None else cfg.seed,
                  max_title_words=(run_cfg.tasks.max_title_words if cfg.max_title_words is None
                                   else cfg.max_title_words))
    _, split = split_dataset(run_cfg)
    allowed = None
    ids_path = Run(run_dir).semantic_ids
    if ids_path.exists():  # TaskBuilder only uses items with semantic IDs
        allowed = set(SemanticIDTable.load(ids_path).item_ids)
    return distill_dataset(split.train, teacher, out_path, cfg, allowed)
