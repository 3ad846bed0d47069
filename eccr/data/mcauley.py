"""Loader for McAuley's Amazon product metadata (one product per line, plain or gzip).

Two releases are read:
- 2014 (McAuley et al., SIGIR 2015, "Image-based recommendations on styles and substitutes"): `asin`, `title`,
  `categories` [[path], ...], `brand`, `description` (str), `related` {also_bought, also_viewed,
  bought_together, buy_after_viewing}. These dumps are usually Python literals (single quotes), not JSON, so a line
  that is not JSON is parsed with `ast.literal_eval` (literals only: never `eval`).
- 2018 (Ni, Li & McAuley, EMNLP 2019): `asin`, `title`, `category` [levels], `brand`, `description` [str],
  `also_buy`, `also_view`.

Related lists become directed ComplementPairs: also_bought and bought_together are complement evidence,
also_viewed pairs mark substitutes (kept, so later stages can use them as hard negatives). Targets that have no
line of their own are kept as untitled catalogue items and counted. There is no behaviour in these files.
"""
from __future__ import annotations

import ast
import gzip
import html
import json
import re
from pathlib import Path

import pandas as pd

from eccr.data.categories import primary_path
from eccr.data.schema import Catalog, ComplementPairs, DataError, Dataset, DropLog, empty_pairs

# source field -> pair kind; 2014 fields sit under `related`, 2018 fields at the top level
RELATED_KINDS_2014 = {"also_bought": "also_bought", "bought_together": "bought_together",
                      "also_viewed": "also_viewed", "buy_after_viewing": "bought_after"}
RELATED_KINDS_2018 = {"also_buy": "also_bought", "also_view": "also_viewed", "bought_together": "bought_together"}


def _open_text(path: Path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


# Outside strings: a Python string literal (as repr() writes it) or True/False/None.
_PY_TOKEN = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|\b(True|False|None)\b""")
# Inside a string body: an escape sequence or a bare double quote.
_PY_STRING_PART = re.compile(r'\\x([0-9a-fA-F]{2})|\\U([0-9a-fA-F]{8})|\\(.)|"', re.DOTALL)
_JSON_WORDS = {"True": "true", "False": "false", "None": "null"}
_SHARED_ESCAPES = set('\\"/bfnrtu')  # escapes meaning the same in Python and JSON


def _string_part_as_json(match: re.Match) -> str:
    hex2, hex8, escaped = match.groups()
    if hex2 is not None:
        return "\\u00" + hex2
    if hex8 is not None:
        return chr(int(hex8, 16))
    if escaped is None:          # a bare " inside a single-quoted string
        return '\\"'
    if escaped == "'":
        return "'"
    if escaped in _SHARED_ESCAPES:
        return "\\" + escaped
    raise ValueError(f"escape \\{escaped} has no JSON equivalent")  # falls back to ast.literal_eval


def _python_token_as_json(match: re.Match) -> str:
    single, double, word = match.groups()
    if word is not None:
        return _JSON_WORDS[word]
    body = single if single is not None else double
    if "\\" in body or '"' in body:
        body = _PY_STRING_PART.sub(_string_part_as_json, body)
    return '"' + body + '"'


def _python_literal_as_json(line: str) -> str:
    """Rewrite a repr()-style dict as JSON text, for json.loads (quicker than ast.literal_eval on the 2014 dumps).

    Anything it cannot translate exactly raises ValueError or fails json.loads, and the caller falls back to
    ast.literal_eval."""
    return _PY_TOKEN.sub(_python_token_as_json, line)


def _parse_record(line: str) -> dict:
    """A JSON object, or a Python dict literal as in the 2014 dumps. Raises ValueError if neither."""
    try:
        record = json.loads(line)
    except ValueError:
        try:
            record = json.loads(_python_literal_as_json(line))
        except ValueError:
            try:
                record = ast.literal_eval(line)
            except (ValueError, SyntaxError, MemoryError, RecursionError) as err:
                raise ValueError(f"neither JSON nor a Python dict literal ({type(err).__name__})") from None
    if not isinstance(record, dict):
        raise ValueError("a line must hold one object")  # noqa: TRY004 (callers count ValueErrors as bad lines)
    return record


def _iter_records(path: Path, drops: DropLog):
    """(line number, record) for each parseable line; malformed lines are counted in `drops`."""
    try:
        with _open_text(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield line_no, _parse_record(line)
                except ValueError:
                    drops.record("malformed metadata line", example=f"{path.name}:{line_no}")
    except UnicodeDecodeError as err:
        raise DataError(f"not UTF-8 ({err.reason} at byte 0x{err.object[err.start]:02x}); "
                        "re-save the file as UTF-8", file=path) from None
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read: {err}", file=path) from None


def _text(value) -> str:
    """A string field that may be missing, a list of paragraphs (2018) or a plain string (2014)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value if v).strip()
    return html.unescape(str(value)).strip()


