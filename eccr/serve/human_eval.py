"""Human evaluation of complement recommendations: blinded export for raters, validated import, statistics.

The ECCR paper (Zhang et al., "ECCR: Explainable and coherent complement recommendation based on large
language models") validates its model with a human evaluation of the *coherent rate*: the share of recommended
pairs (A = query product, B = recommended product) that raters judge coherent. Here a pair is coherent when
B is a complement of A AND (B is relevant to A OR B is compatible with A).

Round trip
----------
1. `export_human_eval` reads the answer files of several systems (JSON lines written by `eccr explain`, one
   query per line), samples queries answered by every system, and writes for each query the systems' top-k
   recommendations under per-query shuffled option letters (A, B, C ...), so raters cannot tell which system
   made which recommendation. Rater files go to `<out>/for_raters/`, the un-blinding key to `<out>/key.json`.
2. Raters fill `ratings_template.csv` in a spreadsheet (one row per recommended pair, the query repeated on
   every row so sorting and filtering work) or label the same rows in Label Studio.
3. `import_human_eval` reads the filled CSVs and/or Label Studio exports (full JSON or JSON-MIN), validates
   every answer (errors name file, line or task, and field), un-blinds with the key and writes summary.json,
   summary.md, summary.png and answers.csv: per system the coherent rate, compatible/relevant rates and the mean
   explanation score with bootstrap 95% CIs (queries resampled), paired differences between systems, and
   Krippendorff's alpha between raters.

Krippendorff's alpha is implemented here in numpy (the `krippendorff` package is not a dependency), following
K. Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011): coincidence matrix, nominal / ordinal /
interval / ratio difference functions; it is tested against the worked example of that paper.
"""
from __future__ import annotations

import csv
import hashlib
import json
import string
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import numpy as np
import pandas as pd

from eccr.data.io import read_csv
from eccr.data.schema import DataError

# ---------------------------------------------------------------------------------------------------------------
# Answer vocabulary shared by the CSV, the Label Studio config and the importer
# ---------------------------------------------------------------------------------------------------------------
ANSWER_FIELDS = ("coherent", "compatible", "relevant", "explanation_score")
COHERENT_CHOICES = ("yes", "no")
THREE_WAY_CHOICES = ("yes", "no", "unsure")
SCORE_RANGE = (1, 5)
NO_EXPLANATION = "(no explanation given)"
KEY_FORMAT = "eccr-human-eval-key/1"

_SYNONYMS = {"y": "yes", "true": "yes", "1": "yes", "n": "no", "false": "no", "0": "no",
             "?": "unsure", "not sure": "unsure", "unknown": "unsure", "don't know": "unsure"}

# Columns of the rater CSV, in order: context first, then the answer columns the rater fills.
CONTEXT_COLUMNS = ("row_id", "query_id", "query_title", "option", "rank", "item_id", "item_title",
                   "explanation")
RATER_COLUMNS = CONTEXT_COLUMNS + ANSWER_FIELDS + ("comment", "rater")


@dataclass(frozen=True)
class ExportPaths:
    """Files written by `export_human_eval`. Everything under `for_raters` can be sent to raters; `key` never."""

    ratings_csv: Path          # template raters fill (one row per recommended pair)
    instructions: Path         # rater guidelines (markdown)
    label_studio_tasks: Path   # Label Studio import file (list of {"data": {...}} tasks, one per row)
    label_studio_config: Path  # Label Studio labelling config (XML)
    key: Path                  # un-blinding key: row_id -> system (keep away from raters)


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    title: str
    explanation: str


@dataclass(frozen=True)
class SystemAnswer:
    """One line of an `eccr explain` output file: a query and the system's recommendations, best first."""

    query_id: str
    query_title: str
    recommendations: tuple[Recommendation, ...]


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


# ---------------------------------------------------------------------------------------------------------------
# Reading system answer files
# ---------------------------------------------------------------------------------------------------------------
def _require(record: dict, field: str, kind: type, path: Path, line: int):
    value = record.get(field)
    if not isinstance(value, kind):
        expected = {str: "a string", dict: "an object", list: "a list"}[kind]
        found = "missing" if field not in record else f"{type(value).__name__} {value!r:.60}"
        raise DataError(f"expected {expected}, found {found}", file=path, line=line, field=field)
    return value


