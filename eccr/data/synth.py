"""Synthetic data at scale (a million items, ten million interactions) with the same schema as every loader.

Behaviour carries signal the way the demo does, but fully vectorized with numpy: items have a latent *type* and
a *platform* (a brand or mount: items work together only within one platform), types form a random directed
complement graph, and a session is an anchor of an anchor type followed by items of the anchor type's
complement types on the anchor's platform, plus some noise. Items launch over the window (cold start), and
popularity is Zipf-like. The item draw for millions of (type, platform, time) queries at once is one
`searchsorted` on a cumulative popularity array ordered by (type, platform, release time): the released items of a
segment are a prefix of it, so a popularity-weighted draw among them is an inverse-CDF lookup.

`synthetic_tables` returns the compact frames (categorical ids, int32 codes); `generate_synthetic` wraps them in
the schema's `Dataset` (which turns ids into strings). `write_dataset_parquet` / `read_dataset_parquet` store any
Dataset as catalog/behaviour/bundles/pairs.parquet with the schema's column names (category as a list column).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from eccr.data.schema import (
    BEHAVIOUR_COLUMNS,
    BUNDLE_COLUMNS,
    CATALOG_COLUMNS,
    PAIR_COLUMNS,
    Behaviour,
    Bundles,
    Catalog,
    ComplementPairs,
    DataError,
    Dataset,
    empty_behaviour,
    empty_bundles,
    empty_pairs,
)

SECONDS_PER_MONTH = 30.4375 * 24 * 3600
BRANDS = ("Aurex", "Belta", "Corvo", "Dynex", "Elara", "Fennix", "Gorvo", "Halcyon", "Ixia", "Juno", "Kestrel",
          "Lumo")
CATEGORY_GROUPS = 7  # a type's middle category level is "Group {type % 7}"
PREFERENCE_FACETS = ("platform", "graph", "group")  # what a planted user's sessions share: the platform (any
#   type) | the anchor type and its type-graph complements (any platform) | the category group (any platform);
#   in metadata sources: brand | behaviour | category
PARQUET_FILES = {"catalog": "catalog.parquet", "behaviour": "behaviour.parquet", "bundles": "bundles.parquet",
                 "pairs": "pairs.parquet"}


@dataclass
class SyntheticConfig:
    interactions_per_user: float = 10.0  # mean purchases per user (sessions are drawn to hit this on average)
    n_types: int = 50                    # latent product types
    n_platforms: int = 4                 # compatibility groups per type (brands/mounts); complements share one
    anchor_type_fraction: float = 0.3    # share of types that start sessions (cameras, phones ...)
    complements_per_type: int = 3        # out-degree of the directed type graph
    mean_session_length: float = 3.0     # items per session: 1 + Poisson(mean - 1)
    months: int = 18                     # time window
    start: int = 1672531200              # unix seconds of the window start (2023-01-01 UTC)
    late_item_fraction: float = 0.3      # items released after the start, uniformly over the window
    item_zipf: float = 1.0               # item popularity ∝ 1 / rank**item_zipf over a random ranking
    type_zipf: float = 0.7               # type sizes and anchor-type popularity ∝ 1 / rank**type_zipf
    noise_rate: float = 0.1              # chance a complement slot holds an item of a random type and platform
    bundle_rate: float = 0.05            # share of sessions with >= 2 compatible items labelled as a bundle
    seconds_between_items: int = 90
    delayed_complement_rate: float = 0.0  # share of complement items bought later, each in a new session of the
                                          # same user (delayed feedback, eccr/data/delay.py); 0 = all in the anchor's
    mean_delay_days: float = 14.0         # mean of the exponential delay of those purchases; past the window = unseen
    new_line_months: float = 0.0          # a product line launched this many months before the window's end: every
                                          # other anchor type's items are released then and sessions start with
                                          # them only from then on (earlier, another anchor type); with delayed
                                          # complements, a temporal split soon after the launch holds the new line's
                                          # queries whose later complements it has not seen yet (censored near the
                                          # split: eccr/data/later_lists.py); 0 = off (output identical without it)
    planted_preferences: float = 0.0      # share of sessions that follow their user's own facet (one of
                                          # PREFERENCE_FACETS drawn from the user's planted preference) instead of
                                          # the shared story; 0 = off (output identical to a config without it)
    preference_concentration: float = 0.3  # Dirichlet alpha of each user's facet preference; small = one facet each

    def __post_init__(self) -> None:
        if self.n_types < 2 or self.n_platforms < 1 or self.complements_per_type < 1:
            raise ValueError("SyntheticConfig needs n_types >= 2, n_platforms >= 1, complements_per_type >= 1")
        for name in ("anchor_type_fraction", "late_item_fraction", "noise_rate", "bundle_rate",
                     "delayed_complement_rate", "planted_preferences"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SyntheticConfig.{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.interactions_per_user <= 0 or self.mean_session_length < 1:
            raise ValueError("SyntheticConfig needs interactions_per_user > 0 and mean_session_length >= 1")
        if self.preference_concentration <= 0:
            raise ValueError("SyntheticConfig.preference_concentration must be > 0")
        if not 0.0 <= self.new_line_months <= self.months:
            raise ValueError("SyntheticConfig.new_line_months must lie in [0, months]")


@dataclass
class TypeGraph:
    """Directed complement graph over latent types: `targets[t]` with `weights[t]` (rows sum to 1)."""

    anchor_types: np.ndarray       # int, types that start sessions
    anchor_popularity: np.ndarray  # float, sums to 1 over anchor_types
    targets: np.ndarray            # int [n_types, k]
    weights: np.ndarray            # float [n_types, k]

    def edges(self) -> pd.DataFrame:
        k = self.targets.shape[1]
        return pd.DataFrame({"source": np.repeat(np.arange(len(self.targets)), k),
                             "target": self.targets.ravel(), "weight": self.weights.ravel()})


@dataclass
class SyntheticTables:
    """Compact frames plus the latent truth (for tests and for checking that models find the signal)."""

    catalog: pd.DataFrame    # CATALOG_COLUMNS + product_type (int16), platform (int8), release (int64)
    behaviour: pd.DataFrame  # BEHAVIOUR_COLUMNS, ids categorical + is_noise (bool)
    bundles: pd.DataFrame    # BUNDLE_COLUMNS, ids categorical
    graph: TypeGraph
    type_names: list[str] = field(default_factory=list)
    user_preferences: np.ndarray | None = None  # (n_users, 3) planted weights over PREFERENCE_FACETS, or None


def _zipf(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    return 1.0 / (rng.permutation(n) + 1.0) ** exponent


def _type_graph(cfg: SyntheticConfig, rng: np.random.Generator) -> TypeGraph:
    """Anchor types point to accessory types; accessory types point (weakly) to other accessory types.

    Edges are drawn independently per type, so a -> b rarely comes with b -> a: the graph is directed.
    """
    n = cfg.n_types
    n_anchor = min(n - 1, max(1, round(cfg.anchor_type_fraction * n)))
    anchors = np.sort(rng.choice(n, n_anchor, replace=False))
    accessories = np.setdiff1d(np.arange(n), anchors)
    k = min(cfg.complements_per_type, len(accessories))
    targets = np.empty((n, k), dtype=np.int64)
    for t in range(n):  # a loop over types, not rows
        pool = accessories[accessories != t]
        if len(pool) < k:
            pool = np.setdiff1d(np.arange(n), [t])
        targets[t] = rng.choice(pool, k, replace=False)
    weights = rng.dirichlet(np.ones(k), size=n)
    return TypeGraph(anchors, (p := _zipf(len(anchors), cfg.type_zipf, rng)) / p.sum(), targets, weights)


class _PrefixSampler:
    """Popularity-weighted draws among the items of a segment released by a given time, vectorized."""

    def __init__(self, segment: np.ndarray, release: np.ndarray, popularity: np.ndarray, n_segments: int,
                 horizon: float):
        self.order = np.lexsort((release, segment))          # item indices by (segment, release)
        seg_sorted = segment[self.order]
        self.horizon = float(horizon) + 1.0
        self.keys = seg_sorted * self.horizon + release[self.order]
        self.seg_start = np.searchsorted(seg_sorted, np.arange(n_segments))
        self.cum = np.concatenate([[0.0], np.cumsum(popularity[self.order])])

    def draw(self, segment: np.ndarray, time: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Item index per query, -1 where the segment has no item released by then."""
        lo = self.seg_start[segment]
        hi = np.searchsorted(self.keys, segment * self.horizon + time, side="right")
        target = self.cum[lo] + rng.random(len(segment)) * (self.cum[hi] - self.cum[lo])
        pos = np.clip(np.searchsorted(self.cum, target, side="right") - 1, lo, np.maximum(hi - 1, lo))
        return np.where(hi > lo, self.order[np.minimum(pos, len(self.order) - 1)], -1)


