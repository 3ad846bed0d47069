"""Shopping sessions simulated over the demo catalogue, with crowd-style bundles and written intents.

Each user has a few sessions spread over 18 months. Most sessions start from an anchor (a camera, a phone, a
console ...) drawn with Zipf-like popularity among the items already released, then add *compatible* complements
along the directed type graph (a Canon LP-E10 battery for a Rebel T7, never a Nikon one), sometimes one
incompatible noise item, and sometimes the substitutes the user looked at first. Views are returned apart from
purchases (`SimulatedSessions.views`) and never enter `Behaviour`, because the real data sets record purchases
only. A share of anchor sessions is labelled as a bundle (anchor + its compatible complements, never the noise)
with a short intent like "Canon photographer needs a spare battery and storage", as the crowd workers of the
bundle-intent data did. Later sessions may buy complements for a device bought earlier (games for the console),
and items launch on their real release month, so later periods hold items earlier ones never had (cold start).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eccr.data.demo.catalog import ComplementGraph, DemoCatalog

SECONDS_PER_MONTH = 30.4375 * 24 * 3600
EVENT_COLUMNS = ["user_id", "session_id", "item_id", "timestamp"]
BUNDLE_COLUMNS = ["bundle_id", "session_id", "item_id", "intent", "timestamp"]


@dataclass
class SessionConfig:
    start: int = 1672531200             # unix seconds of month 0 (2023-01-01 00:00 UTC)
    months: int = 18                    # length of the simulated window
    sessions_per_user: float = 2.2      # mean sessions per user (1 + Poisson), capped below
    max_sessions_per_user: int = 6
    anchor_zipf: float = 1.0            # popularity of anchor items ∝ 1 / rank**anchor_zipf (rank drawn per seed)
    item_zipf: float = 0.8              # the same within each complement type
    launch_boost: float = 4.0           # a new item weighs (1 + launch_boost) at release ...
    launch_decay_months: float = 3.0    # ... decaying with this time constant (launch hype)
    complement_scale: float = 1.0       # multiplies every graph weight (probability of adding that type)
    max_complements: int = 4            # complements added to one anchor at most
    noise_rate: float = 0.15            # chance an anchor session also buys an incompatible item
    follow_up_rate: float = 0.25        # chance a later session buys complements for a device owned before
    lone_item_rate: float = 0.05        # chance a session is one accessory bought alone
    view_rate: float = 0.5              # chance the user first views 1..max_views substitutes of the anchor
    max_views: int = 3
    bundle_rate: float = 0.6            # chance an anchor session with >= 1 complement is labelled a bundle
    seconds_between_items: int = 90     # spacing of the purchases inside one session

    def __post_init__(self) -> None:
        rates = {k: getattr(self, k) for k in ("noise_rate", "follow_up_rate", "lone_item_rate", "view_rate",
                                                 "bundle_rate")}
        bad = [k for k, v in rates.items() if not 0.0 <= v <= 1.0]
        if bad or self.follow_up_rate + self.lone_item_rate > 1.0:
            raise ValueError(f"SessionConfig rates must lie in [0, 1] (and follow_up + lone_item <= 1): {bad}")
        if self.months <= 0 or self.sessions_per_user < 1 or self.max_sessions_per_user < 1:
            raise ValueError("SessionConfig needs months > 0, sessions_per_user >= 1, max_sessions_per_user >= 1")


@dataclass
class SimulatedSessions:
    purchases: pd.DataFrame  # EVENT_COLUMNS: what was bought (becomes Behaviour)
    views: pd.DataFrame      # EVENT_COLUMNS: substitutes viewed before the anchor, not bought
    bundles: pd.DataFrame    # BUNDLE_COLUMNS: anchor first, then its compatible complements


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """1 / rank**exponent over a random ranking of n items (which item is a hit depends on the seed)."""
    ranks = rng.permutation(n) + 1
    return 1.0 / ranks.astype(np.float64) ** exponent


class _Simulator:
    def __init__(self, catalog: DemoCatalog, graph: ComplementGraph, config: SessionConfig,
                 rng: np.random.Generator):
        self.cat, self.graph, self.cfg, self.rng = catalog, graph, config, rng
        self.anchors = np.flatnonzero(np.isin(catalog.types, graph.anchor_types))
        if len(self.anchors) == 0:
            raise ValueError(f"no catalogue item has an anchor type {graph.anchor_types}")
        self.popularity = np.empty(len(catalog))
        for t in np.unique(catalog.types):
            members = catalog.positions_of_type(t)
            self.popularity[members] = _zipf_weights(len(members), config.item_zipf, rng)
        self.anchor_popularity = _zipf_weights(len(self.anchors), config.anchor_zipf, rng)
        self.brands = catalog.items["brand"].to_numpy()
        self.models = catalog.items["model"].to_numpy()
        self._compatible: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}

    # -- weights and candidates
    def _time_weights(self, positions: np.ndarray, base: np.ndarray, month: float) -> np.ndarray:
        age = month - self.cat.release_month[positions]
        boost = 1.0 + self.cfg.launch_boost * np.exp(-np.maximum(age, 0.0) / self.cfg.launch_decay_months)
        return np.where(age >= 0, base * boost, 0.0)

    def _draw(self, positions: np.ndarray, base: np.ndarray, month: float) -> int | None:
        """One position drawn ∝ base weight x launch boost among the items released by `month`."""
        if len(positions) == 0:
            return None
        cumulative = np.cumsum(self._time_weights(positions, base, month))
        if cumulative[-1] <= 0:
            return None
        index = np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right")
        return int(positions[min(index, len(positions) - 1)])

    def _split_by_fit(self, anchor: int, product_type: str) -> tuple[np.ndarray, np.ndarray]:
        """Items of a type that fit the anchor, and those that do not (cached)."""
        key = (anchor, product_type)
        if key not in self._compatible:
            members = self.cat.positions_of_type(product_type)
            fit = np.array([self.cat.is_compatible(anchor, int(m)) for m in members], dtype=bool)
            self._compatible[key] = (members[fit], members[~fit])
        return self._compatible[key]

    def _complement(self, anchor: int, product_type: str, month: float, taken: set[int]) -> int | None:
        fitting, _ = self._split_by_fit(anchor, product_type)
        fitting = np.array([p for p in fitting if p not in taken], dtype=np.int64)
        return self._draw(fitting, self.popularity[fitting], month)

    def _noise(self, anchor: int, month: float) -> int | None:
        """An incompatible item of a complement type (a Nikon battery for a Canon body) or, when the type is
        universal, an item of a type unrelated to the anchor."""
        edges = self.graph.targets(self.cat.types[anchor])
        if edges:
            _, misfits = self._split_by_fit(anchor, edges[self.rng.integers(len(edges))][0])
            pick = self._draw(misfits, self.popularity[misfits], month)
            if pick is not None:
                return pick
        related = {self.cat.types[anchor]} | {t for t, _ in edges}
        others = np.flatnonzero(~np.isin(self.cat.types, list(related)))
        return self._draw(others, self.popularity[others], month)

    # -- sessions
    def anchor_session(self, month: float) -> tuple[int, list[int], list[int], int | None]:
        """(anchor, compatible complements, substitutes viewed, noise item or None)."""
        anchor = self._draw(self.anchors, self.anchor_popularity, month)
        assert anchor is not None, "month 0 always has released anchors"
        views: list[int] = []
        if self.rng.random() < self.cfg.view_rate:
            same = self.cat.positions_of_type(self.cat.types[anchor])
            same = same[same != anchor]
            for _ in range(int(self.rng.integers(1, self.cfg.max_views + 1))):
                remaining = same[~np.isin(same, views)]
                pick = self._draw(remaining, self.popularity[remaining], month)
                if pick is not None:
                    views.append(pick)
        complements: list[int] = []
        taken = {anchor}
        for product_type, weight in self.graph.targets(self.cat.types[anchor]):
            if len(complements) >= self.cfg.max_complements:
                break
            if self.rng.random() < weight * self.cfg.complement_scale:
                pick = self._complement(anchor, product_type, month, taken)
                if pick is not None:
                    complements.append(pick)
                    taken.add(pick)
        noise = self._noise(anchor, month) if self.rng.random() < self.cfg.noise_rate else None
        return anchor, complements, views, noise

    def follow_up(self, owned: list[int], month: float) -> list[int]:
        """Complements for a device bought in an earlier session (ink for the printer, a game for the console)."""
        device = owned[int(self.rng.integers(len(owned)))]
        edges = self.graph.targets(self.cat.types[device])
        if not edges:
            return []
        types = [t for t, w in edges if self.rng.random() < w * self.cfg.complement_scale] or [edges[0][0]]
        bought: list[int] = []
        taken = {device}
        for product_type in types[: self.cfg.max_complements]:
            pick = self._complement(device, product_type, month, taken)
            if pick is not None:
                bought.append(pick)
                taken.add(pick)
        return bought

    def lone_item(self, month: float) -> list[int]:
        accessories = np.flatnonzero(~self.cat.is_device)
        pick = self._draw(accessories, self.popularity[accessories], month)
        return [] if pick is None else [pick]

    def intent(self, anchor: int, complements: list[int]) -> str:
        """A short crowd-style intent naming the buyer and what the complements are for."""
        anchor_type = self.cat.types[anchor]
        brand, model = self.brands[anchor], self.models[anchor]
        needs = list(dict.fromkeys(self.graph.phrases.get(self.cat.types[c], self.cat.types[c])
                                   for c in complements))
        joined = needs[0] if len(needs) == 1 else ", ".join(needs[:-1]) + " and " + needs[-1]
        personas = self.graph.personas.get(anchor_type) or [f"{anchor_type} buyer"]
        persona = personas[int(self.rng.integers(len(personas)))].format(brand=brand, model=model)
        form = self.rng.random()
        if form < 0.6:
            text = f"{persona} needs {joined}"
        elif form < 0.85:
            text = f"{persona}: {joined}"
        else:
            text = f"Accessories for the {model or anchor_type}: {joined}"
        return text[0].upper() + text[1:]


def simulate_sessions(catalog: DemoCatalog, graph: ComplementGraph, n_users: int, seed: int,
                      config: SessionConfig | None = None) -> SimulatedSessions:
    """Simulate `n_users` shoppers; the same (catalogue, graph, n_users, seed, config) gives the same tables."""
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1, got {n_users}")
    cfg = config or SessionConfig()
    rng = np.random.default_rng(seed)
    sim = _Simulator(catalog, graph, cfg, rng)
    ids = catalog.items["item_id"].to_numpy()
    window = cfg.months * SECONDS_PER_MONTH
    purchases, views, bundles = [], [], []
    session_number = bundle_number = 0
    for u in range(n_users):
        user = f"U{u:05d}"
        n_sessions = min(cfg.max_sessions_per_user, 1 + int(rng.poisson(cfg.sessions_per_user - 1)))
        owned: list[int] = []
        for offset in np.sort(rng.uniform(0, window, n_sessions)):
            session = f"S{session_number:06d}"
            session_number += 1
            start = cfg.start + int(offset)
            month = offset / SECONDS_PER_MONTH
            kind = rng.random()
            bought: list[int]
            if owned and kind < cfg.follow_up_rate:
                bought = sim.follow_up(owned, month)
            elif kind < cfg.follow_up_rate + cfg.lone_item_rate:
                bought = sim.lone_item(month)
            else:
                anchor, complements, viewed, noise = sim.anchor_session(month)
                bought = [anchor] + complements + ([noise] if noise is not None else [])
                views += [(user, session, ids[v], start - (len(viewed) - k) * 60) for k, v in enumerate(viewed)]
                if catalog.is_device[anchor]:
                    owned.append(anchor)
                if complements and rng.random() < cfg.bundle_rate:
                    bundle = f"B{bundle_number:05d}"
                    bundle_number += 1
                    intent = sim.intent(anchor, complements)
                    bundles += [(bundle, session, ids[i], intent, start) for i in [anchor] + complements]
            purchases += [(user, session, ids[i], start + k * cfg.seconds_between_items)
                          for k, i in enumerate(bought)]
    return SimulatedSessions(pd.DataFrame(purchases, columns=EVENT_COLUMNS),
                             pd.DataFrame(views, columns=EVENT_COLUMNS),
                             pd.DataFrame(bundles, columns=BUNDLE_COLUMNS))