def load_system_answers(path: str | Path) -> dict[str, SystemAnswer]:
    """Read one system's JSON-lines answers into {query_id: SystemAnswer}; bad lines raise DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found" if not path.exists() else "expected a file", file=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError("not UTF-8; re-save the file as UTF-8", file=path) from None
    answers: dict[str, SystemAnswer] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            raise DataError(f"malformed JSON: {err}", file=path, line=line_no) from None
        if not isinstance(record, dict):
            raise DataError("a line must hold a JSON object", file=path, line=line_no)
        query_id = _require(record, "query_id", str, path, line_no)
        query = _require(record, "query", dict, path, line_no)
        recs = []
        for i, rec in enumerate(_require(record, "recommendations", list, path, line_no)):
            if not isinstance(rec, dict) or not isinstance(rec.get("item_id"), str):
                raise DataError(f"recommendation {i} needs a string item_id", file=path, line=line_no,
                                field="recommendations")
            recs.append(Recommendation(rec["item_id"], str(rec.get("title") or ""),
                                       str(rec.get("explanation") or "").strip()))
        if query_id in answers:
            raise DataError(f"query_id {query_id!r} appears twice", file=path, line=line_no, field="query_id")
        answers[query_id] = SystemAnswer(query_id, str(query.get("title") or ""), tuple(recs))
    if not answers:
        raise DataError("no answers in file", file=path)
    return answers


# ---------------------------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------------------------
def _option_letters(n: int) -> list[str]:
    if n > len(string.ascii_uppercase):
        raise ValueError(f"at most {len(string.ascii_uppercase)} systems can be compared at once, got {n}")
    return list(string.ascii_uppercase[:n])


def _sample_queries(answers: dict[str, dict[str, SystemAnswer]], n_queries: int | None,
                    rng: np.random.Generator) -> list[str]:
    common = set.intersection(*(set(a) for a in answers.values()))
    eligible = sorted(common)  # sorted first so the sample depends on the seed only, not on file order
    if not eligible:
        raise ValueError(f"no query is answered by all systems {sorted(answers)}")
    if n_queries is None:
        n_queries = len(eligible)
    if n_queries < 1 or n_queries > len(eligible):
        raise ValueError(f"n_queries={n_queries} but {len(eligible)} queries are answered by all systems")
    picked = rng.choice(len(eligible), size=n_queries, replace=False)
    return [eligible[i] for i in picked]


def _blinded_rows(answers: dict[str, dict[str, SystemAnswer]], query_ids: list[str], top_k: int,
                  rng: np.random.Generator) -> list[dict]:
    """One row per (query, blinded option, rank). Each row dict also carries `system` (for the key only)."""
    systems = sorted(answers)
    letters = _option_letters(len(systems))
    rows = []
    for q_index, query_id in enumerate(query_ids, start=1):
        shuffled = [systems[i] for i in rng.permutation(len(systems))]
        for letter, system in zip(letters, shuffled):
            answer = answers[system][query_id]
            for rank, rec in enumerate(answer.recommendations[:top_k], start=1):
                rows.append({
                    "row_id": f"{q_index:04d}-{letter}{rank}", "query_id": query_id,
                    "query_title": answer.query_title or answers[systems[0]][query_id].query_title,
                    "option": letter, "rank": rank, "item_id": rec.item_id, "item_title": rec.title,
                    "explanation": rec.explanation or NO_EXPLANATION, "has_explanation": bool(rec.explanation),
                    "system": system})
    return rows


def _write_ratings_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(RATER_COLUMNS)
        for row in rows:
            writer.writerow([row[c] for c in CONTEXT_COLUMNS] + [""] * (len(RATER_COLUMNS) - len(CONTEXT_COLUMNS)))


def _label_studio_tasks(rows: list[dict]) -> list[dict]:
    """Label Studio import format: a JSON list of tasks, each {"data": {...}}; keys are the $variables of the
    labelling config. Label Studio assigns its own task ids; our `row_id` travels in `data`. `position` is a
    display string because Label Studio substitutes a $variable only when it is a tag's whole value."""
    return [{"data": {**{c: row[c] for c in CONTEXT_COLUMNS},
                      "position": f"Row {row['row_id']}: option {row['option']}, recommendation {row['rank']}"}}
            for row in rows]


