"""Tiny catalogues built in code, and a deterministic fake text encoder (hashed bag of words)."""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from eccr.data.schema import Behaviour, Bundles, Catalog, Dataset

DIM = 32


class CountingEncoder:
    """list[str] -> (n, DIM): each word adds a fixed pseudo-random vector; counts calls (cache tests)."""

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), DIM), np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace("|", " ").replace(">", " ").split():
                out[row] += np.random.default_rng(zlib.crc32(word.encode())).standard_normal(DIM)
        return out


@pytest.fixture
def encoder() -> CountingEncoder:
    return CountingEncoder()


CAMERA_PATH = ["Electronics", "Camera & Photo", "Digital Cameras"]
BATTERY_PATH = ["Electronics", "Camera & Photo", "Accessories", "Batteries"]
BRANDS = ["Canon", "Nikon", "Sony", "Fuji", "Olympus", "Pentax", "Leica", "Kodak"]


def camera_battery_dataset(n_per_brand_pair: int = 1) -> Dataset:
    """8 cameras and 8 batteries ("… Battery for <brand> cameras"); bundles pair cameras 0-5 with batteries 0-5,
    each bundle a camera with its own brand's battery and one other brand's. Items 6, 7 are cold (no evidence)."""
    items, bundles, events = [], [], []
    for k, brand in enumerate(BRANDS):
        items.append((f"cam{k}", f"{brand} Digital Camera {k}0MP zoom", CAMERA_PATH))
        items.append((f"bat{k}", f"Rechargeable Battery for {brand} cameras {k}", BATTERY_PATH))
    catalog = Catalog(pd.DataFrame({"item_id": [i[0] for i in items], "title": [i[1] for i in items],
                                    "category": [i[2] for i in items], "brand": "", "text": ""}))
    bundle = 0
    for _ in range(n_per_brand_pair):
        for k in range(6):
            for other in (k, (k + 1) % 6):
                session = f"s{bundle}"
                for item in (f"cam{k}", f"bat{other}"):
                    bundles.append((f"b{bundle}", session, item, "camera and battery", 1_000 + bundle))
                    events.append((f"u{bundle}", session, item, 1_000 + bundle))
                bundle += 1
    return Dataset(
        name="toy", catalog=catalog,
        behaviour=Behaviour(pd.DataFrame(events, columns=["user_id", "session_id", "item_id", "timestamp"])),
        bundles=Bundles(pd.DataFrame(bundles, columns=["bundle_id", "session_id", "item_id", "intent", "timestamp"])))


@pytest.fixture
def toy() -> Dataset:
    return camera_battery_dataset()
