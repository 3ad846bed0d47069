import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from eccr.data.sampling import AliasSampler
from eccr.rank.attention_cf import AttentionCF, AttentionCFScorer
from eccr.rank.checkpoint import optimizer_from_tensors, optimizer_to_tensors
from eccr.rank.config import RankerConfig
from eccr.rank.train import (
    RankerTrainer,
    balanced_loss,
    make_batch,
    negative_sampler,
    split_sequence,
    train_attention_cf,
)
from eccr.represent.vectors import ItemVectors

TYPES = "ABCDN"


def planted_data(n_sequences=800, per=40, d=16, seed=0):
    """Memory = 2 items of type A (or C) among 3 noise items N; positives = 3 items of type B (or D)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(TYPES), d)) * 2
    vecs = np.concatenate([centers[t] + 0.5 * rng.normal(size=(per, d)) for t in range(len(TYPES))])
    iv = ItemVectors([f"{t}{i}" for t in TYPES for i in range(per)], vecs)
    seqs = []
    for u in range(n_sequences):
        src, dst = ("A", "B") if u % 2 == 0 else ("C", "D")
        memory = [f"{src}{x}" for x in rng.choice(per, 2, replace=False)]
        memory += [f"N{x}" for x in rng.choice(per, 3, replace=False)]
        seqs.append(list(rng.permutation(memory)) + [f"{dst}{x}" for x in rng.choice(per, 3, replace=False)])
    return iv, seqs, per


def small_config(**kw):
    base = {"hops": 2, "hidden": 16, "negatives": 20, "valid_negatives": 20, "eval_every": 10, "max_epochs": 2,
            "progress": False}
    return RankerConfig(**(base | kw))


def test_split_sequence_ordered_and_unordered():
    rng = np.random.default_rng(0)
    seq = np.array([5, 6, 5, 7, 8, 9])
    for _ in range(50):
        mem, fut = split_sequence(seq, rng, ordered=True, future_items=2) or (None, None)
        if mem is None:
            continue
        cut = len(mem)
        assert np.array_equal(mem, seq[:cut]) and len(fut) <= 2
        assert not set(fut) & set(mem) and set(fut) <= set(seq[cut:].tolist())
        mem, fut = split_sequence(seq, rng, ordered=False, future_items=10)
        assert set(mem) | set(fut) == {5, 6, 7, 8, 9} and not set(mem) & set(fut)


def test_negatives_come_from_alias_sampler_and_exclude_positives():
    iv, seqs, _ = planted_data(50)
    trainer = RankerTrainer(AttentionCF(iv.dim, 1, 8), iv, seqs, small_config())
    assert isinstance(trainer.sampler, AliasSampler)
    # popularity + 1: items that never occur (none here are absent, so build one with an unseen item)
    sampler = negative_sampler([np.array([0, 1]), np.array([0, 2])], n_items=4, gamma=0.75, seed=0)
    assert sampler.probabilities[3] > 0
    np.testing.assert_allclose(sampler.probabilities, np.array([3, 2, 2, 1]) ** 0.75 / (np.array([3, 2, 2, 1]) ** 0.75).sum())
    # a sampler that puts nearly all mass on the positives still never returns them
    skewed = AliasSampler(np.array([10.0, 10.0, 1.0, 1.0, 1.0]), seed=0)
    batch = make_batch([(np.array([4]), np.array([0, 1]))] * 8, skewed, n_negatives=30, max_memory=5)
    negatives = batch.candidates[batch.negative_mask]
    assert len(negatives) == 8 * 30 and not set(negatives.tolist()) & {0, 1}
    assert batch.candidates[batch.positive_mask].tolist() == [0, 1] * 8


def test_balanced_loss_by_hand():
    logits = torch.tensor([[0.0, 2.0, 0.0, -1.0, 0.0]])
    pos = torch.tensor([[True, True, False, False, False]])
    neg = torch.tensor([[False, False, False, True, True]])
    sig = lambda x: 1 / (1 + np.exp(-x))
    expected = -(0.5 * (np.log(sig(0)) + np.log(sig(2))) / 2 + 0.5 * (np.log(1 - sig(-1)) + np.log(1 - sig(0))) / 2)
    assert balanced_loss(logits, pos, neg).item() == pytest.approx(expected, rel=1e-5)


def test_optimizer_state_round_trip():
    model = AttentionCF(4, 1, 4)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(2, 3, 4), torch.randn(2, 2, 4))[0].sum().backward()
    opt.step()
    tensors, meta = optimizer_to_tensors(opt)
    json.dumps(meta)
    restored = optimizer_from_tensors(tensors, meta)
    fresh = torch.optim.Adam(model.parameters(), lr=0.5)
    fresh.load_state_dict(restored)
    assert fresh.param_groups[0]["lr"] == 0.01
    torch.testing.assert_close(fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_learns_planted_signal():
    """A memory with A items must rank B above D, with C items D above B (chance = 0.5)."""
    iv, seqs, per = planted_data()
    config = small_config(hidden=32, max_epochs=8, eval_every=25, lr=0.01)  # a faster lr for a 4-second test
    result = train_attention_cf(iv, seqs, config, ordered=False)
    scorer = AttentionCFScorer(result.model, iv)
    cands = [f"B{j}" for j in range(per)] + [f"D{j}" for j in range(per)]
    wins = []
    for i in range(10):
        noise = [f"N{x}" for x in range(3)]
        s = scorer.score_candidates([f"A{i}"], cands, noise).scores
        wins.append((s[:per, None] > s[None, per:]).mean())
        s = scorer.score_candidates([f"C{i}"], cands, noise).scores
        wins.append((s[:per, None] < s[None, per:]).mean())
    assert np.mean(wins) > 0.8, np.mean(wins)
    assert result.state.history[-1]["valid_auc"] > 0.6


def test_resume_continues_and_matches_uninterrupted_run(tmp_path):
    iv, seqs, _ = planted_data(300)
    torch.manual_seed(0)
    straight = RankerTrainer(AttentionCF(iv.dim, 2, 16), iv, seqs, small_config(max_epochs=2),
                             checkpoint_dir=tmp_path / "a").train()
    torch.manual_seed(0)
    RankerTrainer(AttentionCF(iv.dim, 2, 16), iv, seqs, small_config(max_epochs=1), checkpoint_dir=tmp_path / "b").train()
    first = json.loads((tmp_path / "b" / "trainer_state.json").read_text())["trainer"]
    assert first["epoch"] == 1 and first["step"] > 0
    resumed = RankerTrainer(AttentionCF(iv.dim, 2, 16), iv, seqs, small_config(max_epochs=2),
                            checkpoint_dir=tmp_path / "b").train(resume=True)
    assert resumed.state.step == straight.state.step == 2 * first["step"]
    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    assert (tmp_path / "b" / "best" / "model.safetensors").exists()


def test_lr_is_reduced_after_patience_and_training_stops():
    iv, seqs, _ = planted_data(200)
    config = small_config(max_epochs=100, eval_every=1, patience=1, max_reductions=2, lr=1e-9)
    result = train_attention_cf(iv, seqs, config)
    assert result.state.stopped_because == "max_reductions" and result.state.reductions == 2
    assert result.state.lr == pytest.approx(1e-9 * 0.8 ** 2)


def test_no_usable_sequence_is_a_clear_error():
    iv = ItemVectors(["a", "b"], np.eye(2))
    with pytest.raises(ValueError, match="no training sequence"):
        RankerTrainer(AttentionCF(2, 1, 4), iv, [["a"], ["x", "y"]], small_config())
