"""ComplementConfig.delay_weighting: it touches only the later-complement lists, so the default (bundle lists) fit
is unchanged; on later lists with a planted censored delay the P/Q weights change the fit, dropping leaves out the
young lists, and "none" keeps every list at weight 1."""
import numpy as np
import pytest
import torch

from eccr.data.candidate_lists import CandidateListConfig
from eccr.data.splits import temporal_split
from eccr.data.synth import SyntheticConfig, synthetic_tables
from eccr.rank.complement import fit_complement_scorer, weighted_training_lists
from eccr.rank.config import ComplementConfig
from eccr.represent.vectors import ItemVectors

SMALL = {"hidden": 16, "word_dim": 8, "max_epochs": 2, "list_draws": 1, "patience": 5, "batch_size": 64}
LISTS = CandidateListConfig(negatives=8, max_same_leaf=3)


@pytest.fixture(scope="module")
def world():
    from eccr.data.schema import Behaviour, Bundles, Catalog, Dataset

    config = SyntheticConfig(interactions_per_user=4.0, n_types=12, months=10, delayed_complement_rate=0.5,
                             mean_delay_days=20.0, bundle_rate=0.3, new_line_months=5.0)
    tables = synthetic_tables(600, 500, seed=2, config=config)
    cat = tables.catalog
    ds = Dataset("tiny-delay", Catalog(cat[["item_id", "title", "category", "brand", "text"]].copy()),
                 Behaviour(tables.behaviour[["user_id", "session_id", "item_id", "timestamp"]].copy()),
                 Bundles(tables.bundles))
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(config.n_types, 8))[cat["product_type"].to_numpy()] + 0.3 * rng.normal(size=(len(cat), 8))
    return temporal_split(ds, 0.1, 0.2), ItemVectors(cat["item_id"].astype(str).tolist(), vectors.astype(np.float32))


def _state(scorer):
    return {k: v.clone() for k, v in scorer.net.state_dict().items()}


def test_delay_weighting_leaves_the_bundle_fit_unchanged(world):
    split, vectors = world
    default = _state(fit_complement_scorer(vectors, split, ComplementConfig(**SMALL), LISTS))
    for weighting in ("drop", "pq"):
        other = _state(fit_complement_scorer(vectors, split, ComplementConfig(**SMALL, delay_weighting=weighting),
                                             LISTS))
        assert all(torch.equal(default[k], other[k]) for k in default)


def test_later_lists_weights_per_policy(world):
    split, vectors = world
    weights = {}
    for policy in ("none", "drop", "pq"):
        config = ComplementConfig(**SMALL, training_lists="later", delay_weighting=policy, delay_drop_days=30)
        queries, _, weights[policy] = weighted_training_lists(split, "train", config, LISTS, vectors)
        assert len(queries) == len(weights[policy])
    assert (weights["none"] == 1).all() and len(weights["none"]) > 100
    assert len(weights["drop"]) < len(weights["none"])                       # young lists left out
    assert len(weights["pq"]) == len(weights["none"]) and weights["pq"].max() > 2
    both = weighted_training_lists(split, "train", ComplementConfig(**SMALL, training_lists="both"), LISTS, vectors)
    assert len(both[0]) > len(weights["none"])                               # bundle lists added at weight 1


def test_pq_changes_the_later_fit_and_none_is_as_observed(world):
    split, vectors = world
    fits = {p: fit_complement_scorer(vectors, split, ComplementConfig(**SMALL, training_lists="later",
                                                                      delay_weighting=p), LISTS)
            for p in ("none", "pq")}
    again = fit_complement_scorer(vectors, split, ComplementConfig(**SMALL, training_lists="later"), LISTS)
    none, pq = _state(fits["none"]), _state(fits["pq"])
    assert all(torch.equal(none[k], v) for k, v in _state(again).items())   # seeded, repeatable
    assert not all(torch.equal(none[k], pq[k]) for k in none)
    assert "valid_hr@5" in fits["pq"].history[-1]                            # early-stopped on later valid lists


def test_unknown_delay_weighting_is_refused():
    with pytest.raises(ValueError, match="delay_weighting"):
        ComplementConfig(delay_weighting="half")
    with pytest.raises(ValueError, match="training_lists"):
        ComplementConfig(training_lists="sessions")
