"""Probe: does reading the two titles together (a cross-encoder) rank complements better than comparing their
vectors? The lower layers of the packaged MiniLM (all-MiniLM-L6-v2) run once per item and are cached; the top K
layers read the query's and the candidate's token states concatenated, so every token of one item attends to the
other's (the precomputed-term cross-encoder of MacAvaney et al., 'Efficient Document Re-Ranking for Transformers by
Precomputing Term Representations', SIGIR 2020). score(q, c) = s·cos(q, c) + MLP([u, v, u⊙v]) with u, v the
mean-pooled query and candidate tokens after the joint layers and cos the frozen sentence cosine; the MLP's last
layer starts at zero, so step 0 ranks exactly like text cosine. Trained with a softmax over each TRAIN-part honest
list (eccr/data/candidate_lists.py: the bundle partner and `--nneg` of its status-matched negatives). Every `--eval`
steps it prints HR@5 on the first `--eval-lists` VALID lists; the best step's weights are then scored on all valid
and test lists (1 + 20 candidates, ties against the model), all / cold / seen positives. Not part of the product.

    python scripts/probe_cross_encoder.py ../shared/data/amazon_bundle_intents/electronic

writes the log and the final figures to runs/results/cross_encoder-<dataset>.json, and each list's scores to
runs/results/cross_encoder-<dataset>-scores.npz (valid and test, candidates in list order, positive first).
"""
import argparse
import copy
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from torch import nn
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
parser.add_argument("--k", type=int, default=2, help="top layers that read both items")
parser.add_argument("--b", type=int, default=16, help="lists per step")
parser.add_argument("--nneg", type=int, default=6, help="negatives per list and step")
parser.add_argument("--lr", type=float, default=5e-5, help="learning rate of the joint layers")
parser.add_argument("--head-lr", type=float, default=1e-3)
parser.add_argument("--steps", type=int, default=1500)
parser.add_argument("--eval", type=int, default=250, help="evaluate every this many steps")
parser.add_argument("--eval-lists", type=int, default=600, help="valid lists read at each evaluation")
parser.add_argument("--patience", type=int, default=3)
parser.add_argument("--maxlen", type=int, default=32, help="tokens per item text")
parser.add_argument("--draws", type=int, default=2, help="seeded draws of the train lists")
parser.add_argument("--max-seconds", type=float, default=2400, help="stop training after this wall time")
parser.add_argument("--out", default="runs/results")
a = parser.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
rng = np.random.default_rng(0)
ds = load_dataset(a.data)
split = temporal_split(ds, 0.1, 0.2)
ids, texts = catalog_texts(ds.catalog, TextConfig())
pos = {i: k for k, i in enumerate(ids)}


def lists(part, seed=0):
    return build_candidate_lists(split, part, replace(CandidateListConfig(), seed=seed)).complete(pos)


train = [p for s in range(a.draws) for p in lists("train", s)]
valid, test = lists("valid"), lists("test")
used = sorted({pos[x] for L in (train, valid, test) for p in L for x in (p.query, p.positive, *p.negatives)})
local = {r: k for k, r in enumerate(used)}
row = {i: local[pos[i]] for i in ids if pos[i] in local}
print(len(used), "items", len(train), len(valid), len(test), "lists", vars(a), flush=True)

st = SentenceTransformer(str(packaged_model_dir()), device="cpu")
bert, tok = st[0].auto_model, st[0].tokenizer
enc = tok([texts[u] for u in used], padding="longest", truncation=True, max_length=a.maxlen, return_tensors="pt")
attention = enc["attention_mask"]
lengths = attention.sum(1)
n_layers = len(bert.encoder.layer)
hidden, sentence = [], []
bert.eval()
with torch.no_grad():
    for b in range(0, len(used), 256):
        out = bert(input_ids=enc["input_ids"][b:b + 256], attention_mask=attention[b:b + 256], output_hidden_states=True)
        hidden.append(out.hidden_states[n_layers - a.k])
        m = attention[b:b + 256].unsqueeze(-1).float()
        sentence.append(F.normalize((out.last_hidden_state * m).sum(1) / m.sum(1), dim=-1))
H, S = torch.cat(hidden), torch.cat(sentence)
print("cached", tuple(H.shape), flush=True)


def bidirectional_mask(h, m):
    from transformers.masking_utils import create_bidirectional_mask
    return create_bidirectional_mask(config=bert.config, inputs_embeds=h, attention_mask=m)


class CrossScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.top = copy.deepcopy(nn.ModuleList(bert.encoder.layer[n_layers - a.k:]))
        width = bert.config.hidden_size
        self.segment = nn.Parameter(torch.zeros(width))
        self.mlp = nn.Sequential(nn.Linear(3 * width, 256), nn.GELU(), nn.Linear(256, 1))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)
        self.scale = nn.Parameter(torch.tensor(20.0))

    def forward(self, q, c):
        q, c = torch.as_tensor(q), torch.as_tensor(c)
        tq, tc = int(lengths[q].max()), int(lengths[c].max())
        h = torch.cat([H[q, :tq], H[c, :tc] + self.segment], 1)
        m = torch.cat([attention[q, :tq], attention[c, :tc]], 1)
        mask = bidirectional_mask(h, m)
        for block in self.top:
            out = block(h, mask)
            h = out[0] if isinstance(out, tuple) else out
        mq, mc = m[:, :tq].unsqueeze(-1).float(), m[:, tq:].unsqueeze(-1).float()
        u, v = (h[:, :tq] * mq).sum(1) / mq.sum(1), (h[:, tq:] * mc).sum(1) / mc.sum(1)
        cosine = (S[q] * S[c]).sum(-1)
        return self.scale * cosine + self.mlp(torch.cat([u, v, u * v], -1)).squeeze(-1)


def list_scores(model, L, batch=768):
    q = np.repeat([row[p.query] for p in L], 21)
    c = np.array([row[x] for p in L for x in (p.positive, *p.negatives)])
    model.eval()
    with torch.no_grad():
        s = torch.cat([model(q[b:b + batch], c[b:b + batch]) for b in range(0, len(q), batch)])
    return s.numpy().reshape(len(L), 21)


def hr(scores, L):
    seen = np.array([p.positive_seen for p in L])
    m = positive_first_metrics(scores, ["HR@5"])["HR@5"]
    return {"all": round(float(m.mean()), 4), "cold": round(float(m[~seen].mean()), 4),
            "seen": round(float(m[seen].mean()), 4), "lists": len(L)}


model = CrossScorer()
head = [p for n, p in model.named_parameters() if not n.startswith("top.")]
opt = torch.optim.AdamW([{"params": model.top.parameters(), "lr": a.lr}, {"params": head, "lr": a.head_lr}],
                        weight_decay=0.01)
probe = valid[:a.eval_lists]
t0 = time.time()
best = hr(list_scores(model, probe), probe)["all"]
log = [{"step": 0, "valid_probe": best, "sec": round(time.time() - t0)}]
print(log[-1], flush=True)
best_state, best_step, stale, losses = copy.deepcopy(model.state_dict()), 0, 0, []
order, cursor = rng.permutation(len(train)), 0
for step in range(1, a.steps + 1):
    if cursor + a.b > len(order):
        order, cursor = rng.permutation(len(train)), 0
    batch = [train[i] for i in order[cursor:cursor + a.b]]
    cursor += a.b
    q, c = [], []
    for p in batch:
        negs = list(rng.choice(p.negatives, a.nneg, replace=False))
        q += [row[p.query]] * (1 + a.nneg)
        c += [row[x] for x in (p.positive, *negs)]
    model.train()
    s = model(np.array(q), np.array(c)).view(len(batch), 1 + a.nneg)
    loss = F.cross_entropy(s, torch.zeros(len(batch), dtype=torch.long))
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
    if step % 50 == 0:
        print(step, round(float(np.mean(losses[-50:])), 4), round(time.time() - t0), "s", flush=True)
    out_of_time = time.time() - t0 > a.max_seconds
    if step % a.eval == 0 or step == a.steps or out_of_time:
        h = hr(list_scores(model, probe), probe)["all"]
        log.append({"step": step, "loss": round(float(np.mean(losses)), 4), "valid_probe": h,
                    "sec": round(time.time() - t0)})
        print(log[-1], flush=True)
        losses = []
        if h > best:
            best, best_step, stale, best_state = h, step, 0, copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= a.patience:
                break
    if out_of_time:
        break
model.load_state_dict(best_state)
scores = {part: list_scores(model, L) for part, L in (("valid", valid), ("test", test))}
cosine = {part: (S[[row[p.query] for p in L]].unsqueeze(1) * S[[[row[x] for x in (p.positive, *p.negatives)] for p in L]]).sum(-1).numpy()
          for part, L in (("valid", valid), ("test", test))}
result = {"config": vars(a), "log": log, "best_step": best_step, "train_seconds": log[-1]["sec"],
          "valid": {"cross": hr(scores["valid"], valid), "text_cosine": hr(cosine["valid"], valid)},
          "test": {"cross": hr(scores["test"], test), "text_cosine": hr(cosine["test"], test)}}
print(json.dumps(result["valid"]), json.dumps(result["test"]), flush=True)
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
(out / f"cross_encoder-{ds.name}.json").write_text(json.dumps(result, indent=1))
np.savez(out / f"cross_encoder-{ds.name}-scores.npz", valid=scores["valid"], test=scores["test"],
         valid_queries=np.array([p.query for p in valid]), test_queries=np.array([p.query for p in test]))
