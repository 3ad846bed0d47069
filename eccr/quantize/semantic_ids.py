"""Semantic IDs: item id <-> unique code tuple <-> LM token string such as "<a_12><b_7><c_201>".

ECCR compresses behaviour information into LM tokens; here each item vector (ItemVectors) is residual-quantized
into L codes (rq.py) and every (level, code) pair becomes one new tokenizer token, the level written as a
letter (a, b, c, ...). Items whose L codes coincide must still get distinct IDs. Two strategies (config
`QuantizerConfig.collisions`):
- "extra_level" (TIGER, Rajput et al. 2023, §3.1): every item gets one more token numbering the items that share
  its L codes, nearest to the code first ("<a_12><b_7><c_201><d_0>"). Never fails; costs one token per item.
- "nearest_free": IDs keep L tokens; an item whose tuple is taken moves to the nearest free tuple found by a
  depth-first search that keeps the coarse codes where possible (first a free code at the last level under the
  same prefix, then the next-nearest code at the level above, ...). Subtrees already full are skipped, so each
  search is O(L*K). Fails only when the catalogue exceeds K^L items.
Within a group, items are served in order of quantization error (the best-fitting item keeps the code).
Cold start: `SemanticIDTable.add_items` encodes new vectors with the fitted quantizer and disambiguates them
against all existing IDs with the same strategy.
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from eccr.quantize.config import QuantizerConfig
from eccr.quantize.metrics import codebook_usage, collision_rate, largest_collision, relative_mse
from eccr.quantize.rq import ResidualQuantizer, make_quantizer, sum_of_codewords
from eccr.represent.vectors import ItemVectors

LEVEL_LETTERS = "abcdefghijklmnopqrstuvwxyz"
TOKEN_PATTERN = re.compile(r"<([a-z])_(\d+)>")
TABLE_FORMAT = "eccr.semantic_ids/1"


def level_token(level: int, code: int) -> str:
    """The token of one code: level 0, code 12 -> "<a_12>"."""
    return f"<{LEVEL_LETTERS[level]}_{int(code)}>"


def parse_id(tokens: str | Sequence[str]) -> tuple[int, ...]:
    """Codes from "<a_12><b_7>" or ["<a_12>", "<b_7>"]; levels must run a, b, c, ... in order."""
    text = tokens if isinstance(tokens, str) else "".join(tokens)
    matches = list(TOKEN_PATTERN.finditer(text))
    if not matches or "".join(m.group(0) for m in matches) != text.strip():
        raise ValueError(f"not a semantic ID token string: {text!r} (expected like '<a_12><b_7><c_201>')")
    letters = "".join(m.group(1) for m in matches)
    if letters != LEVEL_LETTERS[:len(letters)]:
        raise ValueError(f"semantic ID levels out of order in {text!r}: got {letters}, "
                         f"expected {LEVEL_LETTERS[:len(letters)]}")
    return tuple(int(m.group(2)) for m in matches)


def _quantization_error(Z: np.ndarray, codes: np.ndarray, codebooks: list[np.ndarray]) -> np.ndarray:
    return ((Z - sum_of_codewords(codes, codebooks)) ** 2).sum(1)


def add_counter_level(codes: np.ndarray, errors: np.ndarray | None = None,
                      existing: np.ndarray | None = None) -> np.ndarray:
    """Appends a level numbering the items that share their L codes (0 = smallest error), skipping counters
    already used by `existing` IDs (shape (m, L+1))."""
    codes = np.asarray(codes, dtype=np.int64)
    order = np.argsort(errors, kind="stable") if errors is not None else np.arange(len(codes))
    used: dict[tuple, set[int]] = defaultdict(set)
    if existing is not None:
        for row in np.asarray(existing, dtype=np.int64):
            used[tuple(row[:-1])].add(int(row[-1]))
    counter = np.empty(len(codes), dtype=np.int64)
    for i in order:
        taken = used[tuple(int(c) for c in codes[i])]
        free = next(c for c in range(len(taken) + 1) if c not in taken)
        taken.add(free)
        counter[i] = free
    return np.concatenate([codes, counter[:, None]], axis=1)


class _Occupancy:
    """How many IDs lie under each code prefix, to skip full subtrees during the nearest-free search."""

    def __init__(self, codebook_sizes: list[int]):
        self.sizes = codebook_sizes
        self.count: Counter = Counter()

    def capacity(self, prefix: tuple) -> int:
        return int(np.prod(self.sizes[len(prefix):], dtype=np.float64))

    def add(self, code: tuple) -> None:
        for depth in range(len(code) + 1):
            self.count[code[:depth]] += 1

    def is_full(self, prefix: tuple) -> bool:
        return self.count[prefix] >= self.capacity(prefix)


def _nearest_free(residual: np.ndarray, codebooks: list[np.ndarray], occupancy: _Occupancy,
                  prefix: tuple = ()) -> tuple | None:
    level = len(prefix)
    distances = ((codebooks[level] - residual[None, :]) ** 2).sum(1)
    for code in np.argsort(distances, kind="stable"):
        candidate = prefix + (int(code),)
        if occupancy.is_full(candidate):
            continue
        if level == len(codebooks) - 1:
            return candidate
        found = _nearest_free(residual - codebooks[level][code], codebooks, occupancy, candidate)
        if found is not None:
            return found
    return None


def assign_nearest_free(codes: np.ndarray, Z: np.ndarray, codebooks: list[np.ndarray],
                        existing: np.ndarray | None = None) -> np.ndarray:
    """Unique L-tuples: an item keeps its greedy code if free, else takes the nearest free tuple."""
    codes = np.asarray(codes, dtype=np.int64)
    sizes = [len(c) for c in codebooks]
    n_existing = 0 if existing is None else len(existing)
    capacity = int(np.prod(sizes, dtype=np.float64))
    if len(codes) + n_existing > capacity:
        raise ValueError(f"{len(codes) + n_existing} items do not fit in {capacity} code tuples "
                         f"(codebook sizes {sizes}); use collisions='extra_level' or more levels/codes")
    occupancy = _Occupancy(sizes)
    for row in (existing if existing is not None else []):
        occupancy.add(tuple(int(c) for c in row))
    result = codes.copy()
    for i in np.argsort(_quantization_error(Z, codes, codebooks), kind="stable"):
        code = tuple(int(c) for c in codes[i])
        if occupancy.count[code] > 0:
            code = _nearest_free(Z[i], codebooks, occupancy)
            result[i] = code
        occupancy.add(code)
    return result


def disambiguate(codes: np.ndarray, Z: np.ndarray, codebooks: list[np.ndarray], strategy: str,
                 existing: np.ndarray | None = None) -> np.ndarray:
    """Unique IDs for `codes` (n, L), also distinct from `existing` IDs; see the module docstring."""
    if strategy == "extra_level":
        return add_counter_level(codes, _quantization_error(Z, codes, codebooks), existing)
    if strategy == "nearest_free":
        return assign_nearest_free(codes, Z, codebooks, existing)
    raise ValueError(f"unknown collision strategy {strategy!r}; expected 'extra_level' or 'nearest_free'")


@dataclass
class SemanticIDTable:
    """item id <-> code tuple <-> tokens. `codes` rows are unique; `meta` records how they were made."""

    item_ids: list[str]
    codes: np.ndarray  # (n_items, id_length) int64
    meta: dict = field(default_factory=dict)  # strategy, base_levels, codebook_sizes, quantizer kind

    def __post_init__(self) -> None:
        self.item_ids = [str(i) for i in self.item_ids]
        self.codes = np.asarray(self.codes, dtype=np.int64).reshape(len(self.item_ids), -1)
        if self.codes.shape[1] == 0 or self.codes.shape[1] > len(LEVEL_LETTERS):
            raise ValueError(f"semantic IDs need 1..{len(LEVEL_LETTERS)} levels, got {self.codes.shape[1]}")
        if (self.codes < 0).any():
            raise ValueError("semantic ID codes must be non-negative")
        self._reindex()

    def _reindex(self) -> None:
        self._row = {item: row for row, item in enumerate(self.item_ids)}
        if len(self._row) != len(self.item_ids):
            dup = next(i for i, c in Counter(self.item_ids).items() if c > 1)
            raise ValueError(f"duplicate item id {dup!r} in semantic ID table")
        self._item = {tuple(int(c) for c in row): item for item, row in zip(self.item_ids, self.codes)}
        if len(self._item) != len(self.item_ids):
            raise ValueError(f"semantic ID table has collisions: {len(self.item_ids) - len(self._item)} items "
                             "share an ID with another; disambiguate first")

    def __len__(self) -> int:
        return len(self.item_ids)

    def __contains__(self, item_id: object) -> bool:
        return str(item_id) in self._row

    @property
    def id_length(self) -> int:
        """Tokens per item."""
        return int(self.codes.shape[1])

    def codes_for(self, item_id: str) -> tuple[int, ...]:
        row = self._row.get(str(item_id))
        if row is None:
            raise KeyError(f"item {item_id!r} has no semantic ID")
        return tuple(int(c) for c in self.codes[row])

    def tokens_for(self, item_id: str) -> list[str]:
        """["<a_12>", "<b_7>", "<c_201>"]."""
        return [level_token(level, code) for level, code in enumerate(self.codes_for(item_id))]

    def id_string(self, item_id: str) -> str:
        """"<a_12><b_7><c_201>"."""
        return "".join(self.tokens_for(item_id))

    def item_for(self, tokens: str | Sequence[str]) -> str:
        """Item id of a token string or token list; KeyError if well-formed but unknown."""
        code = parse_id(tokens)
        if len(code) != self.id_length:
            raise ValueError(f"semantic ID {tokens!r} has {len(code)} levels, this table uses {self.id_length}")
        if code not in self._item:
            raise KeyError(f"no item has semantic ID {''.join(tokens) if not isinstance(tokens, str) else tokens}")
        return self._item[code]

    def all_tokens(self) -> list[str]:
        """Every token any ID uses, level by level then by code: the special tokens to add to the LM tokenizer."""
        return [level_token(level, code) for level in range(self.id_length)
                for code in np.unique(self.codes[:, level])]

    def token_sequences(self, item_ids: Iterable[str] | None = None) -> list[list[str]]:
        ids = self.item_ids if item_ids is None else list(item_ids)
        return [self.tokens_for(i) for i in ids]

    # --- cold start ----------------------------------------------------------------------------------------
    def add_items(self, item_ids: Sequence[str], vectors: np.ndarray, quantizer: ResidualQuantizer) -> list[str]:
        """Gives new items IDs that collide with nobody (encode with the fitted quantizer, then the table's
        collision strategy against all existing IDs). Returns tokens not used before, which the caller must
        add to the LM tokenizer (an empty list in the common case)."""
        item_ids = [str(i) for i in item_ids]
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(item_ids) != len(vectors):
            raise ValueError(f"{len(item_ids)} item ids but {len(vectors)} vectors")
        known = [i for i in item_ids if i in self._row]
        if known or len(set(item_ids)) != len(item_ids):
            raise ValueError(f"items already have IDs or repeat: {(known or item_ids)[:3]}")
        self._check_quantizer(quantizer)
        Z, codebooks = quantizer.embed(vectors), quantizer.codebooks()
        codes = disambiguate(quantizer.encode(vectors), Z, codebooks, self.meta["strategy"], existing=self.codes)
        before = set(self.all_tokens())
        self.item_ids, self.codes = self.item_ids + item_ids, np.concatenate([self.codes, codes])
        self._reindex()
        return [t for t in self.all_tokens() if t not in before]

    def _check_quantizer(self, quantizer: ResidualQuantizer) -> None:
        expected = self.meta.get("codebook_sizes")
        if expected is not None and quantizer.codebook_sizes() != list(expected):
            raise ValueError(f"quantizer codebook sizes {quantizer.codebook_sizes()} differ from the table's "
                             f"{list(expected)}: load the quantizer this table was built with")
        if "strategy" not in self.meta:
            raise ValueError("table meta has no collision 'strategy'; cannot add items")

    # --- persistence ---------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"format": TABLE_FORMAT, "meta": self.meta, "item_ids": self.item_ids,
                                    "codes": self.codes.tolist()}))

    @classmethod
    def load(cls, path: str | Path) -> SemanticIDTable:
        path = Path(path)
        raw = json.loads(path.read_text())
        if raw.get("format") != TABLE_FORMAT:
            raise ValueError(f"{path}: not a semantic ID table (format {raw.get('format')!r}, "
                             f"expected {TABLE_FORMAT!r})")
        return cls(raw["item_ids"], np.asarray(raw["codes"], dtype=np.int64), raw.get("meta", {}))


@dataclass
class SemanticIDReport:
    """What a build measured (see metrics.py for definitions)."""

    quantizer: str
    n_items: int
    levels: int
    codebook_sizes: list[int]
    strategy: str
    collision_rate_before: float   # share of items sharing their L-tuple before disambiguation
    largest_collision_before: int  # most items on one L-tuple
    collision_rate_after: float    # must be 0
    id_length: int                 # tokens per item
    relative_mse: float            # ||x - decode(encode(x))||^2 / ||x - mean||^2 (before disambiguation)
    usage: list[dict]              # per level: used, share_used, perplexity (before disambiguation)
    fit_seconds: float
    encode_seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def build_semantic_ids(vectors: ItemVectors, config: QuantizerConfig | None = None,
                       quantizer: ResidualQuantizer | None = None
                       ) -> tuple[SemanticIDTable, ResidualQuantizer, SemanticIDReport]:
    """Fits the quantizer (unless a fitted one is given), encodes all items and disambiguates."""
    config = config or (quantizer.config if quantizer is not None else QuantizerConfig())
    quantizer = quantizer or make_quantizer(config)
    X = vectors.vectors
    start = time.perf_counter()
    if not quantizer.is_fitted:
        quantizer.fit(X)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    codes = quantizer.encode(X)
    encode_seconds = time.perf_counter() - start
    Z, codebooks = quantizer.embed(X), quantizer.codebooks()
    unique = disambiguate(codes, Z, codebooks, config.collisions)
    meta = {"strategy": config.collisions, "base_levels": quantizer.levels, "quantizer": quantizer.kind,
            "codebook_sizes": quantizer.codebook_sizes()}
    table = SemanticIDTable(vectors.ids, unique, meta)
    report = SemanticIDReport(
        quantizer=quantizer.kind, n_items=len(X), levels=quantizer.levels,
        codebook_sizes=quantizer.codebook_sizes(), strategy=config.collisions,
        collision_rate_before=collision_rate(codes), largest_collision_before=largest_collision(codes),
        collision_rate_after=collision_rate(unique), id_length=table.id_length,
        relative_mse=relative_mse(X, quantizer.decode(codes)),
        usage=codebook_usage(codes, quantizer.codebook_sizes()),
        fit_seconds=fit_seconds, encode_seconds=encode_seconds)
    return table, quantizer, report
