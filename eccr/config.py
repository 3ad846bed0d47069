"""Typed configuration: one dataclass per stage, documented defaults, overridable from the CLI, saved per run.

Each field carries its meaning in a comment (`hops: int = 10  # K; depth 2 -> 4 helps most`). The `eccr train`
flags are generated from these dataclasses by simple-parsing: every field is a flag `--<stage>.<field>`
(`--ranker.hops 4`, `--quantizer.rqvae.epochs 50`) whose help is that comment (`field_help`). A run saves its
resolved config as config.json with `config_to_dict`; `config_from_dict` (and `load_config` for a file) reads it
back, rejecting unknown keys and ill-typed values with the dotted name of the field.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import io
import json
import math
import textwrap
import tokenize
import types
import typing
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path


@dataclass
class DataConfig:
    source: str = "demo"           # dataset: "demo", a bundle-intent folder, a McAuley JSONL, a generic spec
    valid_fraction: float = 0.1    # share of timestamped sessions (latest before test) used for model selection
    test_fraction: float = 0.2     # share of timestamped sessions (the latest) held out for testing
    seed: int = 0                  # seeds every sampled choice (queries, negatives, model init)


class ConfigError(ValueError):
    """A config value that does not fit its dataclass; `field` is its dotted name (`ranker.hops`)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


# --- one JSON round trip for every config -----------------------------------------------------------------------

def config_to_dict(cfg) -> dict:
    """Plain JSON-ready data (nested configs become dicts, tuples stay tuples until json.dumps makes lists)."""
    return dataclasses.asdict(cfg)


def config_from_dict(cls, data: dict, base=None, path: str = ""):
    """A `cls` built from `data` on top of `base` (default `cls()`): keys missing from `data` keep their value in
    `base`, so a file may set only a few fields. Unknown keys and values of the wrong type raise ConfigError
    naming the field (typos must not pass silently)."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected an object with {cls.__name__} fields, got {data!r}", path)
    base = cls() if base is None else base
    known = {f.name: f for f in fields(cls) if f.init}
    unknown = sorted(set(data) - set(known))
    if unknown:
        where = ", ".join(f"{path}.{k}" if path else k for k in unknown)
        raise ConfigError(f"not a {cls.__name__} field; known: {', '.join(sorted(known))}", where)
    hints = typing.get_type_hints(cls)
    updates = {}
    for name, value in data.items():
        dotted = f"{path}.{name}" if path else name
        tp = hints.get(name, typing.Any)
        if is_dataclass(tp):
            updates[name] = config_from_dict(tp, value, base=getattr(base, name), path=dotted)
        else:
            updates[name] = _checked(value, tp, dotted)
    try:
        return dataclasses.replace(base, **updates)
    except (TypeError, ValueError) as err:  # a __post_init__ check (e.g. QuantizerConfig.kind)
        raise ConfigError(str(err), path) from err


def _checked(value, tp, dotted: str):
    """`value` as type `tp` (JSON lists become tuples for tuple fields), or ConfigError."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return _checked(value, option, dotted)
            except ConfigError:
                pass
        raise ConfigError(f"expected {_type_name(tp)}, got {value!r}", dotted)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"expected a list of {_type_name(args[0]) if args else 'values'}, got {value!r}",
                              dotted)
        inner = args[0] if args else typing.Any
        items = [_checked(v, inner, dotted) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and not (isinstance(value, tp) and (tp is bool or not isinstance(value, bool))):
        raise ConfigError(f"expected {tp.__name__}, got {value!r}", dotted)
    return value


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def load_config(cls, path: str | Path, base=None):
    """Read a JSON config file (a run's config.json, or any subset of its fields; a run directory means its
    config.json) into `cls`, on top of `base` (default `cls()`). Errors name the file and the field: `runs/x/config.json: ranker.hops: expected int, got 'four'`."""
    path = Path(path)
    if path.is_dir():  # a run directory: its config.json
        path = path / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such config file") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    try:
        return config_from_dict(cls, data, base=base)
    except ConfigError as err:
        located = ConfigError(f"{path}: {err}")
        located.field = err.field
        raise located from None


class JsonConfig:
    """`cfg.to_dict()` / `Cls.from_dict(d)` for configs that other files save on their own (ranker weights,
    FAISS index, quantizer); both are the module-level helpers above."""

    def to_dict(self) -> dict:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict):
        return config_from_dict(cls, data)


