"""`eccr explain`: resumable batch recommendation + explanation for a file of queries.

Input: JSON lines (or CSV/Parquet with the same columns), one query per line:
    {"query_id": "q1", "item_id": "123" | "title": "Canon EOS 60D", "basket": [...], "candidates": [...]}
Output: one JSON line per query, in input order:
    {"query_id", "ranked": [ids best first], "recommendations": [{"item_id", "title", "score", "flags",
     "explanation", "explanation_source", "coherent_probability", "uncertainty", "coherent", "semantic_id"}]}
(`coherent_probability`, `uncertainty`, `coherent`: the run's coherence judge, None without one;
`min_confidence` keeps only recommendations whose probability reaches it.)

Resuming: answers are appended and flushed every `flush_every` lines to `<out>.partial/<shard>.jsonl`; a restart
with the same command reads what is there with eccr.data.io.read_resumable_jsonl (a torn last line is dropped
and redone; a bad line before it stops the job with its file and line), skips the answered query ids and goes
on, so a killed job loses at most the unflushed lines and duplicates none. When all shards are done the parts are
merged in input order into `out` (JSONL, CSV or Parquet by extension).

Scale-out: under `accelerate launch` (or any launcher setting RANK/WORLD_SIZE) each process takes every
WORLD_SIZE-th query; the last process to finish merges. Malformed input lines are reported with their line
number, counted and skipped.

Bad input stays a per-query matter: a query whose item or basket matches no catalogue item, or whose candidates
are all unknown, gets an answer with an "error" and the job goes on. A free-text title that matches no item is
answered as a new (cold) item from its text, like the items of `--catalog`; `save_model` then writes the
recommender with every item added this way (Recommender.save_pretrained), so a later job loads them as they are.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from eccr.data.categories import parse_category_string
from eccr.data.io import read_resumable_jsonl, read_table
from eccr.data.schema import Catalog, DataError
from eccr.pipeline import Recommender

Answer = dict
RecommendFn = Callable[[list[dict]], list[Answer]]


@dataclass
class BatchConfig:
    k: int = 10                 # recommendations per query
    batch_size: int = 8         # queries handed to the recommender at once (batched LM generation)
    flush_every: int = 8        # answers written before each flush+fsync (resume granularity)
    progress: bool = True       # tqdm progress bar on stderr
    min_confidence: float | None = None  # keep only recommendations whose P(coherent complement) from the run's
    #                                      coherence judge is >= this (the best k that pass); None = no filter


@dataclass
class BatchReport:
    answered: int = 0
    skipped_done: int = 0
    malformed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    explanations: int = 0

    def summary(self) -> str:
        rate = self.answered / self.seconds if self.seconds > 0 else 0.0
        exp_rate = self.explanations / self.seconds if self.seconds > 0 else 0.0
        return (f"answered {self.answered} queries in {self.seconds:.1f} s ({rate:.2f} queries/s, "
                f"{exp_rate:.2f} explanations/s); resumed past {self.skipped_done}; "
                f"malformed input lines skipped: {len(self.malformed)}")


def shard_info() -> tuple[int, int]:
    """(rank, world_size) from the launcher's environment (accelerate/torchrun set RANK and WORLD_SIZE)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _validate_query(rec: dict, where: str) -> dict:
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: a query must be a JSON object")  # noqa: TRY004 (read_queries reports ValueErrors)
    qid = rec.get("query_id")
    if qid is None or str(qid) == "":
        raise ValueError(f"{where}: missing field 'query_id'")
    if not rec.get("item_id") and not rec.get("title"):
        raise ValueError(f"{where}: needs 'item_id' or 'title'")
    for key in ("basket", "candidates"):
        if key in rec and rec[key] is not None and not isinstance(rec[key], list):
            raise ValueError(f"{where}: field '{key}' must be a list")
    out = {"query_id": str(qid), "item_id": str(rec["item_id"]) if rec.get("item_id") else None,
           "title": rec.get("title"), "basket": [str(b) for b in rec.get("basket") or []],
           "candidates": [str(c) for c in rec.get("candidates") or []] or None}
    return out


