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
