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


@pytest.fixture(scope="session")
def electronic_dir() -> Path:
    return _real("amazon_bundle_intents/electronic")


@pytest.fixture
def clothing_dir() -> Path:
    return _real("amazon_bundle_intents/clothing")


@pytest.fixture
def uk_toys_dir() -> Path:
    return _real("amazon_uk_toys_also_bought")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A real, tiny trained run: the demo catalogue, every stage, a 2-layer LM built in code (~30 s)."""
    import dataclasses

    from eccr.jobs.train import train_run
    from eccr.llm.config import LM_TASKS
    from eccr.llm.models import build_tiny_model
    from eccr.run import RunConfig, quick

    root = tmp_path_factory.mktemp("tiny_run")
    model_dir = build_tiny_model(root / "model")
    cfg = quick(RunConfig())
    r = dataclasses.replace
    cfg = r(cfg,
            text=r(cfg.text, cache_dir=str(root / "text_cache")),
            # epoch caps, not time caps, so the run is the same on a loaded machine
            ranker=r(cfg.ranker, max_epochs=6, max_seconds=600.0, progress=False),
            directed=r(cfg.directed, epochs=5, max_seconds=600.0),
            uncertainty=r(cfg.uncertainty, members=2, max_epochs=1),
            tasks=r(cfg.tasks, max_pairs=200, max_alignment_items=100, tasks=LM_TASKS),  # every task, not the demo's
            model=r(cfg.model, spec=str(model_dir), cache_dir=str(root / "model_cache")),  # its GGUF export
            sft=r(cfg.sft, max_steps=4, save_steps=2, logging_steps=1))
    train_run(cfg, root / "run")
    return root / "run"