def label_studio_config(max_score: int = SCORE_RANGE[1]) -> str:
    """Labelling config (XML) with one Choices control per yes/no(/unsure) question and a Rating control.

    The Rating is not `required` in the UI because rows without an explanation have nothing to score; the
    importer reports a missing score on any row that has an explanation."""
    def choices(name: str, question: str, values: tuple[str, ...]) -> str:
        options = "".join(f'<Choice value="{v}"/>' for v in values)
        return (f'  <Header value="{xml_escape(question)}" size="5"/>\n'
                f'  <Choices name="{name}" toName="item" choice="single" showInline="true" required="true">'
                f'{options}</Choices>\n')
    return (
        "<View>\n"
        '  <Header value="$position"/>\n'
        '  <Header value="Query product" size="4"/>\n'
        '  <Text name="query" value="$query_title"/>\n'
        '  <Header value="Recommended product" size="4"/>\n'
        '  <Text name="item" value="$item_title"/>\n'
        '  <Header value="Explanation given to the customer" size="4"/>\n'
        '  <Text name="explanation" value="$explanation"/>\n'
        + choices("coherent", "Coherent complement? (complementary AND (relevant OR compatible))",
                  COHERENT_CHOICES)
        + choices("compatible", "Compatible with the query product?", THREE_WAY_CHOICES)
        + choices("relevant", "Relevant to the query product's context of use?", THREE_WAY_CHOICES)
        + '  <Header value="Explanation: correct and helpful? (1 = wrong or useless, 5 = correct and helpful)" '
          'size="5"/>\n'
        + f'  <Rating name="explanation_score" toName="explanation" maxRating="{max_score}"/>\n'
        "</View>\n")


INSTRUCTIONS = """# Rating complement recommendations: instructions for raters

You will see a **query product** (what a customer is looking at) and products recommended to go *with* it,
each with a short **explanation** written for the customer. Several recommendation lists are shown for the same
query as options **A, B, C ...**; the options come from different sources in a random order that changes
from query to query. Judge every row on its own; do not try to guess where an option comes from.

## What to fill in (one row = one recommended product)

| column | answers | question |
| --- | --- | --- |
| `coherent` | yes / no | Is the recommended product a **coherent complement** of the query product (definition below)? |
| `compatible` | yes / no / unsure | Does it technically or physically work with the query product (fits, same standard, size, mount, model)? `unsure` when the titles do not tell, or the question does not apply (e.g. a bag for a camera). |
| `relevant` | yes / no / unsure | Does it make sense in the same context of use (same activity, style, audience)? |
| `explanation_score` | 1 to 5 | Is the explanation correct and helpful? 1 = wrong or misleading; 2 = mostly wrong; 3 = partly correct or vague; 4 = correct; 5 = correct, specific and useful for deciding. Leave it empty when the explanation reads "(no explanation given)" (a score there is ignored). |
| `comment` | free text | optional |
| `rater` | your name or initials | optional if your file name already says who you are (e.g. `ratings_alice.csv`) |

Do not edit `row_id`, `query_id` or `item_id`: they link your answers back. Keep all rows; you may sort and
filter. Save as CSV (UTF-8).

## Definition: coherent = complementary AND (relevant OR compatible)

- **Complementary**: the recommended product is *used together with* the query product (an accessory,
  consumable, add-on or companion), not a substitute for it (another product of the same kind) and not an
  unrelated product. A product that cannot actually be used with the query product (a battery for another
  camera model) is not complementary.
- **Relevant**: it fits the query product's context of use (same activity, style, audience).
- **Compatible**: it technically works with the query product.

Answer `coherent = yes` only if it is complementary and at least one of relevant/compatible is yes.

## Examples

| query product | recommended product | complementary | compatible | relevant | coherent |
| --- | --- | --- | --- | --- | --- |
| Canon EOS 250D DSLR camera (SD card slot) | SanDisk 64 GB SD card | yes | yes | yes | **yes** |
| Canon EOS 250D DSLR camera | Camera shoulder bag | yes | unsure (does not apply) | yes | **yes** |
| Canon EOS 250D DSLR camera | Nikon D3500 DSLR camera | no (substitute) | - | yes | **no** |
| Canon EOS 250D DSLR camera | Battery NP-FW50 for Sony Alpha | no (cannot be used with it) | no | yes | **no** |
| Canon EOS 250D DSLR camera | Dog chew toy | no (unrelated) | - | no | **no** |
| Trail running shoes | Merino running socks | yes | unsure | yes | **yes** |

Explanation examples for *camera -> SD card*: "Stores your photos; the 250D takes SD cards and 64 GB holds
about 2,000 RAW shots" = 5; "A great accessory for photography" = 3 (true but vague); "Charges the camera
battery" = 1 (wrong).

## Label Studio

If you rate in Label Studio instead of the spreadsheet, the same questions appear as buttons and stars;
your coordinator exports the project as JSON when you are done.
"""


