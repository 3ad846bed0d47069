"""Honest candidate lists (eccr.data.candidate_lists) on the tiny shop of tests/evaluate/conftest.py."""
import pandas as pd
import pytest

from eccr.data.candidate_lists import (
    CandidateListConfig,
    CandidateLists,
    build_candidate_lists,
    known_complements,
    load_or_build_candidate_lists,
    seen_items,
)
from eccr.data.schema import Catalog, Dataset
from eccr.data.splits import temporal_split

from ..evaluate.conftest import bundle_mates, tiny_catalog, tiny_dataset

LEAF = {row["item_id"]: (row["category"][-1] if row["category"] else "") for _, row in
        tiny_catalog().items.iterrows()}


@pytest.fixture
def tiny_split():
    return temporal_split(tiny_dataset(), valid_fraction=0.1, test_fraction=0.2)


@pytest.fixture
def lists(tiny_split):
    return build_candidate_lists(tiny_split, "test", CandidateListConfig(seed=3))


def test_pairs_come_from_test_bundles(lists):
    got = {(p.query, p.positive) for p in lists.pairs}
    cam1 = {"cam1", "bat1", "mem1"}
    assert got == {(a, b) for a in cam1 for b in cam1 if a != b} | {("cam2", "bag2"), ("bag2", "cam2")}


def test_every_negative_has_the_positives_seen_status(tiny_split, lists):
    seen = seen_items(tiny_split.train)
    assert "cam1" in seen and "bat1" not in seen  # cam1 was bought in train, bat1 only in the test period
    for pair in lists.pairs:
        assert pair.positive_seen == (pair.positive in seen)
        assert all((n in seen) == pair.positive_seen for n in pair.negatives), (pair.query, pair.positive)


def test_negatives_are_never_positives_or_untitled(tiny_split, lists):
    everything = bundle_mates(tiny_split.train)
    for part in (tiny_split.valid, tiny_split.test):
        for k, v in bundle_mates(part).items():
            everything.setdefault(k, set()).update(v)
    for pair in lists.pairs:
        assert len(pair.negatives) == len(pair.kinds) == len(set(pair.negatives))
        # 20, unless the positive's status has fewer items: only 20 titled items were bought in train
        assert len(pair.negatives) == 20 if not pair.positive_seen else 15 <= len(pair.negatives) <= 20
        assert pair.query not in pair.negatives and pair.positive not in pair.negatives
        assert not set(pair.negatives) & everything[pair.query]
        assert "x0" not in pair.negatives
    assert all("bag3" not in p.negatives for p in lists.pairs if p.query == "cam1")  # a train complement


def test_cobought_negatives_are_bought_with_the_query_but_not_bundled(lists):
    by_pair = {(p.query, p.positive): [n for n, k in zip(p.negatives, p.kinds) if k == "co_bought"]
               for p in lists.pairs}
    assert sorted(by_pair[("cam1", "bat1")]) == ["hdmi3", "mouse1"]  # unseen like bat1; x0 is untitled
    assert by_pair[("bat1", "cam1")] == []  # cam1 is seen, hdmi3/mouse1 are not: status beats kind
    assert by_pair[("cam2", "bag2")] == ["head1"]


def test_same_leaf_negatives_come_from_the_positives_leaf(lists):
    for pair in lists.pairs:
        same = [n for n, k in zip(pair.negatives, pair.kinds) if k == "same_leaf"]
        assert all(LEAF[n] == LEAF[pair.positive] for n in same)
        assert len(same) + pair.kinds.count("near_category") <= 7 and pair.kinds.count("co_bought") <= 7
    assert any(k == "same_leaf" for p in lists.pairs for k in p.kinds)


def test_exact_title_duplicates_of_query_positive_or_complements_are_never_negatives():
    ds = tiny_dataset()
    items = ds.catalog.items.copy()
    dup = items[items["item_id"] == "bat1"].assign(item_id="bat1copy")
    items = pd.concat([items, dup, items[items["item_id"] == "cam1"].assign(item_id="cam1copy",
                                                                           title="  CANON EOS digital camera body model 1")])
    split = temporal_split(Dataset("dup", Catalog(items.reset_index(drop=True)), ds.behaviour, ds.bundles), 0.1, 0.2)
    pairs = [p for p in build_candidate_lists(split, "test", CandidateListConfig(negatives=40)).pairs
             if p.query in ("cam1", "bat1", "mem1")]  # the bundle of cam1, bat1, mem1 (copies: cam1, bat1)
    assert pairs and all("bat1copy" not in p.negatives and "cam1copy" not in p.negatives for p in pairs)


def test_train_lists_know_nothing_of_later_bundles(tiny_split):
    assert "bat1" in known_complements(tiny_split, "test")["cam1"]
    assert "bat1" not in known_complements(tiny_split, "train").get("cam1", set())
    train = build_candidate_lists(tiny_split, "train", CandidateListConfig())
    assert train.pairs and all(p.positive_seen for p in train.pairs)
    seen = seen_items(tiny_split.train)
    assert all(set(p.negatives) <= seen for p in train.pairs)  # items of the training period only


def test_lists_are_seeded_saved_and_reloaded(tiny_split, lists, tmp_path):
    assert build_candidate_lists(tiny_split, "test", CandidateListConfig(seed=3)).pairs == lists.pairs
    other = build_candidate_lists(tiny_split, "test", CandidateListConfig(seed=4))
    assert [p.negatives for p in other.pairs] != [p.negatives for p in lists.pairs]
    path = lists.save(tmp_path / "lists.json")
    assert CandidateLists.load(path).pairs == lists.pairs
    assert load_or_build_candidate_lists(tiny_split, "test", CandidateListConfig(seed=3), path).pairs == lists.pairs
    with pytest.raises(ValueError, match="other settings"):
        load_or_build_candidate_lists(tiny_split, "test", CandidateListConfig(seed=9), path)
    # `eccr evaluate` asks with EccrProtocolConfig, whose `cutoff` scores the lists and does not build them: lists a
    # script saved with CandidateListConfig are the same lists (they used to be refused as "other settings")
    from eccr.evaluate.config import EccrProtocolConfig

    assert load_or_build_candidate_lists(tiny_split, "test", EccrProtocolConfig(seed=3), path).pairs == lists.pairs
    saved_by_evaluate = load_or_build_candidate_lists(tiny_split, "test", EccrProtocolConfig(seed=3, cutoff=10),
                                                      tmp_path / "evaluate.json")
    assert "cutoff" not in saved_by_evaluate.config
    assert load_or_build_candidate_lists(tiny_split, "test", CandidateListConfig(seed=3),
                                         tmp_path / "evaluate.json").pairs == lists.pairs
    (tmp_path / "bad.json").write_text('{"format": "eccr-candidates/1"}')
    with pytest.raises(ValueError, match="not a candidate-list file of this version"):
        CandidateLists.load(tmp_path / "bad.json")


def test_history_is_the_users_earlier_items(lists):
    assert next(p for p in lists.pairs if p.query == "cam2").history == ["cam3", "bat3", "kbd1"]
    assert next(p for p in lists.pairs if p.query == "cam1").history == []


def test_complete_keeps_full_lists_of_known_items(lists):
    everyone = {i for p in lists.pairs for i in (p.query, p.positive, *p.negatives)}
    full = [p for p in lists.pairs if len(p.negatives) == lists.config["negatives"]]
    assert lists.complete(everyone) == full and full
    dropped = full[0].negatives[0]
    assert all(dropped not in (p.query, p.positive, *p.negatives) for p in lists.complete(everyone - {dropped}))
    assert len(lists.complete(everyone - {dropped})) < len(full)
