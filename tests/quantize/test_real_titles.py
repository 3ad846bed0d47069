"""Semantic IDs for the real Amazon electronic catalogue (TF-IDF + SVD of titles: cheap, no model weights)."""
import numpy as np
import pytest
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from eccr.data.bundle_intents import load_bundle_intents
from eccr.quantize.config import QuantizerConfig
from eccr.quantize.semantic_ids import build_semantic_ids
from eccr.quantize.trie import SemanticIDTrie
from eccr.represent.vectors import ItemVectors


def title_vectors(folder, dim: int = 64) -> ItemVectors:
    items = load_bundle_intents(folder).catalog.titled().items
    tfidf = TfidfVectorizer(min_df=2, sublinear_tf=True).fit_transform(items["title"])
    X = TruncatedSVD(dim, random_state=0).fit_transform(tfidf)
    return ItemVectors(items["item_id"].tolist(), X).normalized()


@pytest.mark.real_data
def test_electronic_titles_get_unique_ids(electronic_dir):
    vectors = title_vectors(electronic_dir)
    assert len(vectors) > 2000
    table, _, report = build_semantic_ids(vectors, QuantizerConfig(kind="kmeans"))
    assert report.collision_rate_after == 0.0 and len(table) == len(vectors)
    assert report.collision_rate_before < 0.3   # public RQ-VAE implementations report ~30%
    assert report.usage[0]["share_used"] > 0.9 and report.relative_mse < 0.3
    trie = SemanticIDTrie.from_table(table)
    assert len(trie) == len(table) and len(trie.allowed_next([])) == report.usage[0]["used"]
    # similar titles share a first-level code more often than random pairs do
    X, first = vectors.vectors, table.codes[:, 0]
    nearest = np.argsort(-(X[:300] @ X.T), axis=1)[:, 1]
    assert (first[:300] == first[nearest]).mean() > 5 * (first[:300] == np.roll(first, 7)[:300]).mean()
