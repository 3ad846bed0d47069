from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eccr.data.schema import Catalog
from eccr.represent.config import TextConfig
from eccr.represent.text import catalog_texts, item_text, packaged_model_dir, text_vectors
from eccr.represent.vectors import ItemVectors


def test_item_text_joins_title_category_and_brand():
    text = item_text("EOS 70D", ["Electronics", "Camera & Photo", "DSLR"], "Canon")
    assert text == "EOS 70D | Camera & Photo > DSLR | brand: Canon"
    assert item_text("EOS", ["Electronics"], "", TextConfig(include_category=False)) == "EOS"


def test_items_without_any_text_are_left_out(toy):
    items = pd.concat([toy.catalog.items, pd.DataFrame(
        {"item_id": ["blank"], "title": [""], "category": [[]], "brand": [""], "text": [""]})], ignore_index=True)
    ids, texts = catalog_texts(Catalog(items))
    assert "blank" not in ids and len(ids) == len(texts) == len(toy.catalog)


def test_vectors_are_normalised_and_aligned(toy, encoder, tmp_path):
    vectors = text_vectors(toy.catalog, TextConfig(cache_dir=str(tmp_path), batch_size=5), encoder)
    assert vectors.vectors.shape == (16, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors.vectors, axis=1), 1.0, rtol=1e-5)
    assert encoder.calls == 4  # 16 texts in batches of 5
    # the same brand's camera and battery share a word, so they are closer than two cameras' batteries apart
    v = vectors.lookup(["cam0", "bat0", "bat3"])
    assert v[0] @ v[1] > v[0] @ v[2]


def test_second_call_hits_the_cache(toy, encoder, tmp_path):
    config = TextConfig(cache_dir=str(tmp_path))
    first = text_vectors(toy.catalog, config, encoder, encoder_name="fake")
    calls = encoder.calls
    second = text_vectors(toy.catalog, config, encoder, encoder_name="fake")
    assert encoder.calls == calls and first.meta["cache"] == "miss" and second.meta["cache"] == "hit"
    np.testing.assert_array_equal(first.vectors, second.vectors)
    # a changed title changes the content hash: re-encoded
    items = toy.catalog.items.copy()
    items.loc[0, "title"] = "Another camera"
    third = text_vectors(Catalog(items), config, encoder, encoder_name="fake")
    assert encoder.calls > calls and third.meta["cache"] == "miss"


def test_bad_encoder_output_is_a_clear_error(toy, tmp_path):
    with pytest.raises(ValueError, match="encoder returned shape"):
        text_vectors(toy.catalog, TextConfig(cache_dir=""), lambda texts: np.zeros((1, 4)))


def test_save_load_round_trip(toy, encoder, tmp_path):
    vectors = text_vectors(toy.catalog, TextConfig(cache_dir=""), encoder)
    vectors.save(tmp_path / "text")
    loaded = ItemVectors.load(tmp_path / "text")
    assert loaded.ids == vectors.ids and loaded.meta["kind"] == "text"
    np.testing.assert_array_equal(loaded.vectors, vectors.vectors)


@pytest.mark.slow
def test_real_minilm_on_fifty_titles(electronic_dir, tmp_path):
    from eccr.data.bundle_intents import load_bundle_intents

    assert (packaged_model_dir() / "modules.json").exists()
    catalog = load_bundle_intents(electronic_dir).catalog.titled()
    catalog = Catalog(catalog.items.head(50).copy())
    vectors = text_vectors(catalog, TextConfig(cache_dir=str(tmp_path)))
    assert vectors.vectors.shape == (50, 384) and vectors.meta["cache"] == "miss"
    np.testing.assert_allclose(np.linalg.norm(vectors.vectors, axis=1), 1.0, rtol=1e-4)
    assert text_vectors(catalog, TextConfig(cache_dir=str(tmp_path))).meta["cache"] == "hit"
