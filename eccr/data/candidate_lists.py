"""Candidate lists for "what goes with q?": a bundle partner p of q among negatives, built without the
artefacts that let a system score without knowing anything about complements.

Training (the complement scorer, the blends) and evaluation (the ECCR protocol) use the same lists, so a model is
never fitted on lists that reward something the evaluation does not.

What makes a list honest:
- **Seen status is matched.** Every item of these data occurs in some session, so an item absent from the train
  part's sessions is one bought later: a list whose negatives were mostly "seen" while its positive was not
  would reward "prefer items nobody bought yet". Every negative has p's status ("seen" = occurs in a train-part
  session or bundle).
- **Substitutes come from p's leaf category at random** (topped up by the items closest to p in the category
  tree), never from the vectors of a system under test, which would punish that system for its own top picks.
- Known complements of q (any bundle up to this part, any explicit pair) are never negatives, and neither is an
  exact-title duplicate of q, p or a known complement (the same product listed twice is neither right nor wrong).
- The evaluation shuffles each list and counts ties against the system (eccr.evaluate.metrics).

Negative mix per (q, p): up to `max_cobought` items bought in a session with q but not bundled with it, up to
`max_same_leaf` items of p's leaf category (then category-near items), random items for the rest — all with
p's seen status.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from eccr.data.schema import DataError, Dataset
from eccr.data.splits import TemporalSplit, UserHistories, heldout_queries

NEGATIVE_KINDS = ("co_bought", "same_leaf", "near_category", "random")
CANDIDATES_FORMAT = "eccr-candidates/2"
PARTS = ("train", "valid", "test")


@dataclass
class CandidateListConfig:
    negatives: int = 20                 # negatives per positive pair (ECCR paper: 20, i.e. 21 candidates)
    max_cobought: int = 7               # at most this many bought-with-q-but-not-bundled items
    max_same_leaf: int = 7              # at most this many items of p's leaf category (then category-near items)
    max_pairs: int | None = None        # cap on positive pairs (after a seeded shuffle); None = all
    history_length: int = 50            # most recent earlier items of the user passed as `history`
    seed: int = 0                       # seeds the pair shuffle and every negative draw


@dataclass
class CandidateList:
    query: str
    positive: str
    bundle_id: str
    session_id: str
    history: list[str]
    negatives: list[str]
    kinds: list[str]         # aligned with negatives, one of NEGATIVE_KINDS
    positive_seen: bool      # p occurs in a train-part session; every negative has the same status


@dataclass
class CandidateLists:
    """Lists for one part of a split: build once, save, give every model the same lists."""

    dataset: str
    part: str
    config: dict
    pairs: list[CandidateList]

    def complete(self, known) -> list[CandidateList]:
        """The lists with all `config["negatives"]` negatives drawn whose query and candidates are all in `known`
        (e.g. the items with a text vector): the ones a model over fixed-width tensors can read."""
        width = self.config["negatives"]
        return [p for p in self.pairs
                if len(p.negatives) == width and all(i in known for i in (p.query, p.positive, *p.negatives))]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": CANDIDATES_FORMAT, "dataset": self.dataset, "part": self.part, "config": self.config,
                   "pairs": [asdict(p) for p in self.pairs]}
        path.write_text(json.dumps(payload, ensure_ascii=False))
        return path

    @classmethod
    def load(cls, path: str | Path) -> CandidateLists:
        path = Path(path)
        try:
            payload = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read candidate lists: {exc}", file=path) from exc
        if not isinstance(payload, dict) or payload.get("format") != CANDIDATES_FORMAT:
            raise DataError(f"not a candidate-list file of this version (expected format {CANDIDATES_FORMAT!r}); "
                            "delete it to rebuild", file=path)
        pairs = []
        for i, raw in enumerate(payload.get("pairs", [])):
            try:
                pair = CandidateList(**raw)
            except TypeError as exc:
                raise DataError(f"pair {i} is malformed: {exc}", file=path, field="pairs") from exc
            if len(pair.negatives) != len(pair.kinds) or not set(pair.kinds) <= set(NEGATIVE_KINDS):
                raise DataError(f"pair {i}: negatives and kinds do not match", file=path, field="pairs")
            pairs.append(pair)
        return cls(payload.get("dataset", ""), payload.get("part", ""), payload.get("config", {}), pairs)


# ----------------------------------------------------------------------------------------------- shared facts
def titled_ids(dataset: Dataset) -> np.ndarray:
    items = dataset.catalog.items
    return items.loc[items["title"].str.len() > 0, "item_id"].to_numpy(dtype=object)


def seen_items(train: Dataset) -> set[str]:
    """Items that occur in a session or bundle of the train part: the "seen" status every list matches."""
    return set(train.behaviour.events["item_id"]) | set(train.bundles.rows["item_id"])


def parts_up_to(split: TemporalSplit, part: str) -> list[Dataset]:
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    return [getattr(split, p) for p in PARTS[:PARTS.index(part) + 1]]


def complement_pairs(split: TemporalSplit, part: str = "test") -> pd.DataFrame:
    """The directed (source, target) pairs labelled complementary in the parts up to `part`: the train part's
    bundles and explicit pairs, the later parts' bundles. Later parts are not looked at."""
    frames = [split.train.all_pairs()] + [p.bundles.directed_pairs() for p in parts_up_to(split, part)[1:]]
    frames = [f[["source", "target"]] for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["source", "target"])