def _category_paths(record: dict) -> list[list[str]]:
    raw = record.get("categories", record.get("category"))
    if not raw or not isinstance(raw, (list, tuple)):
        return []
    nested = raw if all(isinstance(p, (list, tuple)) for p in raw) else [raw]  # 2018: one flat path
    paths = [[html.unescape(str(level)).strip() for level in p if str(level).strip()] for p in nested]
    return [p for p in paths if p]


def _related(record: dict) -> list[tuple[str, str]]:
    """(kind, target asin) for every related product listed on the record."""
    out = []
    related = record.get("related")
    sources = [(related, RELATED_KINDS_2014)] if isinstance(related, dict) else []
    sources.append((record, RELATED_KINDS_2018))
    for holder, kinds in sources:
        for fld, kind in kinds.items():
            targets = holder.get(fld)
            if isinstance(targets, (list, tuple)):
                out.extend((kind, str(t).strip()) for t in targets if str(t).strip())
    return out


def load_mcauley(path: str | Path, name: str | None = None) -> Dataset:
    """Read a McAuley metadata file (2014 or 2018 format, .json/.jsonl, optionally .gz) into a Dataset."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=path)
    if path.is_dir():
        raise DataError("expected a metadata file (JSON lines), found a directory", file=path)
    drops = DropLog()
    items: dict[str, dict] = {}
    sources, targets, kinds = [], [], []
    for line_no, record in _iter_records(path, drops):
        asin = str(record.get("asin") or "").strip()
        where = f"{path.name}:{line_no}"
        if not asin:
            drops.record("metadata line without asin", example=where)
            continue
        if asin in items:
            drops.record("duplicate asin (kept first)", example=where)
            continue
        paths = _category_paths(record)
        title = _text(record.get("title"))
        if not title:
            drops.record("product without title (kept untitled)", example=where)
        items[asin] = {"item_id": asin, "title": title, "category": primary_path(paths),
                       "brand": _text(record.get("brand")), "text": _text(record.get("description"))}
        for kind, target in _related(record):
            if target != asin:
                sources.append(asin)
                targets.append(target)
                kinds.append(kind)
    if not items:
        raise DataError("no product records (expected one JSON object or Python dict with 'asin' per line)",
                        file=path)

    outside = sorted(set(targets) - set(items))
    if outside:
        drops.record("related product without its own line (kept as untitled item)", len(outside),
                     example=outside[0])
    rows = list(items.values()) + [{"item_id": a, "title": "", "category": [], "brand": "", "text": ""}
                                   for a in outside]
    catalog = Catalog(pd.DataFrame(rows, columns=["item_id", "title", "category", "brand", "text"]))
    pairs = _pairs(sources, targets, kinds, drops)
    return Dataset(name=name or _dataset_name(path), catalog=catalog, pairs=pairs, dropped=drops,
                   source=f"mcauley:{path}")


def _pairs(sources: list[str], targets: list[str], kinds: list[str], drops: DropLog) -> ComplementPairs:
    if not sources:
        return empty_pairs()
    frame = pd.DataFrame({"source": sources, "target": targets, "kind": kinds, "group_id": "", "intent": ""})
    dup = frame.duplicated(["source", "target", "kind"])
    if dup.any():
        drops.record("repeated related product on one line", int(dup.sum()))
    return ComplementPairs(frame[~dup])


def _dataset_name(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", ".jsonl", ".json", ".ndjson"):
        stem = stem.removesuffix(suffix)
    return stem.removeprefix("meta_") or "mcauley"
