"""Hub ids as model specs: downloaded when the hub may be used, refused by name when offline (no network here:
from_pretrained and SentenceTransformer are replaced by recorders)."""
import numpy as np
import pytest

from eccr.hub import ModelNotFoundError, hub_offline, looks_like_hub_id
from eccr.llm.models import build_tiny_model, load_causal_lm, resolve_model_source
from eccr.represent.config import TextConfig

HUB_LM = "HuggingFaceTB/SmolLM2-135M-Instruct"
HUB_TEXT = "sentence-transformers/all-MiniLM-L6-v2"


def _online(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


def test_hub_ids_and_offline_switch(monkeypatch):
    assert all(looks_like_hub_id(s) for s in (HUB_LM, "gpt2", "org/model.v1_2"))
    assert not any(looks_like_hub_id(s) for s in ("/models/x", "./x", "~/x", "a/b/c", "a/../b", "", "org/"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert not hub_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not hub_offline()
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    assert hub_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE")
    assert hub_offline()


def test_lm_hub_id_goes_to_from_pretrained_when_online(monkeypatch, tmp_path):
    import transformers

    seen = []

    class Tokenizer:
        pad_token, eos_token, padding_side = None, "</s>", "right"

    class Model:
        def to(self, device):
            return self

        def eval(self):
            seen.append("eval")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda src, **kw: seen.append(src) or Tokenizer())
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        lambda src, **kw: seen.append(src) or Model())
    _online(monkeypatch)
    model, tokenizer = load_causal_lm(HUB_LM, device="cpu")
    assert isinstance(model, Model)
    assert seen == [HUB_LM, HUB_LM, "eval"] and tokenizer.pad_token == "</s>" and tokenizer.padding_side == "left"
    folder = build_tiny_model(tmp_path)  # a local folder stays a folder, online or not
    assert resolve_model_source(str(folder)) == str(folder)


def test_lm_hub_id_offline_is_refused_by_name(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match=f"'{HUB_LM}'.*HF_HUB_OFFLINE=0") as err:
        load_causal_lm(HUB_LM)
    assert isinstance(err.value, ValueError) and isinstance(err.value, FileNotFoundError)
    _online(monkeypatch)
    with pytest.raises(ValueError, match="neither a packaged model.*nor a hub id"):  # a path is never a hub id
        resolve_model_source(str(tmp_path / "nowhere"))


def test_text_model_hub_id_online_and_offline(monkeypatch):
    import sentence_transformers

    from eccr.represent import text

    calls = []

    class Recorder:
        def __init__(self, source, **kw):
            calls.append((source, kw.get("local_files_only")))

        def encode(self, texts, **kw):
            return np.ones((len(texts), 3), dtype=np.float32)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", Recorder)
    config = TextConfig(model_dir=HUB_TEXT, device="cpu")
    _online(monkeypatch)
    encode, tag = text.load_sentence_encoder(config)
    assert calls == [(HUB_TEXT, False)] and encode(["a", "b"]).shape == (2, 3) and HUB_TEXT.split("/")[1] in tag
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match=f"TextConfig.model_dir '{HUB_TEXT}'.*HF_HUB_OFFLINE=0"):
        text.load_sentence_encoder(config)
    with pytest.raises(FileNotFoundError, match="neither a directory, nor a hub id"):
        text.load_sentence_encoder(TextConfig(model_dir="/no/such/folder"))
