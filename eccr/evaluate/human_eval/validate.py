"""Reading and validating rater answers: filled CSVs and Label Studio exports (full JSON or JSON-MIN).

Every answer is checked against the un-blinding key; problems are collected so a rater gets all of them at once,
each naming the file, the line (CSV) or task (Label Studio), and the field.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eccr.data.io import read_csv
from eccr.data.schema import DataError
from eccr.evaluate.human_eval.export import (
    ANSWER_FIELDS,
    COHERENT_CHOICES,
    KEY_FORMAT,
    SCORE_RANGE,
    THREE_WAY_CHOICES,
)

_SYNONYMS = {"y": "yes", "true": "yes", "1": "yes", "n": "no", "false": "no", "0": "no",
             "?": "unsure", "not sure": "unsure", "unknown": "unsure", "don't know": "unsure"}


@dataclass(frozen=True)
class RaterAnswer:
    """One rater's validated answer for one blinded row."""

    rater: str
    row_id: str
    coherent: str              # "yes" | "no"
    compatible: str            # "yes" | "no" | "unsure"
    relevant: str              # "yes" | "no" | "unsure"
    explanation_score: int | None  # 1..5; None only when the row had no explanation to judge
    source: str                # "file:line" or "file: task N", for error messages



def load_key(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DataError("key file not found", file=path)
    try:
        key = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise DataError(f"malformed JSON: {err}", file=path) from None
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT or not isinstance(key.get("rows"), dict):
        raise DataError(f"not a human-evaluation key (expected format {KEY_FORMAT!r})", file=path)
    return key


class _Problems:
    """Collects validation problems so a rater gets all of them at once, not one per run."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str, file: Path, line: int | None = None, field: str | None = None,
            where: str | None = None) -> None:
        text = f"{where}: {message}" if where else message
        self.items.append(str(DataError(text, file=file, line=line, field=field)))

    def raise_if_any(self, limit: int = 30) -> None:
        if self.items:
            shown = "\n  ".join(self.items[:limit])
            more = f"\n  ... and {len(self.items) - limit} more" if len(self.items) > limit else ""
            raise DataError(f"{len(self.items)} problem(s) in rater answers:\n  {shown}{more}")


def _normalise_choice(raw, allowed: tuple[str, ...]) -> str | None:
    """Lower-cased answer mapped through synonyms; None if blank; raises ValueError if not allowed."""
    if isinstance(raw, list):  # Label Studio gives a list of chosen values
        if len(raw) != 1:
            raise ValueError(f"expected one choice, got {raw!r}")
        raw = raw[0]
    text = "" if raw is None else str(raw).strip().lower()
    if not text:
        return None
    text = _SYNONYMS.get(text, text)
    if text not in allowed:
        raise ValueError(f"{raw!r} is not one of {'/'.join(allowed)}")
    return text


def _normalise_score(raw) -> int | None:
    if isinstance(raw, list):  # JSON-MIN: [{"rating": 4}]
        if len(raw) != 1:
            raise ValueError(f"expected one rating, got {raw!r}")
        raw = raw[0]
    if isinstance(raw, dict):
        raw = raw.get("rating")
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number from {SCORE_RANGE[0]} to {SCORE_RANGE[1]}") from None
    if value != int(value) or not SCORE_RANGE[0] <= value <= SCORE_RANGE[1]:
        raise ValueError(f"{raw!r} is out of range: use a whole number from {SCORE_RANGE[0]} to {SCORE_RANGE[1]}")
    return int(value)


def _same_id(given: str, expected: str) -> bool:
    """Ids as a spreadsheet may have re-typed them: numeric-looking ids lose leading zeros or turn into
    1.23E+09; such values cannot be compared and are accepted (row_id is what links answers)."""
    if given == expected:
        return True
    try:
        float(given)
    except ValueError:
        return False
    return given.lstrip("0") == expected.lstrip("0") or expected.replace(".", "").isdigit()


def _validate_answer(values: dict, rater: str, row_id: str, key_rows: dict, context: dict, problems: _Problems,
                     file: Path, line: int | None, where: str | None) -> RaterAnswer | None:
    """Check one answered row against the key; record problems; return the answer if it is valid."""
    n_before = len(problems.items)
    if not row_id:
        problems.add("missing row_id", file, line, "row_id", where)
        return None
    if row_id not in key_rows:
        problems.add(f"unknown row_id {row_id!r} (not in the key: answers from another export?)", file, line,
                     "row_id", where)
        return None
    expected = key_rows[row_id]
    for field in ("query_id", "item_id"):
        given = str(context.get(field) or "").strip()
        if given and not _same_id(given, expected[field]):
            problems.add(f"row {row_id} has {field} {given!r} but the key says {expected[field]!r} "
                         "(edited or shifted row?)", file, line, field, where)
    parsed = {}
    for field, allowed in (("coherent", COHERENT_CHOICES), ("compatible", THREE_WAY_CHOICES),
                           ("relevant", THREE_WAY_CHOICES)):
        try:
            parsed[field] = _normalise_choice(values.get(field), allowed)
        except ValueError as err:
            problems.add(str(err), file, line, field, where)
            continue
        if parsed[field] is None:
            problems.add(f"missing answer for row {row_id}", file, line, field, where)
    try:
        parsed["explanation_score"] = _normalise_score(values.get("explanation_score"))
        if not expected["has_explanation"]:
            parsed["explanation_score"] = None  # nothing was shown to score
        elif parsed["explanation_score"] is None:
            problems.add(f"missing answer for row {row_id} (the row has an explanation to score)", file, line,
                         "explanation_score", where)
    except ValueError as err:
        problems.add(str(err), file, line, "explanation_score", where)
    if len(problems.items) > n_before:
        return None
    source = f"{file.name}:{line}" if line is not None else f"{file.name}: {where}"
    return RaterAnswer(rater, row_id, parsed["coherent"], parsed["compatible"], parsed["relevant"],
                       parsed["explanation_score"], source)


def _sniff_separator(path: Path) -> str:
    try:
        header = path.read_text(encoding="utf-8-sig").split("\n", 1)[0]
    except (OSError, UnicodeDecodeError):
        return ","  # read_csv reports the real problem
    for sep in (",", ";", "\t"):
        if "row_id" in [c.strip().strip('"') for c in header.split(sep)]:
            return sep
    return ","


def read_csv_answers(path: str | Path, key_rows: dict, problems: _Problems) -> list[RaterAnswer]:
    """Filled ratings CSV (comma, semicolon or tab separated, as spreadsheets save it). The rater is the
    `rater` column where filled, else the file name without extension."""
    path = Path(path)
    frame = read_csv(path, required=("row_id",) + ANSWER_FIELDS, sep=_sniff_separator(path))
    answers = []
    for record in frame.to_dict("records"):
        line = int(record["_line"])
        values = {k: record.get(k) for k in ANSWER_FIELDS}
        if all(not str(v or "").strip() for v in values.values()) and not str(record.get("row_id", "")).strip():
            continue  # fully blank spreadsheet line
        rater = str(record.get("rater") or "").strip() or path.stem
        answer = _validate_answer(values, rater, str(record.get("row_id", "")).strip(), key_rows, record,
                                  problems, path, line, None)
        if answer:
            answers.append(answer)
    return answers


def _annotator_id(annotation: dict) -> str:
    who = annotation.get("completed_by", annotation.get("annotator", ""))
    if isinstance(who, dict):
        who = who.get("email") or who.get("id") or ""
    return str(who)


def _label_studio_records(path: Path, tasks: list) -> list[tuple[str, str, dict, dict]]:
    """Flatten a Label Studio export into (where, annotator, context, values) per annotation.

    Full JSON export: tasks with "data" and "annotations" (cancelled/skipped annotations are ignored); each
    result item has from_name and value {"choices": [...]} or {"rating": n}. JSON-MIN export: one flat record
    per annotation with the data fields, one key per control (choices as a string, rating as [{"rating": n}])
    and "annotator"."""
    records = []
    for index, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise DataError(f"task {index}: expected a JSON object", file=path)
        task_id = task.get("id", index)
        if "annotations" in task or "completions" in task:
            context = task.get("data") if isinstance(task.get("data"), dict) else {}
            for annotation in task.get("annotations", task.get("completions")) or []:
                if annotation.get("was_cancelled") or annotation.get("skipped"):
                    continue
                values = {}
                for result in annotation.get("result") or []:
                    value = result.get("value") or {}
                    name = result.get("from_name")
                    values[name] = value.get("choices", value.get("rating"))
                records.append((f"task {index} (id {task_id})", _annotator_id(annotation), context, values))
        else:  # JSON-MIN
            records.append((f"task {index} (id {task_id})", _annotator_id(task), task, task))
    return records


def read_label_studio_answers(path: str | Path, key_rows: dict, problems: _Problems) -> list[RaterAnswer]:
    """Label Studio export (JSON or JSON-MIN). The rater is the file name; when the file holds annotations by
    several annotators, "<file name>:<annotator id or email>"."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"malformed JSON: {err}", file=path) from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise DataError("expected a JSON list of tasks (Label Studio export)", file=path)
    records = _label_studio_records(path, tasks)
    annotators = {annotator for _, annotator, _, _ in records}
    answers = []
    for where, annotator, context, values in records:
        rater = path.stem if len(annotators) <= 1 else f"{path.stem}:{annotator}"
        row_id = str(context.get("row_id") or "").strip()
        answer = _validate_answer(values, rater, row_id, key_rows, context, problems, path, None, where)
        if answer:
            answers.append(answer)
    return answers


def read_answers(answer_files: list[str | Path], key: dict) -> list[RaterAnswer]:
    """All raters' answers from CSV and Label Studio JSON files, validated; raises one DataError listing
    every problem (file, line or task, field), including a row answered twice by the same rater."""
    if not answer_files:
        raise ValueError("no answer files given")
    problems = _Problems()
    answers: list[RaterAnswer] = []
    for path in map(Path, answer_files):
        if path.suffix.lower() == ".json":
            answers += read_label_studio_answers(path, key["rows"], problems)
        elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
            answers += read_csv_answers(path, key["rows"], problems)
        else:
            raise DataError("unsupported answer file: use the filled .csv or a Label Studio .json export",
                            file=path)
    first_seen: dict[tuple[str, str], str] = {}
    for answer in answers:
        seen = first_seen.get((answer.rater, answer.row_id))
        if seen is None:
            first_seen[(answer.rater, answer.row_id)] = answer.source
        else:
            problems.items.append(f"{answer.source}: row {answer.row_id} answered twice by rater "
                                  f"{answer.rater!r} (first at {seen}) (field 'row_id')")
    problems.raise_if_any()
    if not answers:
        raise DataError("the answer files hold no answers")
    return answers
