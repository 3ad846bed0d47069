import numpy as np
import pytest
import torch

from eccr.rank.attention_cf import AttentionCF, AttentionCFScorer, masked_softmax
from eccr.rank.base import Scorer
from eccr.represent.vectors import ItemVectors


def numpy_reference(model: AttentionCF, xq: np.ndarray, memory: np.ndarray):
    """Lake et al. §4.1 written out for one (query, memory) pair."""
    p = {k: v.detach().double().numpy() for k, v in model.named_parameters()}
    z = p["query.weight"] @ xq + p["query.bias"]
    attention = []
    for k in range(model.hops):
        keys = memory @ p["key_weight"][k].T + p["key_bias"][k]
        values = memory @ p["value_weight"][k].T + p["value_bias"][k]
        s = keys @ z
        w = np.exp(s - s.max())
        w /= w.sum()
        z = z + w @ values
        attention.append(w)
    return float(p["phi"] @ z), np.array(attention)


def set_weights(model: AttentionCF, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.from_numpy(rng.normal(scale=0.5, size=param.shape)))


def test_one_hop_by_hand():
    """K=1, d=d'=2 with identity maps: z0=xq, p=softmax(x_i.xq), z1=xq+sum p x_i, r=phi.z1."""
    model = AttentionCF(2, hops=1, hidden=2)
    with torch.no_grad():
        for w in (model.query.weight, model.key_weight[0], model.value_weight[0]):
            w.copy_(torch.eye(2))
        for b in (model.query.bias, model.key_bias, model.value_bias):
            b.zero_()
        model.phi.copy_(torch.tensor([1.0, -1.0]))
    xq = np.array([1.0, 0.0])
    mem = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
    expected = (xq + p @ mem) @ np.array([1.0, -1.0])
    logits, attn = model(torch.tensor(xq, dtype=torch.float32)[None, None],
                         torch.tensor(mem, dtype=torch.float32)[None])
    assert logits.item() == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(attn[0, 0, 0].detach().numpy(), p, atol=1e-6)


