"""Generic loader: your own CSV/TSV/JSONL/Parquet tables plus a small spec that maps their columns to ours.

A spec is JSON or TOML; paths are relative to the spec file. Only `catalog` is required:

    {"format": "generic", "name": "myshop",
     "catalog":   {"path": "items.csv", "columns": {"item_id": "sku", "title": "name", "category": "cat_path",
                   "brand": "brand", "text": "description"}, "category_separator": " > "},
     "behaviour": {"path": "orders.parquet", "columns": {"user_id": "customer", "session_id": "order",
                   "item_id": "sku", "timestamp": "ts"}},
     "pairs":     {"path": "pairs.csv", "columns": {"source": "a", "target": "b", "kind": "type"},
                   "kind": "co_purchase"},
     "bundles":   {"path": "bundles.jsonl", "columns": {"bundle_id": "basket", "item_id": "sku",
                   "intent": "why"}}}

Which fields must be mapped is in REQUIRED_FIELDS; unmapped optional fields get their empty value ("" or no
timestamp). A section may set `"sep"` (e.g. "\\t") for delimited files with another extension. A mapped column that
is missing from its file raises a DataError naming the file, the column and the spec field. Rows with an empty
id or an unparseable timestamp are dropped and counted in `Dataset.dropped`; items that occur in behaviour,
pairs or bundles but not in the catalogue are added untitled and counted.

A folder holding catalog.parquet (with optional behaviour/bundles/pairs.parquet) in our own column names — the
layout of the synthetic generator and the demo — loads without a spec.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import tomllib

from eccr.data.categories import parse_category_paths, parse_category_string, primary_path
from eccr.data.io import parse_timestamps, read_table
from eccr.data.schema import (
    BEHAVIOUR_COLUMNS,
    BUNDLE_COLUMNS,
    CATALOG_COLUMNS,
    NO_TIMESTAMP,
    PAIR_COLUMNS,
    Behaviour,
    Bundles,
    Catalog,
    ComplementPairs,
    DataError,
    Dataset,
    DropLog,
    empty_behaviour,
    empty_bundles,
    empty_pairs,
)

SECTION_FIELDS = {"catalog": CATALOG_COLUMNS, "behaviour": BEHAVIOUR_COLUMNS, "bundles": BUNDLE_COLUMNS,
                  "pairs": PAIR_COLUMNS}
REQUIRED_FIELDS = {"catalog": ("item_id",), "behaviour": ("item_id",), "bundles": ("bundle_id", "item_id"),
                   "pairs": ("source", "target")}
PARQUET_LAYOUT = {"catalog": "catalog.parquet", "behaviour": "behaviour.parquet",
                  "bundles": "bundles.parquet", "pairs": "pairs.parquet"}
DEFAULT_PAIR_KIND = "co_purchase"


def read_spec(spec_path: str | Path) -> dict:
    """Parse a JSON or TOML spec and check its shape (sections, mapped fields)."""
    spec_path = Path(spec_path)
    if not spec_path.is_file():
        raise DataError("spec file not found", file=spec_path)
    try:
        text = spec_path.read_text(encoding="utf-8")
        spec = tomllib.loads(text) if spec_path.suffix.lower() == ".toml" else json.loads(text)
    except UnicodeDecodeError:
        raise DataError("spec is not UTF-8", file=spec_path) from None
    except json.JSONDecodeError as err:
        raise DataError(f"spec is not valid JSON: {err.msg}", file=spec_path, line=err.lineno) from None
    except tomllib.TOMLDecodeError as err:
        raise DataError(f"spec is not valid TOML: {err}", file=spec_path) from None
    if not isinstance(spec, dict):
        raise DataError("spec must be an object/table", file=spec_path)
    if spec.get("format", "generic") != "generic":
        raise DataError(f"spec format is {spec['format']!r}, expected 'generic'", file=spec_path, field="format")
    unknown = set(spec) - set(SECTION_FIELDS) - {"format", "name"}
    if unknown:
        raise DataError(f"unknown spec keys {sorted(unknown)}; expected {sorted(SECTION_FIELDS)}, format, name",
                        file=spec_path)
    if "catalog" not in spec:
        raise DataError("spec has no 'catalog' section", file=spec_path, field="catalog")
    for section in SECTION_FIELDS:
        if section in spec:
            _check_section(spec_path, section, spec[section])
    return spec


def _check_section(spec_path: Path, section: str, body) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("path"), str):
        raise DataError(f"section '{section}' needs a 'path' (file relative to the spec)", file=spec_path,
                        field=f"{section}.path")
    columns = body.get("columns", {})
    if not isinstance(columns, dict):
        raise DataError(f"'{section}.columns' must map our field names to your column names", file=spec_path,
                        field=f"{section}.columns")
    unknown = set(columns) - set(SECTION_FIELDS[section])
    if unknown:
        raise DataError(f"'{section}.columns' maps unknown fields {sorted(unknown)}; "
                        f"known: {list(SECTION_FIELDS[section])}", file=spec_path, field=f"{section}.columns")
    for fld in REQUIRED_FIELDS[section]:
        if fld not in columns:
            raise DataError(f"'{section}.columns' must map '{fld}'", file=spec_path, field=f"{section}.columns.{fld}")


def _read_section(spec_path: Path, section: str, body: dict, drops: DropLog) -> tuple[pd.DataFrame, Path]:
    """The section's table renamed to our field names (only mapped fields), plus `_line`."""
    path = (spec_path.parent / body["path"]).resolve()
    columns: dict[str, str] = body.get("columns", {})
    sep = body.get("sep")
    try:
        frame = read_table(path, required=tuple(columns.values()), sep=sep, drops=drops)
    except DataError as err:
        reverse = {v: k for k, v in columns.items()}
        if err.field in reverse:
            raise DataError(f"column {err.field!r} not found (the spec maps {section}.{reverse[err.field]} to it; "
                            f"see {spec_path.name})", file=err.file, line=err.line, field=err.field) from None
        raise
    out = pd.DataFrame({ours: frame[theirs].values for ours, theirs in columns.items()}, index=frame.index)
    out["_line"] = frame["_line"].values
    return out, path