def _padded_ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Categorical:
    """Categorical ids like S0000042, built from the distinct numbers only (strings are made once each)."""
    uniques, codes = np.unique(numbers, return_inverse=True)
    labels = pd.Index(uniques).astype(str).str.zfill(width)
    return pd.Categorical.from_codes(codes.astype(np.int32), categories=prefix + labels)


def _catalog(n_items: int, item_type: np.ndarray, platform: np.ndarray, release: np.ndarray, public: np.ndarray,
             type_names: list[str], cfg: SyntheticConfig) -> pd.DataFrame:
    brands = np.array([BRANDS[p] if p < len(BRANDS) else f"Brand{p}" for p in range(cfg.n_platforms)], dtype=object)
    names = pd.Series(np.asarray(type_names, dtype=object)[item_type], dtype="str")
    brand = pd.Series(brands[platform], dtype="str")
    number = pd.Series(public, dtype=np.int64).astype("str")
    platform_name = "platform P" + pd.Series(platform, dtype=np.int64).astype("str")
    paths = np.empty(cfg.n_types, dtype=object)
    paths[:] = [["Synthetic", f"Group {t % CATEGORY_GROUPS}", type_names[t]] for t in range(cfg.n_types)]
    width = len(str(max(n_items - 1, 1)))
    frame = pd.DataFrame({
        "item_id": _padded_ids("S", public, width),
        "title": brand + " " + names + " #" + number + " for " + platform_name,
        "category": paths[item_type],
        "brand": brand,
        "text": names + " made for " + platform_name + ", released " + pd.Series(
            (release // SECONDS_PER_MONTH).astype(np.int64)).astype("str") + " months in.",
        "product_type": item_type.astype(np.int16),
        "platform": platform.astype(np.int8),
        "release": (cfg.start + release).astype(np.int64),
    })
    return frame.iloc[np.argsort(public)].reset_index(drop=True)  # rows in id order


def synthetic_tables(n_items: int, n_users: int, seed: int = 0, config: SyntheticConfig | None = None
                     ) -> SyntheticTables:
    """The compact synthetic tables; see the module docstring for the generative story."""
    if n_items < 1 or n_users < 1:
        raise ValueError(f"n_items and n_users must be >= 1, got {n_items} and {n_users}")
    cfg = config or SyntheticConfig()
    rng = np.random.default_rng(seed)
    window = cfg.months * SECONDS_PER_MONTH
    graph = _type_graph(cfg, rng)
    type_names = [f"type-{t:03d}" for t in range(cfg.n_types)]

    # items: type (Zipf sizes), platform, release time, popularity, public id
    type_share = _zipf(cfg.n_types, cfg.type_zipf, rng)
    item_type = rng.choice(cfg.n_types, n_items, p=type_share / type_share.sum()).astype(np.int64)
    platform = rng.integers(0, cfg.n_platforms, n_items)
    release = np.where(rng.random(n_items) < cfg.late_item_fraction, rng.uniform(0, window, n_items), 0.0)
    release = np.floor(release)
    new_line = launch = None
    if cfg.new_line_months > 0:  # no draws here: the default stream is unchanged
        launch = np.floor(window - cfg.new_line_months * SECONDS_PER_MONTH)
        new_line = graph.anchor_types[1::2]
        release = np.where(np.isin(item_type, new_line), np.maximum(release, launch), release)
    popularity = _zipf(n_items, cfg.item_zipf, rng)
    public = rng.permutation(n_items)
    sampler = _PrefixSampler(item_type * cfg.n_platforms + platform, release, popularity,
                             cfg.n_types * cfg.n_platforms, window)

    # sessions: user, time, anchor type and platform, length
    n_sessions = max(1, round(n_users * cfg.interactions_per_user / cfg.mean_session_length))
    session_user = np.concatenate([np.arange(min(n_users, n_sessions)),
                                   rng.integers(0, n_users, max(0, n_sessions - n_users))])
    session_time = np.floor(rng.uniform(0, window, n_sessions))
    anchor_type = graph.anchor_types[rng.choice(len(graph.anchor_types), n_sessions, p=graph.anchor_popularity)]
    anchor_platform = rng.integers(0, cfg.n_platforms, n_sessions)
    length = 1 + rng.poisson(cfg.mean_session_length - 1, n_sessions)
    if new_line is not None:  # before the launch, a new-line session starts with an old-line anchor type
        old_line = ~np.isin(graph.anchor_types, new_line)
        early = np.flatnonzero(np.isin(anchor_type, new_line) & (session_time < launch))
        p_old = graph.anchor_popularity[old_line] / graph.anchor_popularity[old_line].sum()
        anchor_type[early] = graph.anchor_types[old_line][rng.choice(int(old_line.sum()), len(early), p=p_old)]
    preferences = session_facet = None
    if cfg.planted_preferences > 0:  # draws only when on: the default stream (and output) is unchanged
        preferences, session_facet, anchor_type, anchor_platform = _plant_sessions(
            cfg, rng, graph, n_users, session_user, anchor_type, anchor_platform)

    # events: slot k of session s; slot 0 is the anchor, later slots follow the type graph
    session = np.repeat(np.arange(n_sessions), length)
    slot = np.arange(len(session)) - np.repeat(np.cumsum(length) - length, length)
    a_type = anchor_type[session]
    edge = (rng.random(len(session))[:, None] > np.cumsum(graph.weights, axis=1)[a_type]).sum(axis=1)
    edge = np.minimum(edge, graph.targets.shape[1] - 1)
    ev_type = np.where(slot == 0, a_type, graph.targets[a_type, edge])
    ev_platform = anchor_platform[session]
    noise = (slot > 0) & (rng.random(len(session)) < cfg.noise_rate)
    ev_type = np.where(noise, rng.integers(0, cfg.n_types, len(session)), ev_type)
    ev_platform = np.where(noise, rng.integers(0, cfg.n_platforms, len(session)), ev_platform)
    if session_facet is not None:
        ev_type, ev_platform = _plant_slots(cfg, rng, session_facet[session], slot, noise, a_type, ev_type,
                                            ev_platform)
    ev_time = session_time[session] + slot * cfg.seconds_between_items
    if cfg.delayed_complement_rate > 0:  # a delayed complement is its own later session of the same user
        delayed = np.flatnonzero((slot > 0) & (rng.random(len(session)) < cfg.delayed_complement_rate))
        ev_time[delayed] = np.floor(ev_time[delayed] + rng.exponential(cfg.mean_delay_days * 86400, len(delayed)))
        session_user = np.concatenate([session_user, session_user[session[delayed]]])
        anchor_type = np.concatenate([anchor_type, anchor_type[session[delayed]]])  # never a bundle: no anchor
        session = session.copy()
        session[delayed] = n_sessions + np.arange(len(delayed))
    item = sampler.draw(ev_type * cfg.n_platforms + ev_platform, ev_time, rng)
    del edge, a_type, ev_type, ev_platform

    # drop empty draws, purchases after the window (delayed ones) and repeats of an item within a session
    keep = (item >= 0) & ((ev_time < window) if cfg.delayed_complement_rate > 0 else True)
    key = session.astype(np.int64) * n_items + np.where(keep, item, 0)
    _, first = np.unique(np.where(keep, key, -1 - np.arange(len(key))), return_index=True)
    unique_mask = np.zeros(len(key), dtype=bool)
    unique_mask[first] = True
    keep &= unique_mask
    session, slot, item, noise, ev_time = session[keep], slot[keep], item[keep], noise[keep], ev_time[keep]
    del key, keep, unique_mask, first

    behaviour = _behaviour_frame(session, item, ev_time, noise, session_user, public, n_items, n_users, cfg)
    bundles = _bundle_frame(session, slot, item, noise, ev_time, public, n_items, anchor_type, type_names,
                            item_type, cfg, rng)
    catalog = _catalog(n_items, item_type, platform, release, public, type_names, cfg)
    return SyntheticTables(catalog, behaviour, bundles, graph, type_names, preferences)


def _plant_sessions(cfg: SyntheticConfig, rng: np.random.Generator, graph: TypeGraph, n_users: int,
                    session_user: np.ndarray, anchor_type: np.ndarray, anchor_platform: np.ndarray):
    """Per-user source preferences, the personalised metric's planted truth (eccr/rank/personal_metric.py).

    Each user draws weights over PREFERENCE_FACETS, a home platform and a home anchor type. A session follows,
    with chance `planted_preferences`, one facet drawn from those weights, in its anchor (what the user keeps
    coming back to) and in its complements (`_plant_slots`): platform -- anchor on the home platform, complements
    of any type on it; graph -- the home anchor type, its type-graph complements on any platform; group -- an anchor
    type of the home anchor's category group, complements of any type of that group on any platform.
    Returns (preferences, facet per session or -1, anchor types, anchor platforms)."""
    prefs = rng.dirichlet(np.full(len(PREFERENCE_FACETS), cfg.preference_concentration), n_users)
    n = len(session_user)
    follow = rng.random(n) < cfg.planted_preferences
    facet = np.minimum((rng.random(n)[:, None] > np.cumsum(prefs[session_user], axis=1)).sum(axis=1), 2)
    facet = np.where(follow, facet, -1)
    home_platform = rng.integers(0, cfg.n_platforms, n_users)
    anchors = graph.anchor_types
    home_anchor = anchors[rng.choice(len(anchors), n_users, p=graph.anchor_popularity)]
    group_type = _type_of_group(rng, anchors, home_anchor[session_user] % CATEGORY_GROUPS)
    anchor_platform = np.where(facet == 0, home_platform[session_user], anchor_platform)
    anchor_type = np.where(facet == 1, home_anchor[session_user], np.where(facet == 2, group_type, anchor_type))
    return prefs, facet, anchor_type, anchor_platform


def _type_of_group(rng: np.random.Generator, types: np.ndarray, group: np.ndarray) -> np.ndarray:
    """A uniform draw among `types` of each requested category group (every requested group holds one)."""
    group_of = types % CATEGORY_GROUPS
    members = types[np.argsort(group_of, kind="stable")]
    starts = np.searchsorted(np.sort(group_of), np.arange(CATEGORY_GROUPS))
    sizes = np.bincount(group_of, minlength=CATEGORY_GROUPS)
    return members[starts[group] + np.minimum((rng.random(len(group)) * sizes[group]).astype(np.int64),
                                              np.maximum(sizes[group] - 1, 0))]


def _plant_slots(cfg: SyntheticConfig, rng: np.random.Generator, facet: np.ndarray, slot: np.ndarray,
                 noise: np.ndarray, anchor_type: np.ndarray, ev_type: np.ndarray, ev_platform: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The clean complement slots of a session that follows a facet (see `_plant_sessions`)."""
    n = len(slot)
    follow = (slot > 0) & ~noise & (facet >= 0)
    random_type, random_platform = rng.integers(0, cfg.n_types, n), rng.integers(0, cfg.n_platforms, n)
    group_type = _type_of_group(rng, np.arange(cfg.n_types), anchor_type % CATEGORY_GROUPS)
    new_type = np.where(facet == 0, random_type, np.where(facet == 1, ev_type, group_type))
    new_platform = np.where(facet == 0, ev_platform, random_platform)
    return np.where(follow, new_type, ev_type), np.where(follow, new_platform, ev_platform)


def _behaviour_frame(session, item, ev_time, noise, session_user, public, n_items, n_users, cfg) -> pd.DataFrame:
    order = np.lexsort((session, ev_time))  # the schema's order: by time, then session
    s = session[order]
    return pd.DataFrame({
        "user_id": _padded_ids("U", session_user[s], len(str(max(n_users - 1, 1)))),
        "session_id": _padded_ids("s", s, len(str(max(len(session_user) - 1, 1)))),
        "item_id": _padded_ids("S", public[item[order]], len(str(max(n_items - 1, 1)))),
        "timestamp": (cfg.start + ev_time[order]).astype(np.int64),
        "is_noise": noise[order],
    })


def _bundle_frame(session, slot, item, noise, ev_time, public, n_items, anchor_type, type_names, item_type, cfg,
                  rng) -> pd.DataFrame:
    """Sessions whose anchor survived and that hold >= 1 compatible complement; a share become bundles."""
    clean = ~noise
    has_anchor = np.zeros(len(anchor_type), dtype=bool)
    has_anchor[session[slot == 0]] = True
    n_clean = np.bincount(session[clean], minlength=len(anchor_type))
    chosen = has_anchor & (n_clean >= 2) & (rng.random(len(anchor_type)) < cfg.bundle_rate)
    rows = clean & chosen[session]
    b_session, b_item, b_slot = session[rows], item[rows], slot[rows]
    # intent: "<anchor type> buyer needs <type of the first complement>"; one string per (anchor, complement) type
    first_complement = np.full(len(anchor_type), -1, dtype=np.int64)
    second = b_slot > 0
    order = np.lexsort((b_slot[second], b_session[second]))
    sess_second, item_second = b_session[second][order], b_item[second][order]
    starts = np.unique(sess_second, return_index=True)[1]
    first_complement[sess_second[starts]] = item_type[item_second[starts]]
    n_types = len(type_names)
    intent_code = anchor_type[b_session] * n_types + first_complement[b_session]
    codes, inverse = np.unique(intent_code, return_inverse=True)
    intents = [f"{type_names[c // n_types]} buyer needs a {type_names[c % n_types]}" for c in codes]  # per type pair
    width = len(str(max(len(anchor_type) - 1, 1)))
    return pd.DataFrame({
        "bundle_id": _padded_ids("b", b_session, width),
        "session_id": _padded_ids("s", b_session, width),
        "item_id": _padded_ids("S", public[b_item], len(str(max(n_items - 1, 1)))),
        "intent": pd.Categorical.from_codes(inverse.astype(np.int32), categories=pd.Index(intents, dtype=object)),
        "timestamp": (cfg.start + ev_time[rows]).astype(np.int64),
    })


def generate_synthetic(n_items: int, n_users: int, seed: int = 0, interactions_per_user: float = 10.0,
                       n_types: int = 50, config: SyntheticConfig | None = None) -> Dataset:
    """A synthetic `Dataset` of `n_items` items and about `n_users * interactions_per_user` purchases."""
    cfg = config or SyntheticConfig(interactions_per_user=interactions_per_user, n_types=n_types)
    tables = synthetic_tables(n_items, n_users, seed, cfg)
    return Dataset(name=f"synthetic-{n_items}x{n_users}-seed{seed}",
                   catalog=Catalog(tables.catalog.loc[:, list(CATALOG_COLUMNS)]),
                   behaviour=Behaviour(tables.behaviour.loc[:, list(BEHAVIOUR_COLUMNS)]),
                   bundles=Bundles(tables.bundles),
                   source=f"eccr.data.synth.generate_synthetic(n_items={n_items}, n_users={n_users}, seed={seed})")


# ---------------------------------------------------------------- Parquet storage
def write_dataset_parquet(ds: Dataset, out_dir: str | Path) -> Path:
    """Write catalog/behaviour/bundles/pairs.parquet (schema column names; category as a list column) plus
    dataset.json (name, source). Returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds.catalog.items.loc[:, list(CATALOG_COLUMNS)].to_parquet(out / PARQUET_FILES["catalog"], index=False)
    ds.behaviour.events.loc[:, list(BEHAVIOUR_COLUMNS)].to_parquet(out / PARQUET_FILES["behaviour"], index=False)
    ds.bundles.rows.loc[:, list(BUNDLE_COLUMNS)].to_parquet(out / PARQUET_FILES["bundles"], index=False)
    pair_columns = list(PAIR_COLUMNS) + ["timestamp"]
    ds.pairs.rows.loc[:, pair_columns].to_parquet(out / PARQUET_FILES["pairs"], index=False)
    (out / "dataset.json").write_text(json.dumps({"name": ds.name, "source": ds.source}, indent=2) + "\n")
    return out


def _read_parquet(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as err:
        raise DataError(f"cannot read Parquet: {err}", file=path) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"missing columns {missing}; has {list(frame.columns)}", file=path)
    return frame


def read_dataset_parquet(out_dir: str | Path) -> Dataset:
    """Read what `write_dataset_parquet` wrote; behaviour, bundles and pairs files are optional."""
    folder = Path(out_dir)
    catalog_path = folder / PARQUET_FILES["catalog"]
    if not catalog_path.exists():
        raise DataError(f"no {PARQUET_FILES['catalog']} in the folder", file=folder)
    meta_path = folder / "dataset.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    parts = {}
    for name, columns, empty, cls in (("behaviour", BEHAVIOUR_COLUMNS, empty_behaviour, Behaviour),
                                      ("bundles", BUNDLE_COLUMNS, empty_bundles, Bundles),
                                      ("pairs", PAIR_COLUMNS, empty_pairs, ComplementPairs)):
        path = folder / PARQUET_FILES[name]
        parts[name] = cls(_read_parquet(path, columns)) if path.exists() else empty()
    return Dataset(name=meta.get("name", folder.name), catalog=Catalog(_read_parquet(catalog_path, CATALOG_COLUMNS)),
                   source=meta.get("source", str(folder)), **parts)
