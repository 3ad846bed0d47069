"""scripts/measure_lm_ranking.py: LM score caches filled by shards merge into what one process fills; the LM is
asked with each list's basket."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np


class CountingScorer:
    """Log-odds from the item id; counts how many candidates it was asked about."""

    def __init__(self):
        self.asked = 0
        self.baskets: dict[str, tuple] = {}

    def score(self, query: str, candidates: list[str], basket=()) -> np.ndarray:
        self.asked += len(candidates)
        self.baskets[query] = tuple(basket)
        return np.asarray([float(int(c[1:]) % 7) - 0.5 * len(query) for c in candidates])


def _lists(m, n_lists: int = 7, n_cands: int = 9):
    rng = np.random.default_rng(0)
    pairs = [SimpleNamespace(query=f"q{k}", positive=f"i{k * 100}",
                             negatives=[f"i{k * 100 + j}" for j in range(1, n_cands)], history=(f"h{k}",) * (k % 2))
             for k in range(n_lists)]
    scores = m.ListScores(SimpleNamespace(pairs=pairs), list(range(n_lists)))
    scores.systems = {base: [rng.normal(size=n_cands) for _ in pairs] for base in m.BASES}
    return scores


def test_sharded_caches_merge_into_the_single_process_scores(tmp_path, load_script):
    m = load_script("measure_lm_ranking")
    top = 4
    single, sharded = _lists(m), _lists(m)
    one = CountingScorer()
    (tmp_path / "one").mkdir()
    m.fill_lm_cache(one, single, top, tmp_path / "one" / "lm_scores_test.json")
    m.attach_lm(single, top, m.read_caches(m.cache_files(tmp_path / "one", "test")))

    out = tmp_path / "sharded"
    out.mkdir()
    shards = [CountingScorer(), CountingScorer()]
    for i, scorer in enumerate(shards):
        m.fill_lm_cache(scorer, sharded, top, out / f"lm_scores_test.shard{i}of2.json", (i, 2),
                        caches=m.cache_files(out, "test"))
    assert sum(s.asked for s in shards) == one.asked > 0
    assert one.baskets == {f"q{k}": (f"h{k}",) * (k % 2) for k in range(7)}  # each list's history is its basket
    assert all(s.asked > 0 for s in shards)
    m.attach_lm(sharded, top, m.read_caches(m.cache_files(out, "test")))
    for base in m.BASES:
        for a, b in zip(single.lm[base], sharded.lm[base]):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(single.top[base], sharded.top[base]):
            np.testing.assert_array_equal(a, b)

    again = CountingScorer()  # a rerun over full caches asks the LM nothing
    m.fill_lm_cache(again, sharded, top, out / "lm_scores_test.json", caches=m.cache_files(out, "test"))
    assert again.asked == 0


def test_each_needed_candidate_is_scored_once_per_list_across_bases(tmp_path, load_script):
    m = load_script("measure_lm_ranking")
    scores = _lists(m)
    for base in m.BASES:  # both rankings agree: the LM must not be asked twice for the same items
        scores.systems[base] = [np.arange(9, 0, -1, dtype=float) for _ in scores.pairs]
    scorer = CountingScorer()
    m.fill_lm_cache(scorer, scores, 3, tmp_path / "lm_scores_valid.json")
    assert scorer.asked == 3 * len(scores.pairs)


def test_scores_asked_without_the_basket_are_not_reused_for_a_list_with_one(tmp_path, load_script):
    m = load_script("measure_lm_ranking")
    scores = _lists(m, n_lists=4)  # lists 1 and 3 have a basket
    old = {str(k): {"items": scores.candidates(k), "lm": [0.0] * len(scores.candidates(k))} for k in range(4)}
    (tmp_path / "lm_scores_test.json").write_text(json.dumps(old))  # an earlier prompt's cache: no basket in it
    scorer = CountingScorer()
    m.fill_lm_cache(scorer, scores, 3, tmp_path / "lm_scores_test.json")
    assert set(scorer.baskets) == {"q1", "q3"}  # only the lists with a basket are asked again
    m.attach_lm(scores, 3, m.read_caches([tmp_path / "lm_scores_test.json"]))
    assert all(lm.any() for lm in scores.lm["eccr"][1::2]) and not any(lm.any() for lm in scores.lm["eccr"][::2])
    zero_shot = CountingScorer()
    zero_shot.reads_basket = False  # a scorer that does not read baskets reuses every list
    m.fill_lm_cache(zero_shot, _lists(m, n_lists=4), 3, tmp_path / "lm_scores_test.json")
    assert zero_shot.asked == 0
