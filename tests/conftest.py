"""Shared fixtures. Real data is read from ../shared/data when present; tests that need it skip with a reason."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ECCR_SHARED_DATA", REPO.parent / "shared" / "data"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _real(sub: str) -> Path:
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set ECCR_SHARED_DATA to run this test)")
    return path


@pytest.fixture
def electronic_dir() -> Path:
    return _real("amazon_bundle_intents/electronic")


@pytest.fixture
def clothing_dir() -> Path:
    return _real("amazon_bundle_intents/clothing")


@pytest.fixture
def uk_toys_dir() -> Path:
    return _real("amazon_uk_toys_also_bought")