def json_ready(obj):
    """`obj` with numpy scalars and arrays made plain and NaN / infinity made null, so the file is strict JSON
    (Python's json writes NaN, which other JSON readers reject)."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [json_ready(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return json_ready(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def save_json(obj, path: str | Path, indent: int = 2) -> None:
    """Strict JSON (see `json_ready`), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_ready(obj), indent=indent, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")


# --- help text from the field comments, and the generated flags --------------------------------------------------

def field_help(cls, name: str) -> str:
    """The comment that documents field `name` of dataclass `cls` (searched through its bases): the comment on the
    field's line with the comment-only lines that continue it (indented past a single space after `#`, or with
    their `#` under the first one), else the comment lines just above the field."""
    for klass in cls.__mro__:
        if is_dataclass(klass) and name in _field_comments(klass):
            return _field_comments(klass)[name]
    return ""


@functools.cache
def _field_comments(cls) -> dict[str, str]:
    """{field: its comment} for the fields `cls` itself defines, read from its source with `tokenize`."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    own = set(inspect.get_annotations(cls))
    comments: dict[str, str] = {}
    statement: list[tokenize.TokenInfo] = []  # tokens of the current logical line (a field may span lines)
    above: list[str] = []                     # comment-only lines since the last statement
    last_field, last_column = None, 0         # the field whose inline comment the next `#` lines may continue
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if not statement:
            if tok.type == tokenize.COMMENT:
                text = tok.string[1:]
                if last_field and (tok.start[1] >= last_column - 1 or text.startswith("  ")):
                    comments[last_field] += " " + text.strip()
                else:
                    last_field = None
                    above.append(text.strip())
                continue
            if tok.type == tokenize.NL:
                if not tok.line.strip():  # a blank line ends a comment block
                    last_field, above = None, []
                continue
            if tok.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
        if tok.type != tokenize.NEWLINE:
            statement.append(tok)
            continue
        code = [t for t in statement if t.type not in (tokenize.COMMENT, tokenize.NL)]
        name = code[0].string if len(code) > 1 and code[1].string == ":" and code[0].string in own else None
        inline = [t for t in statement if t.type == tokenize.COMMENT]
        last_field = None
        if name and inline:
            comments[name] = " ".join(t.string[1:].strip() for t in inline)
            last_field, last_column = name, inline[-1].start[1]
        elif name and above:
            comments[name] = " ".join(above)
        statement, above = [], []
    return comments


def simple_parsing_modes() -> dict:
    """The keyword arguments of every simple_parsing.ArgumentParser of eccr's command lines: nested configs give
    dotted flags without the root (`--ranker.hops`), with underscores as written. simple-parsing keeps these as
    class-level globals of its FieldWrapper, set by the last parser constructed, so every parser must use the same
    ones or building one changes the other's flags."""
    import simple_parsing
    from simple_parsing.wrappers.field_wrapper import ArgumentGenerationMode, NestedMode

    return {"argument_generation_mode": ArgumentGenerationMode.NESTED, "nested_mode": NestedMode.WITHOUT_ROOT,
            "add_option_string_dash_variants": simple_parsing.DashVariant.UNDERSCORE}


def add_config_flags(parser, cls, dest: str, default=None):
    """Generate the flags of dataclass `cls` on a simple_parsing.ArgumentParser (nested configs give dotted flags
    `--ranker.hops` when the parser uses NestedMode.WITHOUT_ROOT); each flag's help is its field's comment.
    The parsed `cls` instance lands in `args.<dest>`; returns simple-parsing's wrapper of `cls`."""
    wrapper = parser.add_arguments(cls, dest=dest, default=default)
    for node in (wrapper, *wrapper.descendants):
        for flag in node.fields:
            flag.help = field_help(node.dataclass, flag.name).replace("%", "%%")  # argparse %-formats help
    return wrapper


def group_description(wrapper) -> tuple[str, str]:
    """(title, description) of the help section of one config (simple-parsing's wrapper of it): `ranker options
    (RankerConfig)` and the comment on the field that holds it, else the first paragraph of its docstring."""
    path = wrapper.dest.split(".", 1)[1] if "." in wrapper.dest else ""
    title = f"{path or 'run'} options ({wrapper.dataclass.__name__})"
    text = field_help(wrapper.parent.dataclass, wrapper.name) if wrapper.parent is not None else ""
    doc = inspect.getdoc(wrapper.dataclass) or ""
    if not text and not doc.startswith(f"{wrapper.dataclass.__name__}("):  # dataclass's own stand-in docstring
        text = doc.split("\n\n")[0].replace("\n", " ")
    return title, textwrap.fill(text, 100)