def export_human_eval(system_files: dict[str, str | Path], out_dir: str | Path, n_queries: int | None = 50,
                      top_k: int = 1, seed: int = 0) -> ExportPaths:
    """Write blinded rater files for `n_queries` queries answered by all systems (None = all of them).

    Every (query, system, rank <= top_k) recommendation becomes one row with id "<query#>-<option><rank>",
    e.g. "0007-B2"; option letters are assigned to systems by a fresh seeded permutation per query.
    """
    if not system_files:
        raise ValueError("system_files is empty: give at least one {system name: answers.jsonl}")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    for name in system_files:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"system names must be non-empty strings, got {name!r}")
    answers = {name: load_system_answers(path) for name, path in system_files.items()}
    rng = np.random.default_rng(seed)
    query_ids = _sample_queries(answers, n_queries, rng)
    rows = _blinded_rows(answers, query_ids, top_k, rng)
    if not rows:
        raise ValueError("the sampled queries have no recommendations in any system")

    out_dir = Path(out_dir)
    rater_dir = out_dir / "for_raters"
    rater_dir.mkdir(parents=True, exist_ok=True)
    paths = ExportPaths(ratings_csv=rater_dir / "ratings_template.csv",
                        instructions=rater_dir / "instructions.md",
                        label_studio_tasks=rater_dir / "label_studio_tasks.json",
                        label_studio_config=rater_dir / "label_studio_config.xml",
                        key=out_dir / "key.json")
    _write_ratings_csv(rows, paths.ratings_csv)
    paths.instructions.write_text(INSTRUCTIONS, encoding="utf-8")
    paths.label_studio_tasks.write_text(json.dumps(_label_studio_tasks(rows), indent=1, ensure_ascii=False),
                                        encoding="utf-8")
    paths.label_studio_config.write_text(label_studio_config(), encoding="utf-8")
    key = {
        "format": KEY_FORMAT,
        "export_id": hashlib.sha256(json.dumps([seed, top_k, [r["row_id"] + r["system"] + r["item_id"]
                                                            for r in rows]]).encode()).hexdigest()[:12],
        "seed": seed, "top_k": top_k, "systems": list(system_files),  # reports keep the caller's order
        "system_files": {name: str(path) for name, path in system_files.items()},
        "queries": query_ids,
        "rows": {r["row_id"]: {"query_id": r["query_id"], "option": r["option"], "rank": r["rank"],
                               "item_id": r["item_id"], "system": r["system"],
                               "has_explanation": r["has_explanation"]} for r in rows},
    }
    paths.key.write_text(json.dumps(key, indent=1, ensure_ascii=False), encoding="utf-8")
    return paths


# ---------------------------------------------------------------------------------------------------------------
# Import: reading and validating rater answers
# ---------------------------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------------------------
def _difference_matrix(values: np.ndarray, totals: np.ndarray, level: str) -> np.ndarray:
    """Squared difference delta^2(c, k) between sorted values (Krippendorff 2011, section E)."""
    c, k = np.meshgrid(values, values, indexing="ij")
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            d = ((c - k) / (c + k)) ** 2
        return np.nan_to_num(d)
    if level == "ordinal":
        cum = np.cumsum(totals)
        i, j = np.meshgrid(np.arange(len(values)), np.arange(len(values)), indexing="ij")
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        between = cum[hi] - cum[lo] + totals[lo]  # sum of n_g for g from lo to hi, inclusive
        return (between - (totals[lo] + totals[hi]) / 2) ** 2 * (i != j)
    raise ValueError(f"unknown level {level!r}: use nominal, ordinal, interval or ratio")


