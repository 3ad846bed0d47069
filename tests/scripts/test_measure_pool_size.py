"""scripts/measure_pool_size.py: pool settings are parsed strictly."""
from __future__ import annotations

import pytest


def test_a_setting_is_an_index_and_pool_size_overrides(load_script):
    m = load_script("measure_pool_size")
    assert m.parse_setting("content") == ("content", {})
    assert m.parse_setting("full-fused:text_k=100:near_k=0") == (
        "full-fused", {"retrieve_text_k": 100, "retrieve_near_k": 0})
    for bad in ("fused", "content:text_k=", "content:depth=3", "content:k=-1"):
        with pytest.raises(ValueError, match="setting"):
            m.parse_setting(bad)


def test_one_pool_hides_the_per_stratum_retrieval(load_script):
    """--one-pool: the protocol sees `retrieve(query, k)` only, so it cuts both strata from one pool."""
    import inspect

    m = load_script("measure_pool_size")

    class Retriever:
        def score_candidates(self, query, candidates, history=()):
            return [1.0] * len(candidates)

        def retrieve(self, query, k, among=None):
            return (["a", "b"][:k], [2.0, 1.0][:k]) if among is None else (["a"], [2.0])

    wrapped = m.OnePool(Retriever())
    assert "among" not in inspect.signature(wrapped.retrieve).parameters
    assert wrapped.retrieve(["q"], 2) == (["a", "b"], [2.0, 1.0])
    assert wrapped.score_candidates(["q"], ["a", "b"]) == [1.0, 1.0]
