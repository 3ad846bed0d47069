"""Probe: does fine-tuning the text encoder itself help new items? The top K layers of the packaged MiniLM
(all-MiniLM-L6-v2) are fine-tuned as a complement bi-encoder, score(q, c) = cos(E(q), E(c)), on the train part's
honest candidate lists (eccr/data/candidate_lists.py; per list the positive, 6 of its status-matched negatives —
2 co-bought, 2 same-leaf, 2 random — and the other lists' candidates of the batch, softmax cross-entropy). The
lower 6-K layers stay frozen and their outputs are computed once, so a step costs only the top layers. Every
`--eval` steps it prints HR@5 (all / cold / seen positives) on the valid and test lists (1 + 20, ties against the
model); choose the step on VALID and read test there. Not part of the product yet (see the README, "The shipped
ranking against text cosine").

    python scripts/probe_finetuned_encoder.py ../shared/data/amazon_bundle_intents/electronic   # ~41 min, 2 threads

writes the evaluation log to runs/results/finetuned_encoder-<dataset>.json.
"""
import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from torch.nn import functional as F

from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.data.load import load_dataset
from eccr.data.splits import temporal_split
from eccr.evaluate.metrics import positive_first_metrics
from eccr.represent.config import TextConfig
from eccr.represent.text import catalog_texts, packaged_model_dir

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("data")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--k", type=int, default=2, help="top layers fine-tuned")
parser.add_argument("--b", type=int, default=32, help="lists per step")
parser.add_argument("--nneg", type=int, default=6, help="negatives per list")
parser.add_argument("--lr", type=float, default=5e-5)
parser.add_argument("--steps", type=int, default=800)
parser.add_argument("--eval", type=int, default=100, help="evaluate every this many steps")
parser.add_argument("--scale", type=float, default=20.0, help="cosine temperature")
parser.add_argument("--maxlen", type=int, default=64, help="tokens per item text")
parser.add_argument("--draws", type=int, default=2, help="seeded draws of the train lists")
parser.add_argument("--out", default="runs/results")
a = parser.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
rng = np.random.default_rng(0)
K, B, NNEG, LR, STEPS, EVAL, SCALE, MAXLEN = a.k, a.b, a.nneg, a.lr, a.steps, a.eval, a.scale, a.maxlen
ds = load_dataset(a.data)
split = temporal_split(ds, 0.1, 0.2)
ids, texts = catalog_texts(ds.catalog, TextConfig())
pos = {i: k for k, i in enumerate(ids)}
def lists(part, seed=0):
    return build_candidate_lists(split, part, replace(CandidateListConfig(), seed=seed)).complete(pos)
train = [p for s in range(a.draws) for p in lists("train", s)]
valid, test = lists("valid"), lists("test")
print(len(ids), "items", len(train), len(valid), len(test), "lists", vars(a), flush=True)
st = SentenceTransformer(str(packaged_model_dir()), device="cpu")
bert = st[0].auto_model; tok = st[0].tokenizer
enc = tok(texts, padding="max_length", truncation=True, max_length=MAXLEN, return_tensors="pt")
lengths = enc["attention_mask"].sum(1)
n_layers = len(bert.encoder.layer)
with torch.no_grad():
    bert.eval(); H = []
    for b in range(0, len(texts), 256):
        out = bert(input_ids=enc["input_ids"][b:b+256], attention_mask=enc["attention_mask"][b:b+256], output_hidden_states=True)
        H.append(out.hidden_states[n_layers - K])
    H = torch.cat(H)
print("cached", H.shape, flush=True)
top = torch.nn.ModuleList(bert.encoder.layer[n_layers - K:])
def embed(rows):
    rows = torch.as_tensor(rows); T = int(lengths[rows].max())
    h = H[rows, :T]; m = enc["attention_mask"][rows, :T]
    mask = bert._create_attention_masks(attention_mask=m, encoder_attention_mask=None, embedding_output=h, encoder_hidden_states=None, cache=None)[0]
    for layer in top: h = layer(h, mask)
    mf = m.unsqueeze(-1).float()
    return F.normalize((h * mf).sum(1) / mf.sum(1), dim=-1)
def embed_all():
    top.eval()
    with torch.no_grad():
        return torch.cat([embed(list(range(b, min(b + 256, len(texts))))) for b in range(0, len(texts), 256)])
def hr(E, L):
    q = torch.tensor([pos[p.query] for p in L]); c = torch.tensor([[pos[x] for x in (p.positive, *p.negatives)] for p in L])
    s = (E[q].unsqueeze(1) * E[c]).sum(-1).numpy(); seen = np.array([p.positive_seen for p in L])
    m = positive_first_metrics(s, ["HR@5"])["HR@5"]
    return round(float(m.mean()), 4), round(float(m[~seen].mean()), 4), round(float(m[seen].mean()), 4)
E = embed_all(); print("frozen valid", hr(E, valid), "test", hr(E, test), flush=True)
opt = torch.optim.AdamW(top.parameters(), lr=LR, weight_decay=0.01)
order = rng.permutation(len(train)); t0 = time.time(); log = []; cursor = 0
for step in range(STEPS):
    top.train()
    if cursor + B > len(order): order = rng.permutation(len(train)); cursor = 0
    batch = [train[i] for i in order[cursor:cursor + B]]; cursor += B
    negs = []
    for p in batch:
        byk = {}
        for n, k in zip(p.negatives, p.kinds): byk.setdefault(k, []).append(n)
        pick = []
        for k in ("co_bought", "same_leaf", "random", "near_category"): pick += byk.get(k, [])[:2]
        negs.append((pick + [n for n in p.negatives if n not in pick])[:NNEG])
    qv = embed([pos[p.query] for p in batch])
    cv = embed([pos[p.positive] for p in batch] + [pos[n] for ns in negs for n in ns])
    s = SCALE * qv @ cv.T
    same = torch.tensor([[pos[a.positive] == pos[b.positive] and i != j for j, b in enumerate(batch)] for i, a in enumerate(batch)])
    s[:, :B] = s[:, :B].masked_fill(same, -1e4)
    loss = F.cross_entropy(s, torch.arange(B))
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 50 == 0: print(step, round(loss.item(), 3), round(time.time() - t0), "s", flush=True)
    if (step + 1) % EVAL == 0:
        E = embed_all(); log.append({"step": step + 1, "valid": hr(E, valid), "test": hr(E, test), "sec": round(time.time() - t0)}); print(log[-1], flush=True)
Path(a.out).mkdir(parents=True, exist_ok=True)
(Path(a.out) / f"finetuned_encoder-{ds.name}.json").write_text(json.dumps({"config": vars(a), "log": log}, indent=1))
