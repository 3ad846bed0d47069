"""AttrFormer (eccr/rank/attrformer.py) on planted data: relation heads see only their relation, a co-purchase relation
that the sequences never show is learned by AttrFormer and not by its SASRec ablation, persistence, the scorer."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from eccr.rank.attrformer import (
    AttrFormer,
    AttrFormerScorer,
    item_attributes,
    load_ranker_scorer,
    posterior_targets,
    right_aligned,
    train_attrformer,
)
from eccr.rank.config import AttrFormerConfig, RankerConfig
from eccr.represent.vectors import ItemVectors


def planted(n_pairs: int = 60, dim: int = 16, seed: int = 0):
    """Items 2k and 2k+1 are partners: bought together in baskets, and in user sequences the item after a is a's
    partner. Vectors are random, so only the co-purchase
    relation (from the baskets, a cross-sequence source) says who the partner is."""
    rng = np.random.default_rng(seed)
    n = 2 * n_pairs
    ids = [f"i{k}" for k in range(n)]
    vectors = ItemVectors(ids, rng.standard_normal((n, dim)).astype(np.float32))
    brands = {i: f"b{k % 4}" for k, i in enumerate(ids)}
    leaves = {i: f"c{k % 5}" for k, i in enumerate(ids)}
    baskets = [[ids[2 * k], ids[2 * k + 1]] for k in range(n_pairs)]
    sequences = []
    for _ in range(1500):  # noise item, then an item and its partner, then noise
        a = int(rng.integers(n))
        sequences.append([ids[int(rng.integers(n))], ids[a], ids[a ^ 1]])
    return vectors, item_attributes(ids, brands, leaves, baskets, neighbours=3), sequences, ids


def test_item_attributes_codes_and_neighbours():
    att = item_attributes(["a", "b", "c"], {"a": "X", "c": "X"}, {"b": "L"}, [["a", "b"], ["a", "b"], ["a", "c"]], 2)
    assert att["brand"].tolist() == [0, -1, 0] and att["category"].tolist() == [-1, 0, -1]
    assert att["neighbours"][0].tolist() == [1, 2] and att["neighbours"][2].tolist() == [0, -1]


def test_posterior_target_is_the_dirichlet_posterior_mean():
    rows, _ = right_aligned([np.array([0, 1, 2])], 5)
    cand = torch.tensor([0, 1, 2, 3])
    prior = torch.full((4,), 0.25)
    p, has_next = posterior_targets(rows, cand, prior, window=2, alpha=1.0)
    assert has_next.tolist() == [[True, True, False]]
    assert torch.allclose(p[0, 0], torch.tensor([0.25, 1.25, 1.25, 0.25]) / 3)  # counts (0,1,1,0), alpha pi = .25
    assert torch.allclose(p.sum(-1), torch.ones(1, 3))


def test_relation_heads_attend_only_along_their_relation():
    vectors, att, _, _ = planted()
    model = AttrFormer(vectors.dim, len(vectors), 4, 5, hidden=10, heads=2, max_len=8).eval()
    model.set_tables(vectors.vectors, att)
    rows = torch.tensor([[0, 5, 4, 8]])  # brands b0 b1 b0 b0 (k % 4); 4 and 5 are partners
    _, attention = model.encode(rows, torch.ones_like(rows, dtype=torch.bool))
    brand = attention[0, :, 2]  # (layers, M) of the brand head, last position
    assert torch.all(brand[:, 1] == 0) and torch.all(brand[:, [0, 2, 3]].sum(-1) > 0)
    copurchase = attention[0, :, 4]
    assert torch.all(copurchase[:, :2] == 0)  # 8 was never bought with 0 or 5


def test_sasrec_ablation_has_plain_heads_only():
    vectors, att, _, _ = planted()
    model = AttrFormer(vectors.dim, len(vectors), 4, 5, hidden=8, heads=2, relations=())
    rows = torch.tensor([[0, 1, 2]])
    model.set_tables(vectors.vectors, att)
    states, attention = model.encode(rows, torch.ones_like(rows, dtype=torch.bool))
    assert attention.shape == (1, 2, 2, 3) and model.model_kind == "sasrec"
    assert torch.equal(model.aggregate(states, torch.ones_like(rows, dtype=torch.bool)), states)


def hit_rate(scorer, ids, rng, trials: int = 200) -> float:
    hits = 0
    for _ in range(trials):
        a = int(rng.integers(len(ids)))
        scores = scorer.score_candidates([ids[a]], ids, history=[ids[int(rng.integers(len(ids)))]]).scores
        scores[a] = -np.inf
        hits += int(np.argmax(scores) == (a ^ 1))
    return hits / trials


@pytest.mark.slow
def test_planted_copurchase_relation_is_learned_only_with_relations(tmp_path):
    torch.set_num_threads(1)
    vectors, att, seqs, ids = planted()
    ranker = RankerConfig(lr=0.005, batch_size=64, negatives=60, max_epochs=12, max_seconds=120, eval_every=20,
                          max_memory=8, progress=False)
    config = AttrFormerConfig(hidden=32, heads=2, window=1, neighbours=3, bank_size=256)
    full = train_attrformer(vectors, att, seqs, ranker, config, checkpoint_dir=tmp_path / "a")
    plain = train_attrformer(vectors, att, seqs, ranker, config, relations=())
    rng = np.random.default_rng(1)
    with_relations = hit_rate(AttrFormerScorer(full.model, vectors), ids, rng)
    without = hit_rate(AttrFormerScorer(plain.model, vectors), ids, np.random.default_rng(1))
    assert with_relations > 0.6 and with_relations > without + 0.3, (with_relations, without)
    loaded = load_ranker_scorer(tmp_path / "a" / "best", vectors)
    q = loaded.score_candidates([ids[3]], ids[:10]).scores
    assert np.allclose(q, AttrFormerScorer(full.model, vectors).score_candidates([ids[3]], ids[:10]).scores, atol=1e-5)


def test_training_resumes_exactly_from_its_checkpoint(tmp_path):
    """Stopped after one epoch and resumed for a second, training ends with the same weights, schedule and history
    as one uninterrupted two-epoch run (batch draws, dropout RNG and Adam state all come back)."""
    torch.set_num_threads(1)
    vectors, att, seqs, _ = planted(n_pairs=30)
    config = AttrFormerConfig(hidden=16, heads=2, window=1, neighbours=3, bank_size=32)
    ranker = RankerConfig(lr=0.005, batch_size=16, negatives=20, max_epochs=2, max_seconds=120, eval_every=3,
                          max_memory=6, progress=False)
    whole = train_attrformer(vectors, att, seqs, ranker, config)
    first = train_attrformer(vectors, att, seqs, RankerConfig(**{**ranker.to_dict(), "max_epochs": 1}), config,
                             checkpoint_dir=tmp_path / "ckpt")
    assert first.stopped_because == "max_epochs" and (tmp_path / "ckpt" / "trainer_state.json").exists()
    shutil.copytree(tmp_path / "ckpt", tmp_path / "tampered")
    weights = load_file(str(tmp_path / "tampered" / "model.safetensors"))
    save_file({k: v + 0.5 if v.is_floating_point() else v for k, v in weights.items()},
              str(tmp_path / "tampered" / "model.safetensors"))
    resumed = train_attrformer(vectors, att, seqs, ranker, config, checkpoint_dir=tmp_path / "ckpt")
    assert [h["step"] for h in resumed.history] == [h["step"] for h in whole.history]
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    # the second epoch really starts from the checkpoint: changed weights there change the result
    from_tampered = train_attrformer(vectors, att, seqs, ranker, config, checkpoint_dir=tmp_path / "tampered")
    assert not all(torch.equal(a, b) for a, b in zip(whole.model.state_dict().values(),
                                                     from_tampered.model.state_dict().values()))
    fresh = train_attrformer(vectors, att, seqs, ranker, config, checkpoint_dir=tmp_path / "ckpt", resume=False)
    assert [h["step"] for h in fresh.history] == [h["step"] for h in whole.history]
    with pytest.raises(ValueError, match="other relations"):
        train_attrformer(vectors, att, seqs, ranker, config, relations=(), checkpoint_dir=tmp_path / "ckpt")