def known_complements(split: TemporalSplit, part: str = "test",
                      pairs: pd.DataFrame | None = None) -> dict[str, set[str]]:
    """item -> every item it was labelled complementary with in the parts up to `part` (`complement_pairs`, or
    `pairs` when the caller has them), both directions: such items are never negatives. Lists of the train part
    know nothing of valid or test bundles."""
    pairs = complement_pairs(split, part) if pairs is None else pairs
    if not len(pairs):
        return {}
    both = pd.concat([pairs, pairs.rename(columns={"source": "target", "target": "source"})], ignore_index=True)
    return {k: set(v) for k, v in both.groupby("source")["target"]}


def normalized_title(title: str) -> str:
    return " ".join(str(title).lower().split())


class CatalogueIndex:
    """Titled items as arrays (seen status, leaf, category-path prefixes, normalised titles) for fast masks."""

    def __init__(self, dataset: Dataset, seen: set[str]):
        items = dataset.catalog.items
        items = items[items["title"].str.len() > 0]
        self.ids = items["item_id"].to_numpy(dtype=object)
        self.position = {item: i for i, item in enumerate(self.ids)}
        self.seen = np.array([i in seen for i in self.ids], dtype=bool)
        categories = [list(c) for c in items["category"]]
        depth = max([len(c) for c in categories] + [1])
        # level-k prefix codes (k = 1..depth); -1 where the path is shorter
        self.prefix = np.full((len(self.ids), depth), -1, dtype=np.int64)
        for k in range(depth):
            keys = [">".join(c[:k + 1]) if len(c) > k else None for c in categories]
            codes, _ = pd.factorize(pd.Series(keys, dtype=object), use_na_sentinel=True)
            self.prefix[:, k] = codes
        self.path_length = np.array([len(c) for c in categories], dtype=np.int64)
        self.title = np.array([normalized_title(t) for t in items["title"]], dtype=object)
        self._by_title: dict[str, list[int]] = {}
        for i, t in enumerate(self.title):
            self._by_title.setdefault(t, []).append(i)

    def same_title(self, row: int) -> list[int]:
        return self._by_title.get(self.title[row], [])

    def leaf_mask(self, row: int) -> np.ndarray:
        """Items whose category path ends in the same leaf path as `row`'s (False for items without a path)."""
        n = self.path_length[row]
        if n == 0:
            return np.zeros(len(self.ids), dtype=bool)
        return (self.path_length == n) & (self.prefix[:, n - 1] == self.prefix[row, n - 1])

    def shared_levels(self, row: int) -> np.ndarray:
        """How many leading category levels each item shares with `row`."""
        same = (self.prefix == self.prefix[row]) & (self.prefix[row] >= 0)
        return np.cumprod(same, axis=1).sum(axis=1)


def _session_items(parts: list[Dataset]) -> dict[str, set[str]]:
    """item -> every item bought in a session with it (in the given parts)."""
    frames = [f for p in parts for f in (p.behaviour.events[["session_id", "item_id"]],
                                          p.bundles.rows[["session_id", "item_id"]]) if len(f)]
    if not frames:
        return {}
    rows = pd.concat(frames, ignore_index=True).drop_duplicates()
    pairs = rows.merge(rows, on="session_id", suffixes=("", "_other"))
    pairs = pairs[pairs["item_id"] != pairs["item_id_other"]]
    return {k: set(v) for k, v in pairs.groupby("item_id")["item_id_other"]}


def _take(rng: np.random.Generator, rows: np.ndarray, count: int) -> list[int]:
    return [int(r) for r in rng.permutation(rows)[:count]] if count > 0 and len(rows) else []


def _negatives(index: CatalogueIndex, q: str, p: str, complements: set[str], bought_with_q: set[str],
               config: CandidateListConfig, rng: np.random.Generator) -> tuple[list[int], list[str]]:
    """(negative rows, their kinds) for the pair (q, p), in the mix of the module docstring."""
    qr, pr = index.position[q], index.position[p]
    eligible = index.seen == index.seen[pr]
    known = [qr, pr] + [index.position[c] for c in complements if c in index.position]
    eligible[[r for k in known for r in index.same_title(k)] + known] = False  # and their exact-title copies
    negatives: list[int] = []
    kinds: list[str] = []

    def add(rows, kind: str) -> None:
        rows = [int(r) for r in rows][:config.negatives - len(negatives)]
        negatives.extend(rows)
        kinds.extend([kind] * len(rows))
        eligible[rows] = False

    bought = np.array([index.position[c] for c in sorted(bought_with_q) if c in index.position], dtype=np.int64)
    add(_take(rng, bought[eligible[bought]], config.max_cobought), "co_bought")
    add(_take(rng, np.flatnonzero(eligible & index.leaf_mask(pr)), config.max_same_leaf), "same_leaf")
    short = config.max_same_leaf - kinds.count("same_leaf")
    if short > 0:  # the closest items in the category tree, at random within a level
        shared = index.shared_levels(pr)
        near = np.flatnonzero(eligible & (shared >= 2))
        add(near[np.lexsort((rng.random(len(near)), -shared[near]))][:short], "near_category")
    add(_take(rng, np.flatnonzero(eligible), config.negatives - len(negatives)), "random")
    return negatives, kinds