def krippendorff_alpha(reliability_data, level: str = "nominal") -> float:
    """Krippendorff's alpha for a (raters x units) array of numeric codes, NaN = not rated.

    alpha = 1 - D_o / D_e with D_o, D_e from the coincidence matrix of pairable values (units rated by at
    least two raters). Returns NaN when undefined (fewer than two pairable values, or no variation at all).
    """
    data = np.asarray(reliability_data, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"reliability data must be 2-D (raters x units), got shape {data.shape}")
    values = np.unique(data[~np.isnan(data)])
    if len(values) == 0:
        return float("nan")
    counts = np.stack([(data == v).sum(axis=0) for v in values], axis=1).astype(float)  # units x values
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    if len(counts) == 0:
        return float("nan")
    weighted = counts / (m - 1)[:, None]
    coincidence = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    totals = coincidence.sum(axis=1)
    n = totals.sum()
    delta2 = _difference_matrix(values, totals, level)
    expected = (np.outer(totals, totals) * delta2).sum()
    if expected == 0:
        return float("nan")
    return float(1.0 - (n - 1) * (coincidence * delta2).sum() / expected)


def bootstrap_ratio(sums: np.ndarray, counts: np.ndarray, resamples: np.ndarray,
                    confidence: float = 0.95) -> dict:
    """Point estimate sum(sums)/sum(counts) and percentile CI over resampled units (rows of `resamples` hold
    unit indices). Units with count 0 contribute nothing."""
    total = counts.sum()
    if total == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = sums[resamples].sum(axis=1) / counts[resamples].sum(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(boot, [tail, 100 - tail])
    return {"value": float(sums.sum() / total), "ci_low": float(low), "ci_high": float(high), "n": int(total)}


def _answers_frame(answers: list[RaterAnswer], key: dict) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(a) for a in answers])
    rows = key["rows"]
    frame["system"] = [rows[r]["system"] for r in frame["row_id"]]
    frame["query_id"] = [rows[r]["query_id"] for r in frame["row_id"]]
    frame["item_id"] = [rows[r]["item_id"] for r in frame["row_id"]]
    frame["rank"] = [rows[r]["rank"] for r in frame["row_id"]]
    frame["coherent_yes"] = (frame["coherent"] == "yes").astype(float)
    frame["compatible_yes"] = (frame["compatible"] == "yes").astype(float)
    frame["relevant_yes"] = (frame["relevant"] == "yes").astype(float)
    frame["explanation_score"] = pd.to_numeric(frame["explanation_score"], errors="coerce").astype(float)
    frame["inconsistent"] = (frame["coherent"] == "yes") & (frame["compatible"] == "no") & \
                            (frame["relevant"] == "no")
    return frame


def _per_row(frame: pd.DataFrame) -> pd.DataFrame:
    """Aggregate raters per row. `coherent_majority` is 1/0 by majority vote, 0.5 on a tie."""
    per_row = frame.groupby("row_id").agg(
        system=("system", "first"), query_id=("query_id", "first"), n_raters=("rater", "size"),
        coherent_mean=("coherent_yes", "mean"), compatible_yes=("compatible_yes", "mean"),
        relevant_yes=("relevant_yes", "mean"), explanation_score=("explanation_score", "mean"))
    per_row["coherent_majority"] = np.sign(per_row["coherent_mean"] - 0.5) * 0.5 + 0.5
    return per_row


def _system_stats(per_row: pd.DataFrame, queries: list[str], resamples: np.ndarray) -> dict:
    query_index = {q: i for i, q in enumerate(queries)}
    stats = {}
    for column, name in (("coherent_majority", "coherent_rate"), ("coherent_mean", "coherent_rate_mean_rating"),
                         ("compatible_yes", "compatible_rate"), ("relevant_yes", "relevant_rate"),
                         ("explanation_score", "explanation_score")):
        valid = per_row[per_row[column].notna()]
        sums, counts = np.zeros(len(queries)), np.zeros(len(queries))
        idx = valid["query_id"].map(query_index).to_numpy(dtype=int)
        np.add.at(sums, idx, valid[column].to_numpy())
        np.add.at(counts, idx, 1.0)
        stats[name] = bootstrap_ratio(sums, counts, resamples)
    stats["n_pairs"] = len(per_row)
    stats["n_queries"] = int(per_row["query_id"].nunique())
    return stats


