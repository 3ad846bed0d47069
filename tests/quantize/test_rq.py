import numpy as np
import pytest
import torch

from eccr.quantize.config import QuantizerConfig
from eccr.quantize.metrics import codebook_usage, relative_mse
from eccr.quantize.rq import RQVAE, ResidualKMeans, ResidualQuantizer, greedy_residual_codes, make_quantizer

from .conftest import clustered_vectors, small_config

KINDS = ["kmeans", "rqvae"]


@pytest.fixture(scope="module")
def fitted(clustered):
    return {kind: make_quantizer(small_config(kind)).fit(clustered) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_ranges(fitted, clustered, kind):
    q = fitted[kind]
    codes = q.encode(clustered[:50])
    assert codes.shape == (50, 3) and codes.dtype == np.int64
    assert (codes >= 0).all() and (codes < 16).all()
    assert q.decode(codes).shape == (50, clustered.shape[1])
    assert q.codebook_sizes() == [16, 16, 16]


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_codes(fitted, clustered, kind):
    again = make_quantizer(small_config(kind)).fit(clustered)
    np.testing.assert_array_equal(again.encode(clustered), fitted[kind].encode(clustered))


def test_other_seed_changes_kmeans_codebooks(fitted, clustered):
    other = make_quantizer(small_config("kmeans", seed=7)).fit(clustered)
    assert not np.allclose(other.codebooks()[0], fitted["kmeans"].codebooks()[0])


@pytest.mark.parametrize("kind,bound", [("kmeans", 0.02), ("rqvae", 0.25)])
def test_reconstruction_error_bounded(fitted, clustered, kind, bound):
    q = fitted[kind]
    err = relative_mse(clustered, q.decode(q.encode(clustered)))
    assert err < bound
    # the error is measured against something: random codes reconstruct far worse
    random_codes = np.random.default_rng(0).integers(0, 16, (len(clustered), 3))
    assert relative_mse(clustered, q.decode(random_codes)) > 3 * err


def test_levels_refine_reconstruction(clustered):
    q = make_quantizer(small_config("kmeans")).fit(clustered)
    codes, books = q.encode(clustered), q.codebooks()
    errors = [relative_mse(clustered, sum(books[l][codes[:, l]] for l in range(depth)))
              for depth in (1, 2, 3)]
    assert errors[0] > errors[1] > errors[2]


def test_rqvae_uses_most_of_the_first_codebook(fitted, clustered):
    q = fitted["rqvae"]
    usage = codebook_usage(q.encode(clustered), q.codebook_sizes())
    assert usage[0]["share_used"] > 0.5
    assert usage[0]["perplexity"] > 4  # not collapsed onto a handful of codes


def test_dead_code_restart_moves_unused_codes_onto_data(clustered):
    q = make_quantizer(small_config("rqvae")).fit(clustered)
    net, x = q.net, torch.from_numpy(clustered)
    with torch.no_grad():
        net.codebooks[0][8:] = 1e3  # half of level 0 far from every latent: never chosen
        z = net.encoder(net.standardize(x))
        usage = [torch.bincount(c, minlength=16) for c in net.quantize(z)[1].T]
    assert (usage[0][8:] == 0).all()
    restarted = q._restart_dead_codes(net, x, usage, torch.Generator().manual_seed(0))
    assert restarted >= 8
    assert net.codebooks[0][8:].abs().max() < 100  # now sitting on real residuals
    new_usage = codebook_usage(q.encode(clustered), q.codebook_sizes())
    assert new_usage[0]["used"] > 8


def test_codebook_capped_by_item_count():
    X = clustered_vectors(n=10, clusters=3)
    q = make_quantizer(small_config("kmeans")).fit(X)
    assert q.codebook_sizes() == [10, 10, 10]
    assert q.encode(X).max() < 10


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(fitted, clustered, kind, tmp_path):
    q = fitted[kind]
    q.save(tmp_path / "q")
    assert (tmp_path / "q.safetensors").exists() and (tmp_path / "q.json").exists()
    loaded = ResidualQuantizer.load(tmp_path / "q")
    assert type(loaded) is type(q) and loaded.config == q.config
    np.testing.assert_array_equal(loaded.encode(clustered), q.encode(clustered))
    np.testing.assert_allclose(loaded.decode(q.encode(clustered[:20])), q.decode(q.encode(clustered[:20])),
                               atol=1e-6)


def test_greedy_codes_pick_nearest_residual():
    books = [np.array([[0.0, 0.0], [10.0, 0.0]], np.float32), np.array([[0.0, 1.0], [0.0, -1.0]], np.float32)]
    codes = greedy_residual_codes(np.array([[9.0, -0.8], [0.2, 0.9]], np.float32), books)
    assert codes.tolist() == [[1, 1], [0, 0]]


def test_bad_input_is_rejected(fitted):
    with pytest.raises(ValueError, match="dimension"):
        fitted["kmeans"].encode(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        ResidualKMeans(small_config()).fit(np.full((20, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="not fitted"):
        RQVAE(small_config("rqvae")).encode(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="code out of range"):
        fitted["kmeans"].decode(np.array([[0, 0, 99]]))
    with pytest.raises(ValueError, match="kind"):
        QuantizerConfig(kind="pq")
