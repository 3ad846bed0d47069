"""Lists whose label arrives late (a complement the same user bought in a later session): they obey the honesty
rules of the bundle lists, their newest labels are censored by the split when the generator plants a delay, and
P/Q weights fitted on the matured queries recover the planted conversion that the recent labels hide."""
import numpy as np
import pytest

from eccr.data.candidate_lists import CandidateListConfig, known_complements, normalized_title, seen_items
from eccr.data.categories import leaf_category
from eccr.data.delay import DAY, DelayModel, importance_weights
from eccr.data.later_lists import build_later_lists, delay_policy_weights
from eccr.data.splits import temporal_split
from eccr.data.synth import SyntheticConfig, generate_synthetic, synthetic_tables

DELAYED = SyntheticConfig(interactions_per_user=5.0, n_types=20, months=12, delayed_complement_rate=0.5,
                          mean_delay_days=20.0, bundle_rate=0.2)


@pytest.fixture(scope="module")
def delayed_split():
    return temporal_split(generate_synthetic(1500, 1500, seed=3, config=DELAYED), 0.1, 0.2)


@pytest.fixture(scope="module")
def train_lists(delayed_split):
    return build_later_lists(delayed_split, "train", CandidateListConfig(negatives=12, max_same_leaf=5), 60.0)


def test_later_lists_obey_the_honesty_rules(delayed_split, train_lists):
    split = delayed_split
    items = split.train.catalog.items.set_index("item_id")
    leaf = {i: leaf_category(c) for i, c in items["category"].items()}
    seen = seen_items(split.train)
    known = known_complements(split, "train")
    ev = split.train.behaviour.events
    first = ev.sort_values("timestamp").drop_duplicates(["user_id", "item_id"]).set_index(["user_id", "item_id"])
    by_session = ev.groupby("session_id")["user_id"].first()
    assert len(train_lists.lists.pairs) > 300
    for pair, age, delay in zip(train_lists.lists.pairs, train_lists.age_days, train_lists.delay_days):
        user = by_session[pair.session_id]
        t_q, t_p = first.loc[(user, pair.query), "timestamp"], first.loc[(user, pair.positive), "timestamp"]
        assert 0 < t_p - t_q <= 60 * DAY and first.loc[(user, pair.positive), "session_id"] != pair.session_id
        assert t_p < split.valid_start                                       # observed by the cutoff
        assert abs(delay - (t_p - t_q) / DAY) < 1e-6 and delay <= age
        assert abs(age - (split.valid_start - t_q) / DAY) < 1e-6
        assert leaf[pair.positive] != leaf[pair.query]
        assert len(pair.negatives) == 12 and "co_bought" not in pair.kinds
        assert all((n in seen) == pair.positive_seen for n in pair.negatives)   # status-matched
        titles = {normalized_title(items.at[i, "title"]) for i in (pair.query, pair.positive)}
        assert not titles & {normalized_title(items.at[n, "title"]) for n in pair.negatives}
        assert not set(pair.negatives) & known.get(pair.query, set())          # known complements never negatives
        later = set(ev.loc[(ev["user_id"] == user) & (ev["timestamp"] > t_q)
                           & (ev["timestamp"] <= t_q + 60 * DAY), "item_id"])
        assert not set(pair.negatives) & later                                # nor what this user bought later
        same_leaf = [n for n, k in zip(pair.negatives, pair.kinds) if k == "same_leaf"]
        assert all(leaf[n] == leaf[pair.positive] for n in same_leaf)


def test_the_split_censors_recent_labels_and_pq_recovers_the_planted_conversion(delayed_split, train_lists):
    """Truth = the same queries' labels looked up past the cutoff. The newest month's conversion as observed is
    far too low; weighted by P/Q (fitted on queries older than the horizon) it is close to the truth."""
    complete = build_later_lists(delayed_split, "train", CandidateListConfig(negatives=12), 60.0,
                                 complete_labels=True)
    observed, truth = train_lists.queries, complete.queries
    assert observed[["user_id", "item_id"]].equals(truth[["user_id", "item_id"]])
    recent = observed["age_days"].to_numpy() < 30
    age = observed["age_days"].to_numpy()
    label = np.isfinite(observed["delay_days"].to_numpy()).astype(int)
    true_rate = np.isfinite(truth["delay_days"].to_numpy())[recent].mean()
    model = DelayModel.fit(age, observed["delay_days"].to_numpy(), 60.0)
    weights = importance_weights(label, age, model)
    as_observed = label[recent].mean()
    weighted = np.average(label[recent], weights=weights[recent])
    assert as_observed < true_rate - 0.05                       # recent positives are missing
    assert abs(weighted - true_rate) < abs(as_observed - true_rate) / 3
    assert len(complete.lists.pairs) > len(train_lists.lists.pairs)  # the complete lists hold the late ones


def test_delay_policy_weights(train_lists):
    none = delay_policy_weights(train_lists, "none")
    drop = delay_policy_weights(train_lists, "drop", drop_days=30)
    pq = delay_policy_weights(train_lists, "pq", max_weight=10)
    assert (none == 1).all()
    assert ((drop == 0) == (train_lists.age_days < 30)).all()
    young, old = train_lists.age_days < 10, train_lists.age_days >= 60
    assert (pq >= 1).all() and pq.max() <= 10 and np.allclose(pq[old], 1.0)
    assert pq[young].mean() > 1.5                               # a young positive stands for the missing ones
    with pytest.raises(ValueError, match="delay policy"):
        delay_policy_weights(train_lists, "half")


def test_new_line_launches_late_and_is_off_by_default():
    base = SyntheticConfig(interactions_per_user=3.0, n_types=20, months=12)
    default = synthetic_tables(500, 400, seed=1, config=base)
    explicit = synthetic_tables(500, 400, seed=1, config=SyntheticConfig(**{**base.__dict__, "new_line_months": 0.0}))
    assert default.behaviour.equals(explicit.behaviour) and default.bundles.equals(explicit.bundles)
    tables = synthetic_tables(2000, 1500, seed=1, config=SyntheticConfig(**{**base.__dict__, "new_line_months": 4.0}))
    launch = base.start + 8 * 30.4375 * 86400
    catalog = tables.catalog.set_index("item_id")
    new_line = set(tables.graph.anchor_types[1::2].tolist())
    new_items = catalog.index[catalog["product_type"].isin(new_line)]
    assert len(new_items) and (catalog.loc[new_items, "release"] >= launch - 1).all()
    bought = tables.behaviour.assign(kind=tables.behaviour["item_id"].astype(str).map(catalog["product_type"]))
    assert (bought.loc[bought["kind"].isin(new_line), "timestamp"] >= launch - 1).all()
    assert bought.loc[bought["timestamp"] >= launch, "kind"].isin(new_line).mean() > 0.1
