"""The embedded demo: our own catalogue of 418 electronics products (cameras and their batteries, phones and
their cases, printers and their ink ...) with simulated shopping sessions and intent-labelled bundles.

`load_demo()` is what `load_dataset("demo")` returns: a small but realistic domain where compatibility matters
(a Canon battery fits Canon bodies, not Nikon ones), complements are directed, and later months bring items
that earlier months never had. Rebuild catalog.csv with `python -m eccr.data.demo.build_catalog`.
"""
from __future__ import annotations

from eccr.data.demo.catalog import (
    CATALOG_PATH,
    GRAPH_PATH,
    TEACHER_EXPLANATIONS_PATH,
    ComplementGraph,
    DemoCatalog,
    read_complement_graph,
    read_demo_catalog,
)
from eccr.data.demo.simulate import SessionConfig, SimulatedSessions, simulate_sessions
from eccr.data.schema import Behaviour, Bundles, Dataset

__all__ = [
    "CATALOG_PATH",
    "GRAPH_PATH",
    "TEACHER_EXPLANATIONS_PATH",
    "ComplementGraph",
    "DemoCatalog",
    "SessionConfig",
    "SimulatedSessions",
    "load_demo",
    "read_complement_graph",
    "read_demo_catalog",
    "simulate_sessions",
]


def load_demo(n_users: int = 400, seed: int = 0, config: SessionConfig | None = None) -> Dataset:
    """The demo catalogue with `n_users` simulated shoppers: purchases as Behaviour, labelled bundles as Bundles.

    Deterministic for a seed. Views of substitutes are not purchases and are left out; get them from
    `simulate_sessions(read_demo_catalog(), read_complement_graph(), n_users, seed).views`.
    """
    catalog = read_demo_catalog()
    sessions = simulate_sessions(catalog, read_complement_graph(), n_users=n_users, seed=seed, config=config)
    return Dataset(name="demo", catalog=catalog.catalog(), behaviour=Behaviour(sessions.purchases),
                   bundles=Bundles(sessions.bundles),
                   source=f"eccr embedded demo catalogue, simulated sessions (n_users={n_users}, seed={seed})")
