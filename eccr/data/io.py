"""Reading tables with errors that name the file, line and field.

Every loader goes through `read_table`, so missing files, missing columns, a wrong delimiter and non-UTF-8
bytes are reported the same way everywhere. Only CSV, JSON lines and Parquet are read: no pickles.

The resumable jobs (`eccr explain` shards, `eccr distill` output) read what they already wrote with
`read_resumable_jsonl`: a torn last line is dropped, a bad line before it is an error.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from eccr.data.schema import DataError, DropLog

_DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}


def _decode_utf8(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(f"not UTF-8: byte 0x{raw[err.start]:02x} at offset {err.start}; re-save the file as UTF-8",
                        file=path, line=line) from None


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise DataError("file not found", file=path)
    if path.is_dir():
        raise DataError("expected a file, found a directory", file=path)


def _header_problem(path: Path, header: str, required: tuple[str, ...], sep: str) -> DataError:
    for other, name in _DELIMITERS.items():
        if other != sep and other in header and all(c in header.split(other) for c in required):
            return DataError(f"wrong delimiter: the header is {name}-separated but a "
                             f"{_DELIMITERS.get(sep, repr(sep))}-separated file was expected", file=path, line=1)
    found = header.split(sep)
    missing = [c for c in required if c not in found]
    return DataError(f"missing column(s) {missing}; the header has {found}", file=path, line=1,
                     field=missing[0] if missing else None)


def read_csv(path: str | Path, required: tuple[str, ...] = (), sep: str = ",",
             dtype=str) -> pd.DataFrame:
    """Read a delimited text file; every value as a string unless `dtype` says otherwise.

    The returned frame has a `_line` column: the 1-based line of each row in the file (header = line 1),
    for error messages of later checks.
    """
    path = Path(path)
    _check_exists(path)
    text = _decode_utf8(path, path.read_bytes())
    if not text.strip():
        raise DataError("file is empty", file=path)
    header = text.split("\n", 1)[0].rstrip("\r")
    if required and not all(c in header.split(sep) for c in required):
        raise _header_problem(path, header, required, sep)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=dtype, keep_default_na=False,
                            na_values=[], engine="c")
    except pd.errors.ParserError as err:
        raise DataError(f"cannot parse: {err}", file=path) from None
    # Physical line numbers: quoted fields may span lines, so count newlines per parsed record.
    frame["_line"] = _record_lines(text, len(frame))
    return frame


def _record_lines(text: str, n_rows: int) -> list[int]:
    """Line number (1-based) where each data record starts, honouring quoted newlines."""
    n_newlines = text.count("\n")
    if n_newlines - (1 if text.endswith("\n") else 0) == n_rows:  # one record per line: the common case
        return list(range(2, n_rows + 2))
    lines, in_quotes, line_no, at_record_start = [], False, 1, False
    for ch in text:
        if at_record_start:
            lines.append(line_no)
            at_record_start = False
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == "\n":
            line_no += 1
            if not in_quotes:
                at_record_start = True
    if len(lines) < n_rows:  # blank lines skipped by the parser can shift this; pad, never crash
        lines += list(range(line_no, line_no + n_rows - len(lines)))
    return lines[:n_rows]


def read_jsonl(path: str | Path, drops: DropLog | None = None) -> pd.DataFrame:
    """Read JSON lines. A malformed line raises, or is dropped and counted when `drops` is given."""
    path = Path(path)
    _check_exists(path)
    text = _decode_utf8(path, path.read_bytes())
    records = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("a line must hold a JSON object")  # noqa: TRY004 - reported as a DataError below
        except ValueError as err:
            if drops is None:
                raise DataError(f"malformed JSON: {err}", file=path, line=line_no) from None
            drops.record("malformed JSON line", example=f"{path.name}:{line_no}")
            continue
        rec["_line"] = line_no
        records.append(rec)
    if not records:
        raise DataError("no records", file=path)
    return pd.DataFrame.from_records(records)


def read_resumable_jsonl(path: str | Path, required: tuple[str, ...] = (), repair: bool = False) -> list[dict]:
    """Records of an append-only JSON-lines file that a killed job may have left mid-write, in file order.

    One rule for every resumable output (`eccr explain` shards, `eccr distill` explanations):
    - no file yet: no records;
    - a last line without its newline is torn (the job was killed while writing it): it is dropped, so its
      record is redone; with `repair` (the resuming writer) it is also cut off the file, so appending goes on
      from a clean line end;
    - every complete (newline-terminated) line must be a JSON object holding the `required` fields; anything
      else raises DataError naming the file, line and field: the file was edited or damaged, and resuming past
      the line would silently lose or repeat records;
    - blank lines are skipped.
    Lines are split on "\n" only, so a U+2028 inside a JSON string (written with ensure_ascii=False) is kept.
    """
    path = Path(path)
    if not path.exists():
        return []
    _check_exists(path)
    raw = path.read_bytes()
    complete = raw[: raw.rfind(b"\n") + 1]  # up to the last newline; b"" when there is none
    if repair and len(complete) != len(raw):
        with path.open("r+b") as fh:
            fh.truncate(len(complete))
    records = []
    for line_no, line in enumerate(_decode_utf8(path, complete).split("\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            raise DataError(f"malformed JSON before the last line ({err}); fix or remove the line to resume",
                            file=path, line=line_no) from None
        if not isinstance(record, dict):
            raise DataError("a line must hold a JSON object", file=path, line=line_no)
        missing = [f for f in required if f not in record]
        if missing:
            raise DataError(f"missing field; each line needs {', '.join(required)}", file=path, line=line_no,
                            field=missing[0])
        records.append(record)
    return records


def read_table(path: str | Path, required: tuple[str, ...] = (), sep: str | None = None,
               drops: DropLog | None = None) -> pd.DataFrame:
    """CSV/TSV, JSON lines or Parquet by file extension, with column checks."""
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        frame = read_jsonl(path, drops)
    elif suffix == ".parquet":
        _check_exists(path)
        frame = pd.read_parquet(path)
        frame["_line"] = range(1, len(frame) + 1)  # Parquet has rows, not lines: row number
    else:
        frame = read_csv(path, required, sep=sep or ("\t" if suffix == ".tsv" else ","))
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; found {[c for c in frame.columns if c != '_line']}",
                        file=path, field=missing[0])
    return frame


def parse_timestamps(values: pd.Series, path: str | Path, field: str, lines: pd.Series,
                     drops: DropLog | None = None) -> pd.Series:
    """Unix seconds (int) or ISO dates -> int64 unix seconds. Unparseable values raise or are counted."""
    as_num = pd.to_numeric(values, errors="coerce")
    result = as_num.copy()
    text_rows = as_num.isna() & values.astype(str).str.strip().ne("")
    if text_rows.any():
        parsed = pd.to_datetime(values[text_rows], errors="coerce", utc=True, format="mixed")
        result[text_rows] = (parsed - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
    bad = result.isna() & values.astype(str).str.strip().ne("")
    if bad.any():
        first = bad.idxmax()
        if drops is None:
            raise DataError(f"unparseable timestamp {values[first]!r}", file=path, line=int(lines[first]),
                            field=field)
        drops.record(f"unparseable {field}", int(bad.sum()), example=f"{Path(path).name}:{int(lines[first])}")
    return result
