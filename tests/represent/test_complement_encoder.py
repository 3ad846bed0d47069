"""The text encoder fine-tuned for complements (eccr/represent/complement_encoder.py) and its blend feature
"tuned_cosine": cached lower layers give the encoder's own vectors, the train stage saves a loadable encoder and
its vectors, the blend weighs the feature, new items get vectors from the saved encoder."""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from eccr.data.schema import Catalog
from eccr.represent.complement_encoder import INFO_FILE, TopLayerEncoder
from eccr.represent.text import packaged_model_dir
from eccr.run import Run

TEXTS = ["Canon EOS Rebel T7 DSLR Camera | Camera & Photo > Digital Cameras",
         "LP-E10 Battery for Canon Rebel T7 | Camera & Photo > Batteries | brand: Wasabi",
         "a",
         "SanDisk 64GB Extreme SDXC UHS-I memory card 170MB/s " * 8]


@pytest.mark.parametrize("layers", [1, 2, 6])
def test_cached_lower_layers_give_the_encoders_own_vectors(layers):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(packaged_model_dir()), device="cpu")
    model.max_seq_length = 32  # the last text is longer: truncated alike on both paths
    encoder = TopLayerEncoder(model, TEXTS, layers, max_tokens=32)
    ours = encoder.embed_all(np.arange(len(TEXTS))).numpy()
    np.testing.assert_allclose(ours, model.encode(TEXTS, normalize_embeddings=True), atol=1e-5)
    assert sum(p.numel() for p in encoder.top.parameters()) > 0
    with pytest.raises(ValueError, match="layers must be in 1..6"):
        TopLayerEncoder(model, TEXTS, 7, max_tokens=32)



def test_an_mpnet_encoder_keeps_its_relative_position_bias(tmp_path):
    """MPNet (all-mpnet-base-v2's architecture) adds a relative position bias in every layer; the cached path must
    pass it on, or the top layers read positionless tokens. A tiny MPNet with random weights, built here."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_model_dir()))
    config = MPNetConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=80)
    MPNetModel(config).save_pretrained(tmp_path / "mpnet")
    tokenizer.save_pretrained(tmp_path / "mpnet")
    word = models.Transformer(str(tmp_path / "mpnet"), max_seq_length=32)
    model = SentenceTransformer(modules=[word, models.Pooling(32, "mean")], device="cpu")
    encoder = TopLayerEncoder(model, TEXTS, 2, max_tokens=32)
    ours = encoder.embed_all(np.arange(len(TEXTS))).numpy()
    np.testing.assert_allclose(ours, model.encode(TEXTS, normalize_embeddings=True), atol=1e-5)

def _copy_run(tiny_run, to):
    shutil.copytree(tiny_run, to, ignore=shutil.ignore_patterns("checkpoints", "lm", "report-*", "personal_metric"))
    return to


def test_the_train_stage_fits_saves_and_serves_the_tuned_encoder(tiny_run, tmp_path):
    from eccr.evaluate.systems import build_systems
    from eccr.jobs.train import stage_blend, stage_complement
    from eccr.pipeline import Recommender
    from eccr.rank.blend import Blend
    from eccr.run import load_run_config, split_dataset

    run = _copy_run(tiny_run, tmp_path / "tuned")
    config = load_run_config(run)
    config.complement_encoder = dataclasses.replace(config.complement_encoder, enabled=True, max_steps=4,
                                                    eval_every=2, lists_per_step=8, threads=1)
    (run / "config.json").write_text(json.dumps(dataclasses.asdict(config), default=str))
    ds, split = split_dataset(config)
    summary = stage_complement(Run(run), config, ds, split, force=False)
    assert summary["complement"] == "kept"  # the complement scorer is not refitted for the encoder
    history = summary["complement_encoder"]["history"]
    # seeded: on the demo data 4 steps already beat the frozen encoder on the valid lists (0.565 -> 0.588)
    assert summary["complement_encoder"]["best_step"] == 4 and summary["complement_encoder"]["used"]
    assert [h["step"] for h in history] == [0, 2, 4] and all(0 <= h["valid_hr@5"] <= 1 for h in history)
    folder = Run(run).complement_encoder
    assert (folder / INFO_FILE).exists() and (folder / "model.safetensors").exists() and Run(run).tuned_index.exists()
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pkl"))
    # the blend stage sees a saved blend without the configured feature and refits it
    blend_summary = stage_blend(Run(run), config, split, force=False)
    assert blend_summary["blend"] != "kept"
    assert "tuned_cosine" in Blend.load(run / "blend.json").weights

    rec = Recommender.from_pretrained(run, use_lm=False)
    assert rec.candidates.tuned_text is not None
    pool = rec.retrieve(["D0001"], 30)
    nearest = rec.candidates.tuned_index.search(rec.candidates.tuned_text.lookup(["D0001"]), 5)[0][0]
    assert set(nearest) - {"D0001"} <= set(rec.candidates.retrieve(["D0001"]))  # a candidate source
    feats = rec.features("D0001", [], pool)[0]
    assert np.isfinite(feats["tuned_cosine"]).all() and np.abs(feats["tuned_cosine"]).max() <= 1 + 1e-5
    systems = build_systems(rec)
    assert "tuned_cosine" in systems
    np.testing.assert_allclose(systems["tuned_cosine"].score_candidates(["D0001"], pool[:5]).scores,
                               feats["tuned_cosine"][:5], atol=1e-5)

    # a new item gets its vector from the saved encoder: the same as an existing item with the same text
    known = rec.catalog.items.set_index("item_id").loc["D0002"]
    new = Catalog(pd.DataFrame({"item_id": ["NEW1"], "title": [known["title"]], "category": [list(known["category"])],
                                "brand": [known.get("brand", "")], "text": [""]}))
    assert rec.add_items(new) == ["NEW1"]
    tuned = rec.candidates.tuned_text
    np.testing.assert_allclose(tuned.lookup(["NEW1"]), tuned.lookup(["D0002"]), atol=1e-5)
    assert "NEW1" in rec.candidates.tuned_index.search(tuned.lookup(["D0002"]), 3)[0][0]
    saved = rec.save_pretrained(tmp_path / "folder")
    again = Recommender.from_pretrained(saved, use_lm=False)
    np.testing.assert_allclose(again.candidates.tuned_text.lookup(["NEW1"]), tuned.lookup(["NEW1"]), atol=1e-6)

    # switched off again: the blend is refitted without the feature and the run ranks without it
    config.complement_encoder.enabled = False
    stage_blend(Run(run), config, split, force=False)
    assert "tuned_cosine" not in Blend.load(run / "blend.json").weights
    off = Recommender.from_pretrained(run, use_lm=False)
    assert off.candidates.tuned_text is None and off.candidates.tuned_index is None
    assert "tuned_cosine" not in off.features("D0001", [], pool)[0]

    # an encoder that never beats the frozen one on valid (lr 0) is left out: no vectors, no feature
    config.complement_encoder = dataclasses.replace(config.complement_encoder, enabled=True, lr=0.0)
    shutil.rmtree(Run(run).complement_encoder)
    summary = stage_complement(Run(run), config, ds, split, force=False)["complement_encoder"]
    assert summary["best_step"] == 0 and not summary["used"]
    assert not Run(run).tuned_text.with_suffix(".safetensors").exists() and not Run(run).tuned_index.exists()
    stage_blend(Run(run), config, split, force=False)
    assert "tuned_cosine" not in Blend.load(run / "blend.json").weights
    assert Recommender.from_pretrained(run, use_lm=False).candidates.tuned_text is None
