"""The ECCR protocol on the real Amazon electronic bundles (skipped when the data is absent)."""
import time

import pytest

from eccr.data.bundle_intents import load_bundle_intents
from eccr.data.splits import temporal_split
from eccr.evaluate.config import EccrProtocolConfig
from eccr.evaluate.protocols import NEGATIVE_KINDS, build_eccr_candidates, known_complements


@pytest.mark.real_data
def test_eccr_protocol_builds_on_electronic_test_split(electronic_dir):
    split = temporal_split(load_bundle_intents(electronic_dir))
    start = time.perf_counter()
    cands = build_eccr_candidates(split, EccrProtocolConfig())
    seconds = time.perf_counter() - start
    complements = known_complements(split)
    titled = set(split.test.catalog.titled().items["item_id"])
    assert len(cands.pairs) > 500
    for pair in cands.pairs:
        assert len(pair.negatives) == 20 and len(set(pair.negatives)) == 20
        assert not set(pair.negatives) & (complements[pair.query] | {pair.query, pair.positive})
        assert set(pair.negatives) <= titled
    per_kind = {k: sum(p.kinds.count(k) for p in cands.pairs) / len(cands.pairs) for k in NEGATIVE_KINDS}
    print(f"\nelectronic test split: {len(cands.pairs)} pairs from {len({p.query for p in cands.pairs})} query "
          f"items ({len({p.bundle_id for p in cands.pairs})} bundles); negatives per pair by kind "
          + ", ".join(f"{k} {v:.2f}" for k, v in per_kind.items()) + f"; built in {seconds:.1f}s")
    assert per_kind["co_bought"] > 0 and per_kind["substitute_query"] > 0