def read_queries(path: str | Path, report: BatchReport) -> list[dict]:
    """All valid queries in input order; malformed lines are recorded in `report.malformed` and skipped."""
    path = Path(path)
    if not path.exists():
        raise DataError("input file not found", file=path)
    queries, seen = [], set()
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet"):
        frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)
        rows = []
        for i, rec in enumerate(frame.to_dict("records"), start=2 if suffix == ".csv" else 1):
            for key in ("basket", "candidates"):  # CSV cells hold JSON lists or space-separated ids
                if isinstance(rec.get(key), str):
                    text = rec[key].strip()
                    rec[key] = json.loads(text) if text.startswith("[") else (text.split() if text else [])
            rows.append((i, rec))
    else:
        rows = []
        with path.open(encoding="utf-8", errors="strict") as fh:
            for i, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append((i, json.loads(line)))
                except json.JSONDecodeError as err:
                    report.malformed.append(f"{path}:{i}: malformed JSON ({err.msg})")
    for line_no, rec in rows:
        try:
            q = _validate_query(rec, f"{path}:{line_no}")
        except ValueError as err:
            report.malformed.append(str(err))
            continue
        if q["query_id"] in seen:
            report.malformed.append(f"{path}:{line_no}: duplicate query_id {q['query_id']!r}")
            continue
        seen.add(q["query_id"])
        queries.append(q)
    return queries


def _read_done(part: Path) -> set[str]:
    """Query ids already answered in a shard file; a torn last line (killed mid-write) is cut off the file."""
    return {str(rec["query_id"]) for rec in read_resumable_jsonl(part, required=("query_id",), repair=True)}


