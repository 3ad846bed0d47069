"""Blinded export for raters: read the systems' answer files, sample queries, shuffle options per query.

`export_human_eval` reads the answer files of several systems (JSON lines written by `eccr explain`, one query per
line), samples queries answered by every system, and writes for each query the systems' top-k recommendations
under per-query shuffled option letters (A, B, C ...), so raters cannot tell which system made which
recommendation. Rater files go to `<out>/for_raters/` (a CSV template, instructions, a Label Studio task file
and labelling config); the un-blinding key goes to `<out>/key.json`.

The answer vocabulary below is the contract between the CSV, the Label Studio config and the importer.
"""
from __future__ import annotations

import csv
import hashlib
import json
import string
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import numpy as np

from eccr.data.schema import DataError

ANSWER_FIELDS = ("coherent", "compatible", "relevant", "explanation_score")
COHERENT_CHOICES = ("yes", "no")
THREE_WAY_CHOICES = ("yes", "no", "unsure")
SCORE_RANGE = (1, 5)
NO_EXPLANATION = "(no explanation given)"
KEY_FORMAT = "eccr-human-eval-key/1"

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
class ExplainedItem:
    """One recommended item of a system's answer as raters see it: id, title and the explanation shown."""

    item_id: str
    title: str
    explanation: str


@dataclass(frozen=True)
class SystemAnswer:
    """One line of an `eccr explain` output file: a query and the system's recommendations, best first."""

    query_id: str
    query_title: str
    recommendations: tuple[ExplainedItem, ...]



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
            recs.append(ExplainedItem(rec["item_id"], str(rec.get("title") or ""),
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