class ListDrawer:
    """What the lists of one part are drawn from, built once for any number of draws: the part's titled items,
    the known complements, the items bought in a session with each item, and the users' histories."""

    def __init__(self, split: TemporalSplit, part: str, pairs: pd.DataFrame | None = None):
        """`pairs`: the part's `complement_pairs` when the caller already has them."""
        self.part, self.dataset = part, getattr(split, part)
        self.index = CatalogueIndex(self.dataset, seen_items(split.train))
        self.complements = known_complements(split, part, pairs)
        self.cobought = _session_items([self.dataset])
        self.histories = UserHistories(parts_up_to(split, part))

    def draw(self, pairs: pd.DataFrame, config: CandidateListConfig,
             excluded: Callable[[tuple], set[str]] | None = None) -> list[CandidateList]:
        """One list per row of `pairs` (columns query, positive, bundle_id, session_id, timestamp), the negatives of
        row number k drawn with the seed (config.seed, k); rows whose query or positive has no title are skipped.
        Known complements of q are never negatives. `excluded` None: items bought with q in a session are the
        co-bought negatives; else they are excluded too, with `excluded(row)`, and there are no co-bought ones."""
        index, lists = self.index, []
        for number, row in enumerate(pairs.itertuples(index=False)):
            q, p = str(row.query), str(row.positive)
            if q not in index.position or p not in index.position:
                continue
            known, bought_with_q = self.complements.get(q, set()), self.cobought.get(q, set())
            if excluded is not None:
                known, bought_with_q = known | bought_with_q | excluded(row), set()
            negatives, kinds = _negatives(index, q, p, known, bought_with_q, config,
                                          np.random.default_rng([config.seed, number]))
            lists.append(CandidateList(q, p, str(row.bundle_id), str(row.session_id),
                                       self.histories.before(str(row.session_id), int(row.timestamp),
                                                             config.history_length),
                                       [str(index.ids[r]) for r in negatives], kinds,
                                       bool(index.seen[index.position[p]])))
        return lists


def shuffled_pairs(pairs: pd.DataFrame, config: CandidateListConfig) -> pd.DataFrame:
    """The first `config.max_pairs` pairs after a shuffle seeded by `config.seed` (all of them, in order, when
    max_pairs is None)."""
    return pairs.sample(frac=1.0, random_state=config.seed).head(config.max_pairs) if config.max_pairs else pairs


def build_candidate_lists(split: TemporalSplit, part: str = "test", config: CandidateListConfig | None = None,
                          drawer: ListDrawer | None = None) -> CandidateLists:
    """Honest lists for every ordered pair (q, p) of the part's bundles (see the module docstring). `drawer`: the
    part's ListDrawer when the caller draws several times."""
    config = config or CandidateListConfig()
    if config.negatives < 1 or config.max_cobought < 0 or config.max_same_leaf < 0:
        raise ValueError("negatives must be >= 1 and the per-kind caps >= 0")
    drawer = drawer or ListDrawer(split, part)
    if drawer.part != part:
        raise ValueError(f"a ListDrawer of the {drawer.part} part cannot draw {part} lists")
    queries = heldout_queries(drawer.dataset, seed=config.seed)
    pairs = shuffled_pairs(queries.explode("positives").rename(columns={"positives": "positive"}), config)
    return CandidateLists(drawer.dataset.name, part, list_settings(config), drawer.draw(pairs, config))


def list_settings(config: CandidateListConfig) -> dict:
    """The settings that decide the lists: CandidateListConfig's fields, not those a subclass adds for scoring them
    (EccrProtocolConfig's `cutoff`), so lists saved by `eccr evaluate` and by a script match."""
    return {f.name: getattr(config, f.name) for f in fields(CandidateListConfig)}


def load_or_build_candidate_lists(split: TemporalSplit, part: str, config: CandidateListConfig,
                                  path: str | Path | None = None) -> CandidateLists:
    """Reuse saved lists when their settings match, else build (and save when a path is given)."""
    if path is not None and Path(path).exists():
        lists = CandidateLists.load(path)
        wanted = list_settings(config)
        if {k: lists.config.get(k) for k in wanted} != wanted or lists.part != part:
            raise ValueError(f"{path} was built with other settings ({lists.part}, {lists.config}); "
                             f"delete it or choose another candidates path")
        return lists
    lists = build_candidate_lists(split, part, config)
    if path is not None:
        lists.save(path)
    return lists