def _paired_differences(per_row: pd.DataFrame, systems: list[str], queries: list[str],
                        resamples: np.ndarray) -> list[dict]:
    """Coherent-rate difference for every pair of systems, CI from the same query resamples (paired)."""
    query_index = {q: i for i, q in enumerate(queries)}
    sums, counts = {}, {}
    for system in systems:
        rows = per_row[per_row["system"] == system]
        idx = rows["query_id"].map(query_index).to_numpy(dtype=int)
        sums[system], counts[system] = np.zeros(len(queries)), np.zeros(len(queries))
        np.add.at(sums[system], idx, rows["coherent_majority"].to_numpy())
        np.add.at(counts[system], idx, 1.0)
    out = []
    for i, a in enumerate(systems):
        for b in systems[i + 1:]:
            if counts[a].sum() == 0 or counts[b].sum() == 0:
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                boot = (sums[a][resamples].sum(1) / counts[a][resamples].sum(1)
                        - sums[b][resamples].sum(1) / counts[b][resamples].sum(1))
            low, high = np.nanpercentile(boot, [2.5, 97.5])
            out.append({"a": a, "b": b, "coherent_rate_difference": float(sums[a].sum() / counts[a].sum()
                                                                          - sums[b].sum() / counts[b].sum()),
                        "ci_low": float(low), "ci_high": float(high)})
    return out


def _agreement(frame: pd.DataFrame) -> dict:
    raters = sorted(frame["rater"].unique())
    row_ids = sorted(frame["row_id"].unique())

    def matrix(column: str, codes: dict | None = None) -> np.ndarray:
        values = frame[column].map(codes) if codes else frame[column]
        table = pd.DataFrame({"rater": frame["rater"], "row_id": frame["row_id"], "v": values.astype(float)})
        return table.pivot(index="rater", columns="row_id", values="v").reindex(index=raters,
                                                                                   columns=row_ids).to_numpy()

    def clean(x: float) -> float | None:
        return None if np.isnan(x) else round(float(x), 4)

    three_way = {v: i for i, v in enumerate(THREE_WAY_CHOICES)}
    return {
        "n_raters": len(raters),
        "coherent_alpha_nominal": clean(krippendorff_alpha(matrix("coherent", {"no": 0, "yes": 1}))),
        "compatible_alpha_nominal": clean(krippendorff_alpha(matrix("compatible", three_way))),
        "relevant_alpha_nominal": clean(krippendorff_alpha(matrix("relevant", three_way))),
        "explanation_score_alpha_interval": clean(krippendorff_alpha(matrix("explanation_score"), "interval")),
        "explanation_score_alpha_ordinal": clean(krippendorff_alpha(matrix("explanation_score"), "ordinal")),
        "implementation": "numpy (eccr.serve.human_eval.krippendorff_alpha), Krippendorff 2011",
    }


def _fmt(stat: dict, digits: int = 3) -> str:
    if stat["value"] is None:
        return "-"
    return f"{stat['value']:.{digits}f} [{stat['ci_low']:.{digits}f}, {stat['ci_high']:.{digits}f}]"


