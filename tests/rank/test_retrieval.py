import numpy as np
import pytest

from eccr.rank.config import RetrievalConfig
from eccr.rank.retrieval import ItemIndex
from eccr.represent.vectors import ItemVectors


def random_vectors(n, d=16, seed=0, prefix="i"):
    rng = np.random.default_rng(seed)
    return ItemVectors([f"{prefix}{k}" for k in range(n)], rng.normal(size=(n, d)))


def exact_top_k(iv, queries, k):
    x = iv.normalized().vectors
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    return np.argsort(-(q @ x.T), axis=1)[:, :k]


def test_flat_index_is_exact_and_round_trips(tmp_path):
    iv = random_vectors(500)
    index = ItemIndex.build(iv)
    assert index.kind == "IndexFlatIP"
    queries = np.random.default_rng(1).normal(size=(20, 16)).astype(np.float32)
    ids, scores = index.search(queries, 5)
    expected = exact_top_k(iv, queries, 5)
    assert ids == [[iv.ids[j] for j in row] for row in expected]
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    index.save(tmp_path / "run" / "items.faiss")
    loaded = ItemIndex.load(tmp_path / "run" / "items.faiss")
    assert loaded.search(queries, 5)[0] == ids


def test_hnsw_recall_on_random_data():
    iv = random_vectors(3000, seed=2)
    index = ItemIndex.build(iv, RetrievalConfig(flat_max_items=1000))
    assert index.kind == "IndexHNSWFlat"
    queries = np.random.default_rng(3).normal(size=(50, 16)).astype(np.float32)
    ids, _ = index.search(queries, 10)
    truth = exact_top_k(iv, queries, 10)
    recall = np.mean([len(set(got) & {iv.ids[j] for j in row}) / 10 for got, row in zip(ids, truth)])
    assert recall >= 0.9


def test_ivf_index_builds_and_finds_itself():
    iv = random_vectors(3000, seed=4)
    index = ItemIndex.build(iv, RetrievalConfig(flat_max_items=1000, large_index="ivf", ivf_probe=32))
    assert index.kind == "IndexIVFFlat"
    ids, _ = index.search(iv.vectors[:20], 1)
    assert sum(row[0] == iv.ids[k] for k, row in enumerate(ids)) >= 18


def test_add_cold_items_after_load(tmp_path):
    index = ItemIndex.build(random_vectors(50))
    index.save(tmp_path / "idx.faiss")
    loaded = ItemIndex.load(tmp_path / "idx.faiss")
    cold = ItemVectors(["cold"], np.full((1, 16), 3.0))
    loaded.add(cold)
    assert len(loaded) == 51
    assert loaded.search(np.full((1, 16), 1.0), 1)[0] == [["cold"]]
    with pytest.raises(ValueError, match="already in the index"):
        loaded.add(cold)


@pytest.mark.parametrize("config", [RetrievalConfig(), RetrievalConfig(flat_max_items=10),
                                    RetrievalConfig(flat_max_items=10, large_index="ivf", ivf_lists=4, ivf_probe=4)])
def test_search_among_a_subset(config):
    rng = np.random.default_rng(0)
    ids = [f"i{n}" for n in range(200)]
    index = ItemIndex.build(ItemVectors(ids, rng.normal(size=(200, 16)).astype(np.float32)), config)
    among = {f"i{n}" for n in range(0, 200, 3)} | {"not-in-the-index"}
    found, scores = index.search(rng.normal(size=(2, 16)), 10, among=among)
    assert all(len(row) == 10 and set(row) <= among for row in found)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    every, _ = index.search(index.index.reconstruct_n(0, 200)[:1], 5, among=set(ids))
    assert every[0][0] == "i0" or config.large_index == "ivf"  # the item itself first (IVF may probe past it)


def test_bad_input_is_a_clear_error():
    index = ItemIndex.build(random_vectors(10))
    with pytest.raises(ValueError, match="shape"):
        index.search(np.zeros((1, 3)), 2)
    with pytest.raises(ValueError, match="k must be"):
        index.search(np.zeros((1, 16)), 0)
    ids, _ = index.search(np.ones((1, 16)), 50)  # more than the catalogue: capped
    assert len(ids[0]) == 10
