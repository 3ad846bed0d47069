"""The listwise complement scorer learns which product types go together from text vectors alone, so it ranks
cold items (never in a training session) and beats cosine, which prefers look-alikes."""
import numpy as np
import pandas as pd
import pytest

from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.data.schema import Behaviour, Bundles, Catalog, Dataset
from eccr.data.splits import temporal_split
from eccr.rank.complement import ComplementScorer, fit_complement_scorer
from eccr.rank.config import ComplementConfig
from eccr.represent.vectors import ItemVectors

COMPLEMENT = {"camera": "battery", "battery": "camera", "phone": "case", "case": "phone", "laptop": "sleeve",
              "sleeve": "laptop"}


def planted(seed: int = 0, per_type: int = 60, dim: int = 16):
    """Items of six types and five brands (item n has brand n % 5), each vector = its type's centre + its brand's
    centre + noise; sessions bundle an item with one of the complementary type and the same brand (what fits).
    Later days bring new items, as in the real data."""
    rng = np.random.default_rng(seed)
    centre = {t: rng.normal(size=dim) for t in COMPLEMENT}
    brand = [0.4 * rng.normal(size=dim) for _ in range(5)]
    rows, vectors = [], []
    for t in COMPLEMENT:
        for n in range(per_type):
            rows.append({"item_id": f"{t}{n}", "title": f"{t} model {n}", "category": ["Shop", t], "brand": "",
                         "text": ""})
            vectors.append(centre[t] + brand[n % 5] + 0.3 * rng.normal(size=dim))
    events, bundles = [], []
    for s in range(600):
        day = 1 + s // 20  # 30 days
        t = list(COMPLEMENT)[s % 6]
        newest = min(per_type, 20 + day * 40 // 30)  # item n is on sale from day ~(n - 20) * 30 / 40
        a, b = rng.integers(newest), rng.integers(newest // 5) * 5
        a, b = f"{t}{a}", f"{COMPLEMENT[t]}{b + a % 5 if b + a % 5 < newest else b + a % 5 - 5}"
        for item in (a, b):
            events.append({"user_id": f"u{s}", "session_id": f"s{s}", "item_id": item, "timestamp": day * 86400})
            bundles.append({"bundle_id": f"b{s}", "session_id": f"s{s}", "item_id": item, "intent": "",
                            "timestamp": day * 86400})
    ds = Dataset("planted", Catalog(pd.DataFrame(rows)), Behaviour(pd.DataFrame(events)), Bundles(pd.DataFrame(bundles)))
    vecs = ItemVectors([r["item_id"] for r in rows], np.array(vectors, dtype=np.float32))
    return temporal_split(ds, 0.15, 0.2), vecs, ds.catalog


def hr5(scorer, lists) -> float:
    hits = []
    for pair in lists.pairs:
        scores = scorer([pair.query], [pair.positive, *pair.negatives])
        hits.append(1 + int((scores[1:] >= scores[0]).sum()) <= 5)
    return float(np.mean(hits))


@pytest.mark.slow
def test_learns_complement_types_and_ranks_cold_items(tmp_path):
    split, vectors, catalog = planted()
    model = fit_complement_scorer(vectors, split, ComplementConfig(max_epochs=40, patience=40, hidden=32, batch_size=32, list_draws=2),
                                  CandidateListConfig(negatives=10))
    test = build_candidate_lists(split, "test", CandidateListConfig(negatives=10))
    cold = [p for p in test.pairs if not p.positive_seen]
    assert len(cold) > 20  # the test period sells new items
    unit = vectors.normalized()

    def cosine(query, candidates):
        return unit.lookup(candidates) @ unit.lookup(query)[0]

    def learned(query, candidates):
        return model.score_candidates(query, candidates).scores

    ours, text = hr5(learned, test), hr5(cosine, test)
    ours_cold = hr5(learned, type(test)(test.dataset, "test", test.config, cold))
    print(f"\nplanted test HR@5: complement scorer {ours:.3f} (cold positives {ours_cold:.3f}), cosine {text:.3f}, "
          f"chance {5 / 11:.3f}; valid history {model.history[-1]}")
    assert ours > 0.85 and ours_cold > 0.85 and ours > text + 0.2
    model.save_pretrained(tmp_path / "complement")
    again = ComplementScorer.from_pretrained(tmp_path / "complement", vectors, catalog)
    q, cands = test.pairs[0].query, [test.pairs[0].positive, *test.pairs[0].negatives]
    np.testing.assert_allclose(again.score_candidates([q], cands).scores, learned([q], cands), rtol=1e-5)
    # an item the scorer has no vector for ranks last instead of failing
    assert again.score_candidates([q], ["nope", cands[0]]).scores[0] < again.score_candidates([q], [cands[0]]).scores[0]
    with pytest.raises(ValueError, match="reads 16-d text vectors"):
        ComplementScorer.from_pretrained(tmp_path / "complement", ItemVectors(vectors.ids, np.zeros((len(vectors), 8))),
                                         catalog)