def summary_markdown(summary: dict) -> str:
    lines = ["# Human evaluation", "",
             (f"{summary['n_queries']} queries, {summary['n_rows']} blinded rows, {summary['n_answers']} answers "
              f"from {summary['agreement']['n_raters']} rater(s). Values with bootstrap 95% CIs "
              f"({summary['bootstrap']['resamples']} resamples of queries, seed {summary['bootstrap']['seed']})."),
             "Coherent rate = share of pairs judged coherent by the raters' majority (ties count 1/2).", "",
             "| system | pairs | coherent rate | compatible rate | relevant rate | explanation score (1-5) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for system, s in summary["systems"].items():
        lines.append(f"| {system} | {s['n_pairs']} | {_fmt(s['coherent_rate'])} | {_fmt(s['compatible_rate'])} "
                     f"| {_fmt(s['relevant_rate'])} | {_fmt(s['explanation_score'], 2)} |")
    if summary["differences"]:
        lines += ["", "| coherent-rate difference | value [95% CI] |", "| --- | --- |"]
        for d in summary["differences"]:
            lines.append(f"| {d['a']} - {d['b']} | {d['coherent_rate_difference']:+.3f} "
                         f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] |")
    ag = summary["agreement"]
    lines += ["", "Inter-rater agreement (Krippendorff's alpha; 1 = perfect, 0 = chance):", "",
              "| answer | level | alpha |", "| --- | --- | --- |",
              f"| coherent | nominal | {ag['coherent_alpha_nominal']} |",
              f"| compatible | nominal | {ag['compatible_alpha_nominal']} |",
              f"| relevant | nominal | {ag['relevant_alpha_nominal']} |",
              f"| explanation score | interval | {ag['explanation_score_alpha_interval']} |",
              f"| explanation score | ordinal | {ag['explanation_score_alpha_ordinal']} |", ""]
    checks = summary["checks"]
    lines.append(f"Checks: {checks['unrated_rows']} row(s) unrated, {checks['single_rated_rows']} rated by one "
                 f"rater only, {checks['inconsistent_answers']} answer(s) say coherent although both compatible "
                 f"and relevant are 'no'.")
    return "\n".join(lines) + "\n"


def plot_summary(summary: dict, path: str | Path) -> Path:
    """Bar chart: coherent rate and mean explanation score per system with 95% CI error bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    systems = list(summary["systems"])
    fig = Figure(figsize=(4 + 1.2 * len(systems), 3.8))
    FigureCanvasAgg(fig)
    panels = (("coherent_rate", "coherent rate", (0, 1)), ("explanation_score", "explanation score (1-5)", (0, 5)))
    for i, (metric, label, limits) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, 2, i)
        stats = [summary["systems"][s][metric] for s in systems]
        values = [s["value"] if s["value"] is not None else 0.0 for s in stats]
        errors = np.array([[v - (s["ci_low"] if s["ci_low"] is not None else v) for v, s in zip(values, stats)],
                           [(s["ci_high"] if s["ci_high"] is not None else v) - v for v, s in zip(values, stats)]])
        ax.bar(range(len(systems)), values, yerr=errors, capsize=4, color="tab:blue", alpha=0.8)
        ax.set_xticks(range(len(systems)), systems, rotation=20, ha="right")
        ax.set_ylim(*limits)
        ax.set_title(label)
    fig.suptitle("Human evaluation (95% bootstrap CI)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path


def import_human_eval(answer_files: list[str | Path], key_file: str | Path, out_dir: str | Path,
                      bootstrap_resamples: int = 2000, seed: int = 0) -> dict:
    """Validate and un-blind rater answers, then write summary.json, summary.md, summary.png and answers.csv
    (one un-blinded row per answer) to `out_dir`. Returns the summary dict (= summary.json)."""
    if bootstrap_resamples < 100:
        raise ValueError(f"bootstrap_resamples must be >= 100, got {bootstrap_resamples}")
    key = load_key(key_file)
    frame = _answers_frame(read_answers(answer_files, key), key)
    per_row = _per_row(frame)
    queries = list(key["queries"])
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, len(queries), size=(bootstrap_resamples, len(queries)))
    systems = list(key["systems"])
    summary = {
        "export_id": key.get("export_id"), "n_queries": len(queries), "n_rows": len(key["rows"]),
        "n_answers": len(frame),
        "raters": {r: int(n) for r, n in frame["rater"].value_counts().sort_index().items()},
        "systems": {s: _system_stats(per_row[per_row["system"] == s], queries, resamples)
                    for s in systems if (per_row["system"] == s).any()},
        "differences": _paired_differences(per_row, systems, queries, resamples),
        "agreement": _agreement(frame),
        "checks": {"unrated_rows": len(set(key["rows"]) - set(per_row.index)),
                   "single_rated_rows": int((per_row["n_raters"] == 1).sum()),
                   "inconsistent_answers": int(frame["inconsistent"].sum())},
        "bootstrap": {"unit": "query", "resamples": bootstrap_resamples, "seed": seed, "confidence": 0.95},
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (out_dir / "summary.md").write_text(summary_markdown(summary), encoding="utf-8")
    plot_summary(summary, out_dir / "summary.png")
    frame.drop(columns=["coherent_yes", "compatible_yes", "relevant_yes"]).to_csv(out_dir / "answers.csv",
                                                                                  index=False)
    return summary
