import numpy as np
import pytest

from eccr.quantize.history import history_tokens, ordered_history
from eccr.quantize.semantic_ids import SemanticIDTable

TABLE = SemanticIDTable(["cam", "bat", "card", "bag"], np.array([[1, 2], [1, 3], [4, 0], [5, 5]]),
                        {"strategy": "nearest_free"})


def test_orders_by_weight_and_truncates():
    tokens = history_tokens(TABLE, ["cam", "bat", "card"], weights=[0.1, 0.7, 0.2], max_items=2)
    assert tokens == ["<a_1>", "<b_3>", "<a_4>", "<b_0>"]  # bat, then card; cam cut


def test_without_weights_keeps_given_order_and_drops_repeats():
    assert ordered_history(["bag", "cam", "bag", "bat"], max_items=10) == ["bag", "cam", "bat"]
    assert ordered_history(["cam", "bat", "cam"], weights=[0.1, 0.5, 0.9]) == ["cam", "bat"]  # max weight


def test_unknown_items_raise_or_are_skipped():
    with pytest.raises(KeyError, match="ghost"):
        history_tokens(TABLE, ["cam", "ghost"])
    assert history_tokens(TABLE, ["ghost", "cam"], skip_unknown=True) == ["<a_1>", "<b_2>"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="weights"):
        history_tokens(TABLE, ["cam", "bat"], weights=[1.0])
    with pytest.raises(ValueError, match="max_items"):
        history_tokens(TABLE, ["cam"], max_items=0)
    with pytest.raises(ValueError, match="NaN"):
        history_tokens(TABLE, ["cam"], weights=[float("nan")])


def test_attention_weigher_returns_the_rankers_attention_per_basket_item():
    import torch

    from eccr.quantize.history import attention_weigher
    from eccr.rank.attention_cf import AttentionCF, AttentionCFScorer
    from eccr.represent.vectors import ItemVectors

    torch.manual_seed(0)
    vectors = ItemVectors(["q", "a", "b", "c"], np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32))
    scorer = AttentionCFScorer(AttentionCF(8, hops=2, hidden=4), vectors)
    weights = attention_weigher(scorer)("q", ["a", "b", "c"])
    expected = scorer.score_candidates([], ["q"], history=["a", "b", "c"]).attention[0].mean(axis=0)
    assert weights.shape == (3,) and np.allclose(weights, expected) and np.isclose(weights.sum(), 1.0, atol=1e-5)
    assert attention_weigher(scorer)("q", []).shape == (0,)
