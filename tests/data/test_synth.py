"""The vectorized synthetic generator and the Parquet storage of a Dataset."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eccr.data.demo import load_demo
from eccr.data.schema import DataError
from eccr.data.synth import (
    PARQUET_FILES,
    SyntheticConfig,
    generate_synthetic,
    read_dataset_parquet,
    synthetic_tables,
    write_dataset_parquet,
)

N_ITEMS, N_USERS = 3000, 400


@pytest.fixture(scope="module")
def tables():
    return synthetic_tables(N_ITEMS, N_USERS, seed=1)


def test_shapes_and_compact_dtypes(tables):
    cat, ev = tables.catalog, tables.behaviour
    assert len(cat) == N_ITEMS and cat["item_id"].is_unique
    assert list(cat.columns[:5]) == ["item_id", "title", "category", "brand", "text"]
    assert 0.75 * N_USERS * 10 < len(ev) < 1.1 * N_USERS * 10
    for col in ("user_id", "session_id", "item_id"):
        assert isinstance(ev[col].dtype, pd.CategoricalDtype)
    assert ev["timestamp"].dtype == np.int64 and cat["product_type"].dtype == np.int16
    assert ev["user_id"].nunique() == N_USERS
    assert set(ev["item_id"]) <= set(cat["item_id"])
    assert (ev["timestamp"].diff().dropna() >= 0).all()  # the schema's time order already
    assert all(isinstance(c, list) and len(c) == 3 for c in cat["category"].head(50))


def test_dataset_follows_the_schema():
    ds = generate_synthetic(500, 80, seed=0, interactions_per_user=5, n_types=12)
    assert len(ds.catalog) == 500
    assert list(ds.behaviour.events.columns) == ["user_id", "session_id", "item_id", "timestamp"]
    assert ds.behaviour.events["item_id"].isin(set(ds.catalog.items["item_id"])).all()
    assert len(ds.bundles) > 0 and (ds.bundles.rows["intent"].str.len() > 0).all()
    assert ds.catalog.items["category"].map(len).eq(3).all()


def test_deterministic_per_seed():
    a = synthetic_tables(800, 100, seed=5)
    b = synthetic_tables(800, 100, seed=5)
    c = synthetic_tables(800, 100, seed=6)
    pd.testing.assert_frame_equal(a.catalog, b.catalog)
    pd.testing.assert_frame_equal(a.behaviour, b.behaviour)
    pd.testing.assert_frame_equal(a.bundles, b.bundles)
    assert not a.behaviour["item_id"].astype(str).equals(c.behaviour["item_id"].astype(str))


def test_type_graph_is_directed(tables):
    edges = set(zip(tables.graph.edges()["source"], tables.graph.edges()["target"]))
    reciprocal = sum((t, s) in edges for s, t in edges)
    assert reciprocal < 0.3 * len(edges)
    assert not any(s == t for s, t in edges)


def test_bundles_follow_the_graph_on_one_platform(tables):
    cat = tables.catalog.set_index("item_id")
    targets = tables.graph.targets
    assert tables.bundles["bundle_id"].nunique() >= 10
    for _, group in tables.bundles.groupby("bundle_id", observed=True):
        items = cat.loc[group["item_id"].astype(str)]
        anchor_type, anchor_platform = items["product_type"].iloc[0], items["platform"].iloc[0]
        assert anchor_type in tables.graph.anchor_types
        assert set(items["product_type"].iloc[1:]) <= set(targets[anchor_type])
        assert (items["platform"] == anchor_platform).all()


def test_behaviour_carries_the_type_signal(tables):
    """Consecutive purchases in a session follow the graph far more often than random type pairs would."""
    cat = tables.catalog.set_index("item_id")
    ev = tables.behaviour.assign(type=cat.loc[tables.behaviour["item_id"].astype(str), "product_type"].to_numpy())
    first = ev.groupby("session_id", observed=True).head(1).set_index("session_id")["type"]
    rest = ev[~ev.index.isin(ev.groupby("session_id", observed=True).head(1).index)]
    anchor = first.loc[rest["session_id"]].to_numpy()
    follows = np.array([t in tables.graph.targets[a] for a, t in zip(anchor, rest["type"])])
    assert follows.mean() > 0.8  # noise_rate 0.1; a random type would match 3/50 of the time


def test_cold_start_items_appear_only_after_release(tables):
    cat = tables.catalog.set_index("item_id")
    ev = tables.behaviour
    release = cat.loc[ev["item_id"].astype(str), "release"].to_numpy()
    assert (ev["timestamp"].to_numpy() >= release).all()
    cut = ev["timestamp"].quantile(0.5)
    early = set(ev.loc[ev["timestamp"] < cut, "item_id"].astype(str))
    late = set(ev.loc[ev["timestamp"] >= cut, "item_id"].astype(str))
    assert len(late - early) > 50
    assert (cat["release"] > cat["release"].min()).mean() == pytest.approx(0.3, abs=0.05)


def test_popularity_is_skewed(tables):
    counts = tables.behaviour["item_id"].value_counts()
    assert counts.iloc[: len(counts) // 100].sum() > 0.1 * counts.sum()


def test_bad_sizes_and_config_are_rejected():
    with pytest.raises(ValueError, match="n_items"):
        synthetic_tables(0, 10)
    with pytest.raises(ValueError, match="noise_rate"):
        SyntheticConfig(noise_rate=2.0)
    with pytest.raises(ValueError, match="n_types"):
        SyntheticConfig(n_types=1)


def test_parquet_round_trip_synthetic(tmp_path):
    ds = generate_synthetic(400, 60, seed=2, n_types=10)
    write_dataset_parquet(ds, tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} >= set(PARQUET_FILES.values())
    back = read_dataset_parquet(tmp_path / "out")
    assert back.name == ds.name
    pd.testing.assert_frame_equal(back.catalog.items, ds.catalog.items, check_dtype=False)
    pd.testing.assert_frame_equal(back.behaviour.events, ds.behaviour.events, check_dtype=False)
    pd.testing.assert_frame_equal(back.bundles.rows, ds.bundles.rows, check_dtype=False)
    assert isinstance(back.catalog.items["category"].iloc[0], list)


def test_parquet_round_trip_demo(tmp_path):
    ds = load_demo(n_users=40, seed=4)
    back = read_dataset_parquet(write_dataset_parquet(ds, tmp_path))
    assert back.catalog.items["category"].tolist() == ds.catalog.items["category"].tolist()
    pd.testing.assert_frame_equal(back.bundles.rows, ds.bundles.rows, check_dtype=False)
    assert len(back.all_pairs()) == len(ds.all_pairs())


def test_reading_a_folder_without_catalog_fails_clearly(tmp_path):
    with pytest.raises(DataError, match="catalog.parquet"):
        read_dataset_parquet(tmp_path)
    pd.DataFrame({"item_id": ["a"]}).to_parquet(tmp_path / "catalog.parquet")
    with pytest.raises(DataError, match="missing columns"):
        read_dataset_parquet(tmp_path)
    (tmp_path / "catalog.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(DataError, match="cannot read Parquet"):
        read_dataset_parquet(tmp_path)


def test_planted_user_preferences():
    """Off by default (no preferences, the default stream); on, a session of a platform-facet user stays on one
    platform and one of a group-facet user in one category group more often than the other users' sessions."""
    assert synthetic_tables(300, 40, seed=2).user_preferences is None
    t = synthetic_tables(3000, 400, seed=0, config=SyntheticConfig(planted_preferences=1.0, interactions_per_user=20))
    prefs = t.user_preferences
    assert prefs.shape == (400, 3) and np.allclose(prefs.sum(1), 1.0)
    cat = t.catalog.set_index("item_id")
    items = t.behaviour["item_id"].astype(str)
    events = pd.DataFrame({"session": t.behaviour["session_id"].astype(str),
                           "user": t.behaviour["user_id"].astype(str).str[1:].astype(int),
                           "platform": cat.loc[items, "platform"].to_numpy(),
                           "group": cat.loc[items, "product_type"].to_numpy() % 7})
    sessions = events.groupby("session").agg(platforms=("platform", "nunique"), groups=("group", "nunique"),
                                             n=("user", "size"), user=("user", "first"))
    sessions = sessions[sessions["n"] >= 2]
    facet = prefs[sessions["user"].to_numpy()].argmax(1)
    one_platform = (sessions["platforms"] == 1).to_numpy()
    one_group = (sessions["groups"] == 1).to_numpy()
    assert one_platform[facet == 0].mean() > 2 * one_platform[facet != 0].mean()
    assert one_group[facet == 2].mean() > 2 * one_group[facet != 2].mean()
    with pytest.raises(ValueError):
        SyntheticConfig(planted_preferences=1.5)