def _as_text(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())


def _drop_blank_ids(frame: pd.DataFrame, fields: tuple[str, ...], path: Path, drops: DropLog) -> pd.DataFrame:
    for fld in fields:
        blank = frame[fld].eq("")
        if blank.any():
            drops.record(f"row with empty {fld}", int(blank.sum()),
                         example=f"{path.name}:{int(frame.loc[blank, '_line'].iloc[0])}")
            frame = frame[~blank]
    return frame


def _timestamps(frame: pd.DataFrame, path: Path, drops: DropLog) -> pd.DataFrame:
    """Parse `timestamp` when mapped (rows that fail are dropped and counted), else NO_TIMESTAMP."""
    if "timestamp" not in frame:
        return frame.assign(timestamp=NO_TIMESTAMP)
    raw = frame["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):  # Parquet datetimes
        seconds = (pd.to_datetime(raw, utc=True) - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
        return frame.assign(timestamp=seconds.fillna(NO_TIMESTAMP).astype(np.int64))
    blank = raw.isna() | raw.astype(str).str.strip().eq("")
    parsed = parse_timestamps(raw.astype(object).where(~blank, ""), path, "timestamp", frame["_line"], drops)
    bad = parsed.isna() & ~blank  # counted by parse_timestamps
    return frame[~bad].assign(timestamp=parsed[~bad].fillna(NO_TIMESTAMP).astype(np.int64))


def _categories(values: pd.Series, separator: str) -> list[list[str]]:
    out = []
    for v in values:
        if isinstance(v, (list, tuple, np.ndarray)):
            out.append([str(level).strip() for level in v if str(level).strip()])
        elif not isinstance(v, str) or not v.strip():
            out.append([])
        elif v.strip().startswith("["):
            out.append(primary_path(parse_category_paths(v)))
        else:
            out.append(parse_category_string(v, separator))
    return out


def _catalog(spec_path: Path, body: dict, drops: DropLog) -> Catalog:
    frame, path = _read_section(spec_path, "catalog", body, drops)
    frame["item_id"] = _as_text(frame["item_id"])
    frame = _drop_blank_ids(frame, ("item_id",), path, drops)
    dup = frame["item_id"].duplicated()
    if dup.any():
        drops.record("duplicate item_id in catalog (kept first)", int(dup.sum()),
                     example=f"{path.name}:{int(frame.loc[dup, '_line'].iloc[0])}")
        frame = frame[~dup]
    items = pd.DataFrame({"item_id": frame["item_id"].values})
    for fld in ("title", "brand", "text"):
        items[fld] = _as_text(frame[fld]).values if fld in frame else ""
    untitled = items["title"].eq("")
    if "title" in frame and untitled.any():
        drops.record("catalog item with empty title (kept untitled)", int(untitled.sum()),
                     example=f"{path.name}:{int(frame['_line'].values[untitled.values.argmax()])}")
    items["category"] = (_categories(frame["category"], body.get("category_separator", " > "))
                         if "category" in frame else [[] for _ in range(len(items))])
    return Catalog(items)


def _behaviour(spec_path: Path, body: dict, drops: DropLog) -> Behaviour:
    frame, path = _read_section(spec_path, "behaviour", body, drops)
    if "user_id" not in frame and "session_id" not in frame:
        raise DataError("behaviour.columns must map user_id or session_id (or both)", file=spec_path,
                        field="behaviour.columns")
    for fld in ("user_id", "session_id", "item_id"):
        if fld in frame:
            frame[fld] = _as_text(frame[fld])
    frame = _drop_blank_ids(frame, tuple(f for f in ("user_id", "session_id", "item_id") if f in frame), path, drops)
    frame = _timestamps(frame, path, drops)
    if "session_id" not in frame:  # one session per user and timestamp (e.g. one order day)
        frame["session_id"] = frame["user_id"] + "@" + frame["timestamp"].astype(str)
    if "user_id" not in frame:
        frame["user_id"] = "session:" + frame["session_id"]
    return Behaviour(frame[list(BEHAVIOUR_COLUMNS)])


def _bundles(spec_path: Path, body: dict, drops: DropLog) -> Bundles:
    frame, path = _read_section(spec_path, "bundles", body, drops)
    for fld in ("bundle_id", "session_id", "item_id", "intent"):
        if fld in frame:
            frame[fld] = _as_text(frame[fld])
    frame = _drop_blank_ids(frame, ("bundle_id", "item_id"), path, drops)
    frame = _timestamps(frame, path, drops)
    if "session_id" not in frame:
        frame["session_id"] = frame["bundle_id"]
    if "intent" not in frame:
        frame["intent"] = ""
    dup = frame.duplicated(["bundle_id", "item_id"])
    if dup.any():
        drops.record("duplicate bundle item row", int(dup.sum()),
                     example=f"{path.name}:{int(frame.loc[dup, '_line'].iloc[0])}")
        frame = frame[~dup]
    return Bundles(frame[list(BUNDLE_COLUMNS)])


def _pairs(spec_path: Path, body: dict, drops: DropLog) -> ComplementPairs:
    frame, path = _read_section(spec_path, "pairs", body, drops)
    for fld in PAIR_COLUMNS:
        if fld in frame:
            frame[fld] = _as_text(frame[fld])
    frame = _drop_blank_ids(frame, ("source", "target"), path, drops)
    if "kind" not in frame:
        frame["kind"] = str(body.get("kind", DEFAULT_PAIR_KIND))
    frame["kind"] = frame["kind"].where(frame["kind"].ne(""), str(body.get("kind", DEFAULT_PAIR_KIND)))
    for fld in ("group_id", "intent"):
        if fld not in frame:
            frame[fld] = ""
    self_pair = frame["source"].eq(frame["target"])
    if self_pair.any():
        drops.record("pair of an item with itself", int(self_pair.sum()),
                     example=f"{path.name}:{int(frame.loc[self_pair, '_line'].iloc[0])}")
        frame = frame[~self_pair]
    return ComplementPairs(frame[list(PAIR_COLUMNS)])


def _add_missing_items(catalog: Catalog, referenced: list[pd.Series], drops: DropLog) -> Catalog:
    known = set(catalog.items["item_id"])
    extra = sorted({i for series in referenced for i in series} - known)
    if not extra:
        return catalog
    drops.record("item referenced but not in the catalog (kept untitled)", len(extra), example=extra[0])
    return Catalog(pd.concat([catalog.items, pd.DataFrame(
        {"item_id": extra, "title": "", "category": [[] for _ in extra], "brand": "", "text": ""})],
        ignore_index=True))


def load_generic(spec_path: str | Path, name: str | None = None) -> Dataset:
    """Load tables described by a generic spec (JSON/TOML), or a folder in our Parquet layout."""
    spec_path = Path(spec_path)
    if spec_path.is_dir():
        if (spec_path / "spec.json").exists():
            spec_path = spec_path / "spec.json"
        elif (spec_path / "spec.toml").exists():
            spec_path = spec_path / "spec.toml"
        else:
            return load_parquet_folder(spec_path, name=name)
    spec = read_spec(spec_path)
    return _load_sections(spec_path, spec, name=name or str(spec.get("name") or spec_path.stem),
                          source=f"generic:{spec_path}")


def _load_sections(spec_path: Path, sections: dict, name: str, source: str) -> Dataset:
    drops = DropLog()
    catalog = _catalog(spec_path, sections["catalog"], drops)
    behaviour = _behaviour(spec_path, sections["behaviour"], drops) if "behaviour" in sections else empty_behaviour()
    bundles = _bundles(spec_path, sections["bundles"], drops) if "bundles" in sections else empty_bundles()
    pairs = _pairs(spec_path, sections["pairs"], drops) if "pairs" in sections else empty_pairs()
    catalog = _add_missing_items(catalog, [behaviour.events["item_id"], bundles.rows["item_id"],
                                           pairs.rows["source"], pairs.rows["target"]], drops)
    return Dataset(name=name, catalog=catalog, behaviour=behaviour, bundles=bundles, pairs=pairs, dropped=drops,
                   source=source)


def load_parquet_folder(folder: str | Path, name: str | None = None) -> Dataset:
    """A folder with catalog.parquet and optional behaviour/bundles/pairs.parquet in schema column names, as
    eccr.data.synth.write_dataset_parquet writes it (the synthetic generator and the demo)."""
    from eccr.data.synth import read_dataset_parquet

    folder = Path(folder)
    if not (folder / PARQUET_LAYOUT["catalog"]).exists():
        raise DataError(f"folder has no {PARQUET_LAYOUT['catalog']} and no spec.json/spec.toml", file=folder)
    ds = read_dataset_parquet(folder)
    if name:
        ds.name = name
    return ds
