"""Typed configuration: one dataclass per stage, documented defaults, overridable from the CLI, saved per run.

Every field of a stage config becomes a CLI flag `--<stage>.<field>` (e.g. `--ranker.hops 4`); a run saves the
resolved configs as config.json so `eccr evaluate --run DIR` and the demo use exactly what was trained.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path


@dataclass
class DataConfig:
    source: str = "demo"           # dataset: "demo", a bundle-intent folder, a McAuley JSONL, a generic spec
    valid_fraction: float = 0.1    # share of timestamped sessions (latest before test) used for model selection
    test_fraction: float = 0.2     # share of timestamped sessions (the latest) held out for testing
    seed: int = 0                  # seeds every sampled choice (queries, negatives, model init)


def _field_type(cls, f: dataclasses.Field):
    hints = typing.get_type_hints(cls)
    tp = hints.get(f.name, str)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if args else str
        origin = typing.get_origin(tp)
    return tp, origin


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def add_config_arguments(parser: argparse.ArgumentParser, prefix: str, cls) -> None:
    """Add `--prefix.field` for every field of dataclass `cls` (defaults None = keep the dataclass default)."""
    group = parser.add_argument_group(f"{prefix} options ({cls.__name__})")
    for f in fields(cls):
        tp, origin = _field_type(cls, f)
        if is_dataclass(tp):
            continue
        kwargs: dict = {"default": None, "dest": f"{prefix}.{f.name}", "metavar": f.name.upper()}
        if tp is bool:
            kwargs["type"] = _parse_bool
        elif origin in (list, tuple):
            inner = (typing.get_args(tp) or (str,))[0]
            kwargs.update(type=inner if inner in (int, float, str) else str, nargs="+")
        elif tp in (int, float, str):
            kwargs["type"] = tp
        else:
            kwargs["type"] = str
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        group.add_argument(f"--{prefix}.{f.name}", help=f"default: {default!r}", **kwargs)


def config_from_arguments(args: argparse.Namespace, prefix: str, cls, base=None):
    """A `cls` instance: `base` (or defaults) with every CLI flag the user gave applied."""
    cfg = base if base is not None else cls()
    overrides = {}
    for f in fields(cls):
        value = getattr(args, f"{prefix}.{f.name}", None)
        if value is not None:
            tp, origin = _field_type(cls, f)
            overrides[f.name] = tuple(value) if origin is tuple else value
    return dataclasses.replace(cfg, **overrides)


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def config_from_dict(cls, data: dict):
    """Build `cls` from a dict, rejecting unknown keys with a clear message (typos must not pass silently)."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; known: {sorted(known)}")
    kwargs = {}
    for name, value in data.items():
        tp, origin = _field_type(cls, known[name])
        if is_dataclass(tp) and isinstance(value, dict):
            value = config_from_dict(tp, value)
        elif origin is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def save_json(obj, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=str) + "\n")


__all__ = ["DataConfig", "add_config_arguments", "config_from_arguments", "config_to_dict", "config_from_dict",
           "save_json", "field"]