def _batches(items: list[dict], size: int) -> Iterator[list[dict]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def run_batch(recommend: RecommendFn, input_path: str | Path, out_path: str | Path,
              config: BatchConfig | None = None) -> BatchReport:
    cfg = config or BatchConfig()
    report = BatchReport()
    rank, world = shard_info()
    queries = read_queries(input_path, report)
    for msg in report.malformed:
        print(f"eccr explain: skipped {msg}", file=sys.stderr)
    out_path = Path(out_path)
    parts = out_path.parent / (out_path.name + ".partial")
    parts.mkdir(parents=True, exist_ok=True)
    part = parts / f"shard-{rank:05d}-of-{world:05d}.jsonl"
    mine = [q for i, q in enumerate(queries) if i % world == rank]
    done = _read_done(part)
    todo = [q for q in mine if q["query_id"] not in done]
    report.skipped_done = len(mine) - len(todo)
    start = time.perf_counter()
    bar = tqdm(total=len(mine), initial=report.skipped_done, disable=not cfg.progress, unit="query",
               desc=f"explain[{rank}/{world}]" if world > 1 else "explain", file=sys.stderr)
    with part.open("a", encoding="utf-8") as fh:
        unflushed = 0
        for batch in _batches(todo, cfg.batch_size):
            for answer in recommend(batch):
                fh.write(json.dumps(answer, ensure_ascii=False) + "\n")
                report.answered += 1
                report.explanations += sum(1 for r in answer.get("recommendations", []) if r.get("explanation"))
                unflushed += 1
            if unflushed >= cfg.flush_every:
                fh.flush()
                os.fsync(fh.fileno())
                unflushed = 0
            bar.update(len(batch))
        fh.flush()
        os.fsync(fh.fileno())
    bar.close()
    report.seconds = time.perf_counter() - start
    (parts / f"shard-{rank:05d}-of-{world:05d}.done").write_text("ok\n")
    if all((parts / f"shard-{r:05d}-of-{world:05d}.done").exists() for r in range(world)):
        merge_parts(queries, parts, world, out_path)
    return report


def merge_parts(queries: list[dict], parts: Path, world: int, out_path: Path) -> None:
    """Write every answer once, in input order, to `out_path` (JSONL/CSV/Parquet by extension)."""
    answers: dict[str, dict] = {}
    for r in range(world):
        for rec in read_resumable_jsonl(parts / f"shard-{r:05d}-of-{world:05d}.jsonl", required=("query_id",)):
            answers.setdefault(str(rec["query_id"]), rec)
    ordered = [answers[q["query_id"]] for q in queries if q["query_id"] in answers]
    tmp = out_path.with_name(out_path.name + ".tmp")
    suffix = out_path.suffix.lower()
    if suffix == ".csv" or suffix == ".parquet":
        flat = pd.DataFrame([{"query_id": a["query_id"], "ranked": json.dumps(a.get("ranked", [])),
                              "recommendations": json.dumps(a.get("recommendations", []), ensure_ascii=False)}
                             for a in ordered])
        flat.to_csv(tmp, index=False) if suffix == ".csv" else flat.to_parquet(tmp, index=False)
    else:
        with tmp.open("w", encoding="utf-8") as fh:
            for a in ordered:
                fh.write(json.dumps(a, ensure_ascii=False) + "\n")
    os.replace(tmp, out_path)


# ------------------------------------------------------------------------------ answering with a Recommender
def read_extra_catalog(path: str | Path) -> Catalog:
    """Items to add before answering (`--catalog`): CSV/JSONL/Parquet with item_id, title and optionally
    category (a list or a "A > B" string), brand and text."""
    frame = read_table(path, required=("item_id", "title"))
    empty = frame["title"].astype(str).str.strip().eq("")
    if empty.any():
        raise DataError("empty title", file=path, line=int(frame.loc[empty, "_line"].iloc[0]), field="title")
    cats = frame["category"] if "category" in frame else pd.Series([""] * len(frame))
    return Catalog(pd.DataFrame({
        "item_id": frame["item_id"].astype(str), "title": frame["title"].astype(str),
        "category": [c if isinstance(c, list) else parse_category_string(str(c)) for c in cats],
        "brand": frame.get("brand", ""), "text": frame.get("text", "")}))


def _resolves(rec: Recommender, item: str) -> bool:
    try:
        rec.resolve_item(item)
        return True
    except KeyError:
        return False


def cold_item_id(title: str) -> str:
    """The id a free-text title gets when it is added as a new item: `title:<hash of the lower-cased title>`."""
    return "title:" + hashlib.sha1(title.strip().lower().encode()).hexdigest()[:12]


def add_unmatched_titles(rec: Recommender, queries: list[dict]) -> None:
    """Queries given by a free-text title that matches no catalogue item are answered as new (cold) items from
    their text, like `--catalog` items: they get the id `cold_item_id(title)` and vectors at once, for all
    `queries` together."""
    new = {}
    for q in queries:
        if not q["item_id"] and q["title"] and q["title"].strip() and not _resolves(rec, q["title"]):
            q["item_id"] = cold_item_id(q["title"])
            new.setdefault(q["item_id"], q["title"].strip())
    new = {i: t for i, t in new.items() if not rec.is_titled(i)}
    if new:
        rec.add_items(Catalog(pd.DataFrame({"item_id": list(new), "title": list(new.values()),
                                            "category": [[] for _ in new], "brand": "", "text": ""})))


def query_problem(rec: Recommender, q: dict) -> str | None:
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


def answer_queries(rec: Recommender, batch: list[dict], k: int = 10, system: str = "eccr",
                   min_confidence: float | None = None) -> list[Answer]:
    """One answer per query of `batch`, in order: the recommendations (with `min_confidence`, only those whose
    coherent_probability reaches it), or an "error" for a query that cannot be answered."""
    add_unmatched_titles(rec, batch)
    good, out = [], {}
    for q in batch:
        problem = query_problem(rec, q)
        if problem:
            out[q["query_id"]] = {"query_id": q["query_id"], "error": problem, "ranked": [], "recommendations": []}
        else:
            good.append(q)
    results = rec.recommend_many([{"item": q["item_id"] or q["title"], "basket": q["basket"],
                                   "candidates": q["candidates"]} for q in good], k=k, system=system,
                                 min_confidence=min_confidence)
    for q, r in zip(good, results):
        out[q["query_id"]] = r.as_answer(q["query_id"])
    return [out[q["query_id"]] for q in batch]


def check_model_folder(folder: str | Path, rec: Recommender) -> None:
    """Fail before answering when `save_model` could not be written at the end: a folder that is neither new,
    empty nor the run directory itself."""
    folder = Path(folder)
    if folder.exists() and folder.resolve() != rec.run.root.resolve() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty; save the model into a new or empty folder")


def explain_queries(rec: Recommender, input_path: str | Path, out_path: str | Path,
                    config: BatchConfig | None = None, system: str = "eccr",
                    save_model: str | Path | None = None) -> BatchReport:
    """`eccr explain`: answer every query of `input_path` into `out_path` (resumable, see the module docstring).

    With `save_model`, the recommender is then saved there with the items added at run time (`--catalog` and
    the free-text titles of every valid input query, answered in this call or an earlier one); under a launcher
    only rank 0 saves. Load it with Recommender.from_pretrained(save_model) or `--run save_model`."""
    cfg = config or BatchConfig()
    if save_model is not None:
        check_model_folder(save_model, rec)
    if cfg.min_confidence is not None:  # before the job, not on its first batch
        rec.require_judge()
    report = run_batch(lambda batch: answer_queries(rec, batch, cfg.k, system, cfg.min_confidence), input_path,
                       out_path, cfg)
    if save_model is not None and shard_info()[0] == 0:
        add_unmatched_titles(rec, read_queries(input_path, BatchReport()))
        rec.save_pretrained(save_model)
    return report