@pytest.mark.parametrize("hops", [1, 2])
def test_matches_numpy_with_set_weights(hops):
    model = AttentionCF(3, hops=hops, hidden=4)
    set_weights(model, seed=hops)
    rng = np.random.default_rng(0)
    xq, mem = rng.normal(size=3), rng.normal(size=(5, 3))
    logit, attn = model(torch.tensor(xq, dtype=torch.float32)[None, None], torch.tensor(mem, dtype=torch.float32)[None])
    ref_logit, ref_attn = numpy_reference(model, xq, mem)
    assert logit.item() == pytest.approx(ref_logit, rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(attn[0, 0].detach().numpy(), ref_attn, rtol=1e-4, atol=1e-6)


def test_shapes_and_attention_sums_to_one_per_hop():
    model = AttentionCF(8, hops=3, hidden=16)
    logits, attn = model(torch.randn(4, 7, 8), torch.randn(4, 5, 8))
    assert logits.shape == (4, 7) and attn.shape == (4, 7, 3, 5)
    torch.testing.assert_close(attn.sum(-1), torch.ones(4, 7, 3))


def test_padding_is_masked():
    """Padding rows (any values) change nothing and get zero weight."""
    torch.manual_seed(0)
    model = AttentionCF(6, hops=2, hidden=8)
    q, mem = torch.randn(1, 3, 6), torch.randn(1, 4, 6)
    padded = torch.cat([mem, 100 * torch.randn(1, 2, 6)], dim=1)
    mask = torch.tensor([[True] * 4 + [False] * 2])
    a, attn_a = model(q, mem)
    b, attn_b = model(q, padded, mask)
    torch.testing.assert_close(a, b)
    assert torch.all(attn_b[..., 4:] == 0)
    torch.testing.assert_close(attn_b[..., :4], attn_a)


def test_empty_memory_scores_from_query_alone_without_nan():
    model = AttentionCF(4, hops=2, hidden=8)
    logits, attn = model(torch.randn(2, 3, 4), torch.zeros(2, 1, 4), torch.zeros(2, 1, dtype=torch.bool))
    assert torch.isfinite(logits).all() and torch.all(attn == 0)
    x = torch.randn(1, 1, 4)
    only_query = model.query(x) @ model.phi
    torch.testing.assert_close(model(x, torch.zeros(1, 1, 4), torch.zeros(1, 1, dtype=torch.bool))[0], only_query)


def test_memory_and_candidate_roles_are_asymmetric():
    torch.manual_seed(1)
    model = AttentionCF(5, hops=2, hidden=8)
    a, b = torch.randn(1, 1, 5), torch.randn(1, 1, 5)
    ab, _ = model(b, a)  # memory a, candidate b
    ba, _ = model(a, b)
    assert abs(ab.item() - ba.item()) > 1e-4


def test_cached_memory_path_equals_batched_pairs():
    torch.manual_seed(2)
    model = AttentionCF(6, hops=3, hidden=8)
    mem, cands = torch.randn(1, 5, 6), torch.randn(1, 9, 6)
    shared, attn_shared = model(cands, mem)
    pairs, attn_pairs = model(cands[0][:, None, :], mem.expand(9, -1, -1))
    torch.testing.assert_close(shared[0], pairs[:, 0])
    torch.testing.assert_close(attn_shared[0], attn_pairs[:, 0])


def test_save_load_round_trip(tmp_path):
    model = AttentionCF(6, hops=2, hidden=8, null_slot=True)
    set_weights(model, 3)
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").exists() and (tmp_path / "m" / "config.json").exists()
    loaded = AttentionCF.from_pretrained(tmp_path / "m")
    q, mem = torch.randn(2, 3, 6), torch.randn(2, 4, 6)
    torch.testing.assert_close(model(q, mem)[0], loaded(q, mem)[0])
    with pytest.raises(FileNotFoundError):
        AttentionCF.from_pretrained(tmp_path / "missing")


def test_orthogonal_init():
    model = AttentionCF(16, hops=2, hidden=8)
    w = model.key_weight[1].detach()
    torch.testing.assert_close(w @ w.T, torch.eye(8), atol=1e-5, rtol=0)


def test_single_item_memory_is_additive_without_null_slot():
    """Documented limitation of the paper's model: with one memory item the ranking ignores that item."""
    torch.manual_seed(4)
    cands = torch.randn(1, 20, 6)
    for null_slot, same in ((False, True), (True, False)):
        model = AttentionCF(6, hops=2, hidden=8, null_slot=null_slot)
        if null_slot:
            with torch.no_grad():
                model.null_key.normal_()
        r1 = model(cands, torch.randn(1, 1, 6))[0].argsort()
        r2 = model(cands, torch.randn(1, 1, 6))[0].argsort()
        assert torch.equal(r1, r2) == same


def _vectors(n=6, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return ItemVectors([f"i{k}" for k in range(n)], rng.normal(size=(n, d)))


def test_scorer_memory_is_history_plus_query_and_candidates_are_queries():
    iv = _vectors()
    model = AttentionCF(4, hops=2, hidden=8)
    scorer = AttentionCFScorer(model, iv)
    assert isinstance(scorer, Scorer)
    out = scorer.score_candidates(["i1"], ["i2", "i3", "i4"], history=["i0", "i1"])
    assert out.extra["memory"] == ["i0", "i1"]
    assert out.attention.shape == (3, 2, 2)
    np.testing.assert_allclose(out.attention.sum(-1), 1.0, atol=1e-5)
    x = torch.from_numpy(iv.lookup(["i2", "i3", "i4"]))[None]
    mem = torch.from_numpy(iv.lookup(["i0", "i1"]))[None]
    np.testing.assert_allclose(out.scores, model(x, mem)[0][0].detach().numpy(), rtol=1e-5)


def test_scorer_unknown_items_fallback_or_skip():
    iv = _vectors()
    model = AttentionCF(4, hops=1, hidden=8)
    plain = AttentionCFScorer(model, iv).score_candidates(["new"], ["i2", "cold"], history=["i0"])
    assert plain.extra["skipped_memory"] == ["new"] and plain.extra["unscored"] == ["cold"]
    assert np.isneginf(plain.scores[1]) and np.isfinite(plain.scores[0])
    assert plain.attention[0, 0, 1] == 0 and plain.attention[0, 0, 0] == pytest.approx(1.0)
    fallback = AttentionCFScorer(model, iv, unknown_vector_fn=lambda ids: np.ones((len(ids), 4)))
    out = fallback.score_candidates(["new"], ["i2", "cold"], history=["i0"])
    assert np.isfinite(out.scores).all() and out.extra["skipped_memory"] == []
    np.testing.assert_allclose(out.attention.sum(-1), 1.0, atol=1e-5)


def test_masked_softmax_all_masked_row_is_zero():
    out = masked_softmax(torch.randn(2, 3), torch.tensor([[True, False, True], [False, False, False]]))
    assert out[1].abs().sum() == 0 and out[0, 1] == 0 and out[0].sum().item() == pytest.approx(1.0)
