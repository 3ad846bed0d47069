"""What the complement scorer's inputs are worth: pair scorers over different frozen item vectors, on honest lists.

Every variant is the same listwise pair scorer, score(q → c) = α·cos(q, c) + MLP([x_q; x_c; x_q ⊙ x_c]), trained
on the train part's honest candidate lists (4 draws, eccr/data/candidate_lists.py) and evaluated on the valid and
test parts' lists (1 positive + 20 status-matched negatives, HR@5, ties against the model). Only x changes:

- text:            the run's MiniLM vector of "title | category path | brand" (what the shipped scorer reads);
- title+category:  separate MiniLM vectors of the title and of the category path, concatenated;
- towers over title+category: the directed scorer the issue suggests, score(q → c) = α·cos(q, c) + ⟨S(x_q), T(x_c)⟩
                   with separate source and target MLP towers over the title and category-path vectors;
- towers + category levels: the same plus learned source/target embeddings of every category-path prefix
                   (a type relation that holds for cold items of seen types);
- text+lm:         the text vector and the mean-pooled last hidden state of SmolLM2-135M-Instruct (the packaged LM)
                   over the same text (`--lm`; about 15 minutes of CPU for 3k items);
- text, refit on train+valid: the text variant refitted on train and valid lists for the epochs valid chose;
- tuned, text+tuned: the run's text encoder fine-tuned for complements (`--tuned RUN`: RUN/vectors/tuned_text,
                   eccr/represent/complement_encoder.py; its cosine replaces the text cosine in α·cos); `--only-tuned`
                   skips the frozen variants.

The shipped scorer (MLP + directed word model, `fit_complement_scorer`) and text cosine are printed beside them.
The epoch of each variant is chosen on VALID; the test column is read at that epoch and never used to choose.

    python scripts/ablate_complement_inputs.py --data ../shared/data/amazon_bundle_intents/electronic [--lm]

prints a markdown table and writes it with the raw numbers to runs/results/complement_inputs-<dataset>.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.data.load import load_dataset
from eccr.data.splits import temporal_split
from eccr.evaluate.metrics import positive_first_metrics
from eccr.rank.complement import fit_complement_scorer
from eccr.rank.config import ComplementConfig
from eccr.represent.config import TextConfig
from eccr.represent.text import catalog_texts, load_sentence_encoder, text_vectors
from eccr.represent.vectors import ItemVectors
from eccr.run import Run


def list_rows(split, part: str, positions: dict, seed: int = 0):
    pairs = build_candidate_lists(split, part, replace(CandidateListConfig(), seed=seed)).complete(positions)
    return (torch.tensor([positions[p.query] for p in pairs]),
            torch.tensor([[positions[x] for x in (p.positive, *p.negatives)] for p in pairs]))


def hit_rate(scores: torch.Tensor, k: int = 5) -> float:
    """HR@k of lists whose candidate 0 is the positive, ties against the model."""
    return float(positive_first_metrics(scores.numpy(), [f"HR@{k}"])[f"HR@{k}"].mean())


class PairScorer(nn.Module):
    def __init__(self, features: torch.Tensor, text: torch.Tensor, hidden: int = 256):
        super().__init__()
        self.features, self.text = features, text
        self.mlp = nn.Sequential(nn.Dropout(0.1), nn.Linear(3 * features.shape[1], hidden), nn.GELU(),
                                 nn.Dropout(0.1), nn.Linear(hidden, 1))
        self.alpha = nn.Parameter(torch.tensor(5.0))

    def forward(self, q, c):
        fq = self.features[q].unsqueeze(1).expand(-1, c.shape[1], -1)
        fc = self.features[c]
        cosine = (self.text[q].unsqueeze(1) * self.text[c]).sum(-1)
        return self.alpha * cosine + self.mlp(torch.cat([fq, fc, fq * fc], -1)).squeeze(-1)


class DirectedTowers(nn.Module):
    """score(q → c) = α·cos(q, c) + ⟨S(x_q), T(x_c)⟩ / √dim [+ Σ_k u_{q's level-k category} · Σ_k v_{c's level-k category}]."""

    def __init__(self, features: torch.Tensor, text: torch.Tensor, levels: torch.Tensor | None = None,
                 dim: int = 128, hidden: int = 256):
        super().__init__()
        self.features, self.text, self.levels, self.scale = features, text, levels, dim ** -0.5

        def tower():
            return nn.Sequential(nn.Dropout(0.1), nn.Linear(features.shape[1], hidden), nn.GELU(), nn.Linear(hidden, dim))

        self.source, self.target = tower(), tower()
        self.alpha = nn.Parameter(torch.tensor(5.0))
        if levels is not None:
            count = int(levels.max()) + 1
            self.source_levels = nn.Embedding(count, 32, padding_idx=0)
            self.target_levels = nn.Embedding(count, 32, padding_idx=0)
            with torch.no_grad():
                for table in (self.source_levels, self.target_levels):
                    nn.init.normal_(table.weight, std=0.01)
                    table.weight[0].zero_()  # the padding row: a shorter path adds nothing

    def forward(self, q, c):
        cosine = (self.text[q].unsqueeze(1) * self.text[c]).sum(-1)
        towers = (self.source(self.features[q]).unsqueeze(1) * self.target(self.features[c])).sum(-1) * self.scale
        score = self.alpha * cosine + towers
        if self.levels is not None:
            score = score + (self.source_levels(self.levels[q]).sum(1).unsqueeze(1)
                             * self.target_levels(self.levels[c]).sum(2)).sum(-1)
        return score


def category_levels(paths: list[list[str]], depth: int = 6) -> torch.Tensor:
    """One id per category-path prefix (level 1..depth) of each item, 0 where the path is shorter."""
    ids: dict[str, int] = {}
    levels = torch.zeros(len(paths), depth, dtype=torch.long)
    for row, path in enumerate(paths):
        for k in range(min(depth, len(path))):
            levels[row, k] = ids.setdefault(" > ".join(path[:k + 1]), len(ids) + 1)
    return levels


def train_variant(features, text, train_draws, valid, test, epochs: int, seed: int = 0, fixed_epochs=None,
                  make_model=PairScorer):
    """Returns (best valid HR@5, test HR@5 at that epoch, best epoch, seconds)."""
    torch.manual_seed(seed)
    model = make_model(features, text)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    best, start = (-1.0, 0.0, 0), time.perf_counter()
    for epoch in range(fixed_epochs or epochs):
        q, c = train_draws[epoch % len(train_draws)]
        model.train()
        order = torch.randperm(len(q))
        for b in range(0, len(order), 128):
            i = order[b:b + 128]
            loss = F.cross_entropy(model(q[i], c[i]), torch.zeros(len(i), dtype=torch.long))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            v, t = hit_rate(model(*valid)), hit_rate(model(*test))
        if fixed_epochs is not None or v > best[0]:  # a fixed run reports its last epoch
            best = (v, t, epoch + 1)
    return (*best, round(time.perf_counter() - start, 1))


def lm_vectors(texts: list[str], batch_size: int = 32) -> np.ndarray:
    from transformers import AutoModel, AutoTokenizer

    from eccr.llm.models import resolve_model_source

    source = resolve_model_source("smollm2")
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    tokenizer.padding_side = "right"
    model = AutoModel.from_pretrained(source, dtype=torch.float32).eval()
    out = []
    with torch.no_grad():
        for b in range(0, len(texts), batch_size):
            enc = tokenizer(texts[b:b + batch_size], return_tensors="pt", padding=True, truncation=True, max_length=48)
            mask = enc["attention_mask"].unsqueeze(-1).float()
            out.append(((model(**enc).last_hidden_state * mask).sum(1) / mask.sum(1)).numpy())
    vectors = np.concatenate(out)
    vectors -= vectors.mean(0)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


FROZEN_VARIANTS = ("text", "title+category", "towers over title+category", "towers + category levels")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lm", action="store_true", help="add the SmolLM2 hidden-state variant (slow on CPU)")
    parser.add_argument("--tuned", help="a run directory with a tuned text encoder: add the tuned-vector variants")
    parser.add_argument("--only-tuned", action="store_true", help="with --tuned: skip the frozen-vector variants")
    parser.add_argument("--variants", nargs="+", choices=FROZEN_VARIANTS, default=list(FROZEN_VARIANTS),
                        help="which frozen-vector variants to train (default: all)")
    parser.add_argument("--out", default="runs/results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset(args.data)
    split = temporal_split(dataset, 0.1, 0.2)
    encode, tag = load_sentence_encoder(TextConfig())  # once: the text vectors' cache key uses the same tag
    text = text_vectors(dataset.catalog, TextConfig(), encoder=encode, encoder_name=tag).normalized()
    positions = {item: k for k, item in enumerate(text.ids)}
    items = dataset.catalog.items.set_index("item_id")
    titles = encode([str(items.at[i, "title"] or "") for i in text.ids])
    paths = [" > ".join(list(items.at[i, "category"])[1:]) or " ".join(items.at[i, "category"]) for i in text.ids]
    unique = sorted(set(paths))
    row_of = {path: r for r, path in enumerate(unique)}
    path_vectors = encode(unique)[[row_of[p] for p in paths]]

    draws = [list_rows(split, "train", positions, seed=k) for k in range(4)]
    valid, test = list_rows(split, "valid", positions), list_rows(split, "test", positions)
    X = torch.tensor(text.vectors)
    rows = []
    with torch.no_grad():
        rows.append({"variant": "text cosine", "valid": hit_rate((X[valid[0]].unsqueeze(1) * X[valid[1]]).sum(-1)),
                     "test": hit_rate((X[test[0]].unsqueeze(1) * X[test[1]]).sum(-1))})
    shipped = fit_complement_scorer(text, split, ComplementConfig(max_epochs=args.epochs))
    best = max(shipped.history, key=lambda r: r.get("valid_hr@5", -1))
    with torch.no_grad():
        words = torch.from_numpy(shipped.word_rows)
        test_scores = shipped.net(X[test[0]], X[test[1]], words[test[0]], words[test[1]])
    rows.append({"variant": "shipped scorer (MLP + word model)", "valid": best["valid_hr@5"],
                 "test": hit_rate(test_scores), "epoch": best["epoch"]})
    print(rows[0], rows[1], flush=True)
    title_category = torch.tensor(np.concatenate([titles, path_vectors], 1))
    levels = category_levels([list(items.at[i, "category"]) for i in text.ids])
    frozen = {"text": (X, PairScorer), "title+category": (title_category, PairScorer),
              "towers over title+category": (title_category, DirectedTowers),
              "towers + category levels": (title_category, lambda f, t: DirectedTowers(f, t, levels))}
    variants = {} if args.only_tuned else {name: frozen[name] for name in args.variants}
    cosine_of = {}
    if args.tuned:
        tuned = ItemVectors.load(Run(args.tuned).tuned_text).normalized()
        T = torch.tensor(tuned.lookup(text.ids), dtype=torch.float32)
        with torch.no_grad():
            rows.append({"variant": "tuned cosine", "valid": hit_rate((T[valid[0]].unsqueeze(1) * T[valid[1]]).sum(-1)),
                         "test": hit_rate((T[test[0]].unsqueeze(1) * T[test[1]]).sum(-1))})
        print(rows[-1], flush=True)
        variants.update({"tuned": (T, PairScorer), "text+tuned": (torch.cat([X, T], 1), PairScorer)})
        cosine_of = {"tuned": T, "text+tuned": T}
    if args.lm:
        ids, texts = catalog_texts(dataset.catalog, TextConfig())
        assert list(ids) == list(text.ids)
        variants["text+lm"] = (torch.cat([X, torch.tensor(lm_vectors(texts), dtype=torch.float32)], 1), PairScorer)
    refit_draws = [(torch.cat([q, vq]), torch.cat([c, vc])) for (q, c), (vq, vc) in
                   zip(draws, [list_rows(split, "valid", positions, seed=10 + k) for k in range(4)])]
    for name, (features, make_model) in variants.items():
        v, t, epoch, seconds = train_variant(features, cosine_of.get(name, X), draws, valid, test, args.epochs,
                                             make_model=make_model)
        label = name if name.startswith("towers") else f"pair MLP over {name}"
        rows.append({"variant": label, "valid": v, "test": t, "epoch": epoch, "seconds": seconds})
        print(rows[-1], flush=True)
        if name == "text":
            _, t, epoch, seconds = train_variant(X, X, refit_draws, valid, test, args.epochs, fixed_epochs=epoch)
            rows.append({"variant": "pair MLP over text, refit on train+valid", "valid": None, "test": t,
                         "epoch": epoch, "seconds": seconds})
            print(rows[-1], flush=True)

    base = rows[0]["test"]
    lines = [(f"Complement-scorer inputs on {dataset.name} (HR@5, 1 + 20 honest lists; valid: {len(valid[0])} lists, "
              f"test: {len(test[0])}; epoch chosen on valid)"), "",
             "| variant | valid HR@5 | test HR@5 | test ÷ text cosine |", "|---|---|---|---|"]
    for r in rows:
        valid_cell = "– (fitted on it)" if r["valid"] is None else f"{r['valid']:.3f}"
        lines.append(f"| {r['variant']} | {valid_cell} | {r['test']:.3f} | {r['test'] / base:.2f}× |")
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"complement_inputs-{dataset.name}{'-tuned' if args.tuned else ''}"
    (out / f"{name}.md").write_text(table + "\n")
    (out / f"{name}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
