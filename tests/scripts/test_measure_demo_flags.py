"""scripts/measure_demo_flags.py: the coherence flags counted against the demo catalogue's fits."""
from __future__ import annotations

from eccr.data.demo import read_demo_catalog


def test_size_claims_are_counted_against_the_catalogue(load_script):
    counts = load_script("measure_demo_flags").agreement(read_demo_catalog(), kinds=("device x sized",))
    sized = counts["device x sized"]
    assert sized["pairs"] > 1000 and sized["false_alarms"] == 0 and sized["size_claims_wrong"] == 0
    assert sized["size_fits_right"] > 100 and sized["size_misfits_right"] > 100
    assert sized["caught"] + sized["missed"] + sized["false_alarms"] <= sized["pairs"]
