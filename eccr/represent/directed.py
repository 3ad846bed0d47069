"""Directed complement embeddings: a source vector s(i) and a target vector t(j) per item, computed from features.

score(A→B) = s(A)·t(B) ≠ score(B→A). Dual source/target embeddings for the asymmetric related-product relation
(phone → case, not case → phone) follow BLADE (Virinchi et al., 'BLADE: Biased neighborhood sampling based graph
neural network for directed graphs', WSDM 2023; see ../shared/papers/directed-graphs-delayed-feedback-uncertainty).
Because most test-period items are cold (never bought in training), s and t are *functions of item features*:
two MLP towers f_s, f_t over [frozen text embedding ; mean of learned category-path-prefix embeddings ; brand
embedding]. Items with training evidence may add a free residual, gated by degree/(degree + shrink), so low-degree
items mostly borrow from their features (BLADE's point that low-degree nodes need more help from neighbours);
residuals are dropped at random during training (DropoutNet, Volkovs et al. 2017) so the towers alone must work.

Training evidence (train part only), aggregated per ordered pair into (evidence weight, direction label d):
- bundle pairs and same-session co-purchases: the data give no order, so the direction label comes from an
  "accessory-ness" heuristic on features: d(A→B) = sigmoid(sharpness · (acc(B) − acc(A))), where acc(i) ∈ [0,1]
  is 0.5 if the title says "for X" / "compatible with" / "replacement" and 0.5 if the category path names an
  accessory kind (cases, cables, batteries, chargers, mounts, …). Accessories are targets of main items. No price
  is used (the bundle data have none).
- "bought A in an earlier session, B later" within one user's history: d = 1 (time gives the direction).
- explicit pairs (also_bought, bought_after, …): d = 1, as given.

Loss per positive (A, B): a sampled softmax of t(B) against random items AND substitutes of A (same category
path; optionally nearest titles, off by default because on the bundle data they are often complements), so the towers learn camera→battery rather than camera→camera; weighted by evidence ×
max(d / max(d, 1−d), reverse_floor). Plus a Bradley-Terry direction term: BCE(σ((s(A)·t(B) − s(B)·t(A))/τ), d)
for pairs whose label is informative (|d − ½| ≥ 0.1).
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from eccr.config import config_from_dict
from eccr.data.schema import Catalog, Dataset
from eccr.represent.config import DirectedConfig
from eccr.represent.vectors import ItemVectors

_TITLE_ACCESSORY = re.compile(r"\b(for|compatible|replacement|fits|designed for)\b", re.IGNORECASE)
_CATEGORY_ACCESSORY = re.compile(
    r"accessor|cable|case|cover|batter|charger|adapter|protector|mount|bag|strap|skin|stand|tripod|filter|hood|"
    r"clean|stylus|sleeve|holster|dock|cradle|supplies|replacement|warrant|protection plan|ink|toner|memory card|"
    r"sd &|micro sd|remote control|power suppl",
    re.IGNORECASE)


def accessory_score(title: str, category: list[str]) -> float:
    """0..1: 0.5 for an accessory-like title ("… for iPhone 5"), 0.5 for an accessory-kind category path."""
    title_hit = bool(_TITLE_ACCESSORY.search(title or ""))
    category_hit = bool(_CATEGORY_ACCESSORY.search(" > ".join(category[1:]) if category else ""))
    return 0.5 * title_hit + 0.5 * category_hit


def category_tokens(category: list[str]) -> list[str]:
    """One token per path prefix: ['Electronics', 'Electronics>Camera & Photo', …], so the leaf is specific."""
    return [">".join(category[:k]) for k in range(1, len(category) + 1)]


@dataclass
class ItemFeatures:
    """Per-item inputs of the towers, rows aligned with `ids`."""

    ids: list[str]
    text: np.ndarray            # (n, d_text) float32, L2-normalised
    categories: np.ndarray      # (n, max_levels) int64 token ids, 0 = padding
    brands: np.ndarray          # (n,) int64 brand ids, 0 = none
    accessory: np.ndarray       # (n,) float32 accessory-ness heuristic
    paths: list[str]            # full category path per item ("" if none), the substitute groups


@dataclass
class FeatureVocab:
    category_tokens: list[str]  # index 0 is padding
    brands: list[str]           # index 0 is "no brand"

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> FeatureVocab:
        tokens = sorted({t for c in catalog.items["category"] for t in category_tokens(c)})
        brands = sorted({b.strip().lower() for b in catalog.items["brand"] if b.strip()})
        return cls(["<pad>"] + tokens, ["<none>"] + brands)


def item_features(catalog: Catalog, text: ItemVectors, vocab: FeatureVocab) -> ItemFeatures:
    """Features for every item that has a text vector (items without any text cannot be described)."""
    pos = catalog.position(text.ids)
    if (pos < 0).any():
        raise ValueError(f"text vector for item {text.ids[int(np.argmax(pos < 0))]!r} not in the catalogue")
    rows = catalog.items.iloc[pos]
    token_index = {t: i for i, t in enumerate(vocab.category_tokens)}
    brand_index = {b: i for i, b in enumerate(vocab.brands)}
    cats = [[token_index[t] for t in category_tokens(c) if t in token_index] for c in rows["category"]]
    width = max([len(c) for c in cats] + [1])
    categories = np.zeros((len(cats), width), dtype=np.int64)
    for r, c in enumerate(cats):
        categories[r, :len(c)] = c
    brands = np.array([brand_index.get(b.strip().lower(), 0) for b in rows["brand"]], dtype=np.int64)
    accessory = np.array([accessory_score(t, c) for t, c in zip(rows["title"], rows["category"])], dtype=np.float32)
    paths = [" > ".join(c) for c in rows["category"]]
    return ItemFeatures(list(text.ids), text.vectors.astype(np.float32), categories, brands, accessory, paths)


# ---------------------------------------------------------------- evidence

def _unordered_pairs(groups: pd.Series) -> pd.DataFrame:
    """All ordered (a, b), a ≠ b, within each group (a list of item ids)."""
    src, tgt = [], []
    for items in groups:
        items = list(dict.fromkeys(items))
        for a in items:
            for b in items:
                if a != b:
                    src.append(a)
                    tgt.append(b)
    return pd.DataFrame({"source": src, "target": tgt})


def _sequential_pairs(train: Dataset, gap: int) -> pd.DataFrame:
    """(a, b) where a user bought a in a session and b in one of the next `gap` sessions (strictly later)."""
    ev = train.behaviour.events
    ev = ev[ev["timestamp"] >= 0]
    sessions = ev.groupby(["user_id", "session_id"], sort=False)["timestamp"].max().reset_index()
    repeat_users = sessions["user_id"].value_counts()
    sessions = sessions[sessions["user_id"].isin(repeat_users.index[repeat_users >= 2])]
    items = ev[ev["session_id"].isin(sessions["session_id"])].groupby("session_id")["item_id"].agg(list)
    src, tgt = [], []
    for _, user_sessions in sessions.sort_values("timestamp", kind="stable").groupby("user_id", sort=False):
        ids, times = list(user_sessions["session_id"]), user_sessions["timestamp"].to_numpy()
        for k in range(len(ids)):
            for later in range(k + 1, min(k + 1 + gap, len(ids))):
                if times[later] > times[k]:
                    for a in items[ids[k]]:
                        for b in items[ids[later]]:
                            if a != b:
                                src.append(a)
                                tgt.append(b)
    return pd.DataFrame({"source": src, "target": tgt})


def complement_evidence(train: Dataset, features: ItemFeatures, config: DirectedConfig) -> pd.DataFrame:
    """Directed training pairs: columns source, target, evidence (weight), direction (label d in [0, 1]).

    Only pairs whose two items have features are kept. See the module docstring for the direction rule.
    """
    known = set(features.ids)
    accessory = dict(zip(features.ids, features.accessory))
    frames = []

    def add(pairs: pd.DataFrame, weight: float, direction: str) -> None:
        pairs = pairs[pairs["source"].isin(known) & pairs["target"].isin(known)]
        if len(pairs) == 0 or weight <= 0:
            return
        if direction == "heuristic":
            diff = pairs["target"].map(accessory).to_numpy() - pairs["source"].map(accessory).to_numpy()
            d = 1.0 / (1.0 + np.exp(-config.direction_sharpness * diff))
        else:
            d = np.ones(len(pairs))
        frames.append(pd.DataFrame({"source": pairs["source"].to_numpy(), "target": pairs["target"].to_numpy(),
                                    "evidence": weight, "direction": d}))

    bundles = train.bundles.rows
    bundle_pairs = _unordered_pairs(bundles.groupby("bundle_id")["item_id"].agg(list)) if len(bundles) else \
        pd.DataFrame({"source": [], "target": []})
    add(bundle_pairs, 1.0, "heuristic")
    if len(train.behaviour):
        session_pairs = _unordered_pairs(train.behaviour.sessions())
        in_bundle = set(zip(bundle_pairs["source"], bundle_pairs["target"]))
        session_pairs = session_pairs[[p not in in_bundle for p in zip(session_pairs["source"],
                                                                        session_pairs["target"])]]
        add(session_pairs, config.copurchase_weight, "heuristic")
        add(_sequential_pairs(train, config.sequential_gap), config.sequential_weight, "given")
    if len(train.pairs.rows):
        add(train.pairs.rows[["source", "target"]], config.explicit_weight, "given")
    if not frames:
        raise ValueError(f"{train.name}: no complement evidence (bundles, sessions or pairs) between items "
                         "that have features")
    table = pd.concat(frames, ignore_index=True)
    table["weighted"] = table["evidence"] * table["direction"]
    out = table.groupby(["source", "target"], sort=True).agg(evidence=("evidence", "sum"),
                                                             weighted=("weighted", "sum")).reset_index()
    out["direction"] = out["weighted"] / out["evidence"]
    return out.drop(columns="weighted")


# ---------------------------------------------------------------- model

class DirectedTowers(nn.Module):
    """f_s, f_t: [text ; mean category-prefix embedding ; brand embedding] → MLP → dim, plus gated residuals."""

    def __init__(self, text_dim: int, n_category_tokens: int, n_brands: int, n_items: int,
                 config: DirectedConfig):
        super().__init__()
        self.category = nn.Embedding(n_category_tokens, config.category_dim, padding_idx=0)
        self.brand = nn.Embedding(n_brands, config.brand_dim, padding_idx=0)
        self.dropout = nn.Dropout(config.input_dropout)
        width = text_dim + config.category_dim + config.brand_dim

        def tower() -> nn.Sequential:
            return nn.Sequential(nn.Linear(width, config.hidden), nn.GELU(), nn.Linear(config.hidden, config.dim))

        self.source_tower, self.target_tower = tower(), tower()
        self.source_residual = nn.Embedding(n_items, config.dim)
        self.target_residual = nn.Embedding(n_items, config.dim)
        nn.init.zeros_(self.source_residual.weight)
        nn.init.zeros_(self.target_residual.weight)
        # β, the weight of text cosine inside s·t; learned (log-parametrised), 0 switches the prior off
        self.log_text_prior = nn.Parameter(torch.tensor(float(np.log(max(config.text_prior, 1e-6)))),
                                           requires_grad=config.text_prior > 0)

    def inputs(self, text: torch.Tensor, categories: torch.Tensor, brands: torch.Tensor) -> torch.Tensor:
        mask = (categories > 0).float().unsqueeze(-1)
        cat = (self.category(categories) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return torch.cat([self.dropout(text), cat, self.brand(brands)], dim=-1)

    def forward(self, x: torch.Tensor, text: torch.Tensor, rows: torch.Tensor | None, gate: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(s, t) = ([√β·text ; ŝ], [√β·text ; t̂]) with ŝ, t̂ L2-normalised tower outputs (+ gated residuals), so
        s(A)·t(B) = β·cos_text(A, B) + ŝ(A)·t̂(B): text similarity is the prior, the towers learn the directed
        complement correction, and the score stays one dot product (FAISS inner-product search)."""
        s, t = self.source_tower(x), self.target_tower(x)
        if rows is not None:
            s = s + gate.unsqueeze(-1) * self.source_residual(rows)
            t = t + gate.unsqueeze(-1) * self.target_residual(rows)
        prior = self.log_text_prior.exp().sqrt() * text
        return (torch.cat([prior, F.normalize(s, dim=-1)], dim=-1),
                torch.cat([prior, F.normalize(t, dim=-1)], dim=-1))


def substitute_pool(features: ItemFeatures, size: int, text_share: float, seed: int,
                    chunk: int = 1024) -> np.ndarray:
    """(n, size) item rows per item: items of the same category path, then (up to `text_share` of the pool, or
    when the path has too few items) the nearest other titles. Nearest titles are often complements from the
    same product line ("Canon EOS" → "battery for Canon EOS"), which is why text_share defaults to 0."""
    rng = np.random.default_rng(seed)
    n = len(features.ids)
    pool = np.empty((n, size), dtype=np.int64)
    by_path: dict[str, list[int]] = {}
    for r, p in enumerate(features.paths):
        if p:
            by_path.setdefault(p, []).append(r)
    same_quota = size - round(text_share * size)
    for start in range(0, n, chunk):
        sims = features.text[start:start + chunk] @ features.text.T
        sims[np.arange(sims.shape[0]), np.arange(start, start + sims.shape[0])] = -np.inf
        nearest = np.argsort(-sims, axis=1)[:, :size]
        for local, row in enumerate(range(start, start + sims.shape[0])):
            same = [r for r in by_path.get(features.paths[row], []) if r != row]
            same = [int(r) for r in rng.permutation(same)[:same_quota]] if same else []
            if same:  # cycle the same-path items to fill their quota
                same = (same * (same_quota // len(same) + 1))[:same_quota]
            taken = set(same)
            rest = [int(r) for r in nearest[local] if r not in taken][:size - len(same)]
            pool[row] = (same + rest + [row] * size)[:size]
    return pool


class DirectedModel:
    """Fitted towers plus the vocab and residuals needed to embed any item from its features."""

    def __init__(self, towers: DirectedTowers, vocab: FeatureVocab, config: DirectedConfig,
                 degree: dict[str, float], history: list[dict] | None = None):
        self.towers, self.vocab, self.config, self.degree = towers, vocab, config, degree
        self.history = history or []
        self.item_rows: dict[str, int] = {}  # item id -> residual row (items seen in training)

    def embed(self, features: ItemFeatures) -> tuple[ItemVectors, ItemVectors]:
        """(source, target) ItemVectors for the given items; residuals only for items with training evidence."""
        self.towers.eval()
        with torch.no_grad():
            x = self.towers.inputs(torch.from_numpy(features.text), torch.from_numpy(features.categories),
                                   torch.from_numpy(features.brands))
            rows = torch.tensor([self.item_rows.get(i, 0) for i in features.ids], dtype=torch.long)
            gate = torch.tensor([self._gate(i) for i in features.ids], dtype=torch.float32)
            s, t = self.towers(x, torch.from_numpy(features.text), rows if self.config.residual else None, gate)
        meta = {"model": "directed", "dim": self.config.dim,
                "cold_share": round(float(np.mean([self.degree.get(i, 0) == 0 for i in features.ids])), 4)}
        return (ItemVectors(features.ids, s.numpy(), {**meta, "kind": "directed_source"}),
                ItemVectors(features.ids, t.numpy(), {**meta, "kind": "directed_target"}))

    def _gate(self, item_id: str) -> float:
        degree = self.degree.get(item_id, 0.0)
        return degree / (degree + self.config.residual_shrink) if item_id in self.item_rows else 0.0

    def save(self, folder: str | Path) -> None:
        """folder/directed.safetensors (weights) + folder/directed.json (config, vocab, degrees, residual rows)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.towers.state_dict().items()}, str(folder / "directed.safetensors"))
        (folder / "directed.json").write_text(json.dumps({
            "config": asdict(self.config), "category_tokens": self.vocab.category_tokens, "brands": self.vocab.brands,
            "degree": self.degree, "item_rows": self.item_rows, "history": self.history,
            "text_dim": int(self.towers.source_tower[0].in_features - self.config.category_dim
                            - self.config.brand_dim)}))

    @classmethod
    def load(cls, folder: str | Path) -> DirectedModel:
        from safetensors.torch import load_file

        folder = Path(folder)
        info = json.loads((folder / "directed.json").read_text())
        config = config_from_dict(DirectedConfig, info["config"])
        vocab = FeatureVocab(info["category_tokens"], info["brands"])
        state = load_file(str(folder / "directed.safetensors"))
        towers = DirectedTowers(info["text_dim"], len(vocab.category_tokens), len(vocab.brands),
                                state["source_residual.weight"].shape[0], config)
        towers.load_state_dict(state)
        model = cls(towers, vocab, config, {k: float(v) for k, v in info["degree"].items()}, info["history"])
        model.item_rows = {k: int(v) for k, v in info["item_rows"].items()}
        return model


# ---------------------------------------------------------------- training

def hit_rate_at_k(source: ItemVectors, target: ItemVectors, queries: pd.DataFrame, k: int = 10) -> float:
    """Share of queries with a positive among the top-k targets by s(query)·t(candidate), query excluded."""
    qpos = source.position(queries["query"])
    keep = qpos >= 0
    if not keep.any():
        return float("nan")
    scores = source.vectors[qpos[keep]] @ target.vectors.T
    tpos = target.position(queries.loc[keep, "query"])
    scores[np.arange(len(scores))[tpos >= 0], tpos[tpos >= 0]] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :k]
    hits = [bool(set(np.asarray(target.ids)[row]) & set(pos)) for row, pos in zip(top, queries.loc[keep, "positives"])]
    return float(np.mean(hits))


def _seed_everything(seed: int) -> np.random.Generator:
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def fit_directed(train: Dataset, text: ItemVectors, config: DirectedConfig | None = None,
                 valid_queries: pd.DataFrame | None = None) -> DirectedModel:
    """Train the towers on the train part's complement evidence (see module docstring).

    `valid_queries` (columns query, positives; e.g. heldout_queries(split.valid)) enables early stopping on
    HR@10 with `patience`; the best epoch's weights are kept. Never pass test queries here.
    """
    config = config or DirectedConfig()
    torch.set_num_threads(config.threads)
    rng = _seed_everything(config.seed)
    vocab = FeatureVocab.from_catalog(train.catalog)
    features = item_features(train.catalog, text, vocab)
    evidence = complement_evidence(train, features, config)
    n = len(features.ids)
    row_of = {item: r for r, item in enumerate(features.ids)}
    src = evidence["source"].map(row_of).to_numpy(np.int64)
    tgt = evidence["target"].map(row_of).to_numpy(np.int64)
    d = evidence["direction"].to_numpy(np.float32)
    weight = (evidence["evidence"].to_numpy(np.float32)
              * np.maximum(d / np.maximum(d, 1 - d), config.reverse_floor)).astype(np.float32)
    positive_codes = np.unique(src * n + tgt)
    degree_rows = np.bincount(np.concatenate([src, tgt]), minlength=n).astype(np.float32)
    degree = {features.ids[r]: float(degree_rows[r]) for r in np.flatnonzero(degree_rows)}
    pool = substitute_pool(features, config.substitute_pool, config.substitute_text_share, config.seed)

    towers = DirectedTowers(text.dim, len(vocab.category_tokens), len(vocab.brands), n, config)
    model = DirectedModel(towers, vocab, config, degree)
    model.item_rows = {item: r for item, r in row_of.items() if degree_rows[r] > 0}
    optimiser = torch.optim.AdamW(towers.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    text_t, cats_t, brands_t = (torch.from_numpy(features.text), torch.from_numpy(features.categories),
                                torch.from_numpy(features.brands))
    gate_all = torch.from_numpy(degree_rows / (degree_rows + config.residual_shrink))
    informative = np.abs(d - 0.5) >= 0.1

    def tower_outputs(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        r = torch.from_numpy(rows)
        x = towers.inputs(text_t[r], cats_t[r], brands_t[r])
        # DropoutNet (Volkovs et al., NeurIPS 2017): hide residuals at random so the towers alone must score
        # warm items too, which is the situation of every cold item at test time
        keep = torch.from_numpy((rng.random(len(rows)) >= config.residual_dropout).astype(np.float32))
        return towers(x, text_t[r], r if config.residual else None, gate_all[r] * keep)

    best, best_state, stale, start = -1.0, None, 0, time.perf_counter()
    for epoch in range(config.epochs):
        towers.train()
        order = rng.permutation(len(src))
        total = 0.0
        for b in range(0, len(order), config.batch_size):
            idx = order[b:b + config.batch_size]
            bs, bt = src[idx], tgt[idx]
            negatives = np.concatenate([
                rng.integers(0, n, size=(len(idx), config.random_negatives)),
                pool[bs[:, None], rng.integers(0, pool.shape[1], size=(len(idx), config.substitute_negatives))],
            ], axis=1)
            candidates = np.concatenate([bt[:, None], negatives], axis=1)
            rows = np.unique(np.concatenate([bs, candidates.ravel()]))
            s_all, t_all = tower_outputs(rows)
            local = {r: i for i, r in enumerate(rows)}
            li = np.vectorize(local.__getitem__)
            s_src = s_all[torch.from_numpy(li(bs))]
            t_cand = t_all[torch.from_numpy(li(candidates))]
            logits = torch.einsum("bd,bcd->bc", s_src, t_cand) / config.temperature
            is_positive = np.isin(bs[:, None] * n + negatives, positive_codes) | (negatives == bs[:, None])
            mask = torch.from_numpy(np.concatenate([np.zeros((len(idx), 1), bool), is_positive], axis=1))
            logits = logits.masked_fill(mask, -1e9)
            ce = F.cross_entropy(logits, torch.zeros(len(idx), dtype=torch.long), reduction="none")
            loss = (ce * torch.from_numpy(weight[idx])).sum() / max(float(weight[idx].sum()), 1e-6)
            inf = informative[idx]
            if config.direction_weight > 0 and inf.any():
                a, c = li(bs[inf]), li(bt[inf])
                forward = (s_all[torch.from_numpy(a)] * t_all[torch.from_numpy(c)]).sum(-1)
                backward = (s_all[torch.from_numpy(c)] * t_all[torch.from_numpy(a)]).sum(-1)
                loss = loss + config.direction_weight * F.binary_cross_entropy_with_logits(
                    (forward - backward) / config.temperature, torch.from_numpy(d[idx][inf]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        record = {"epoch": epoch + 1, "loss": round(total / len(order), 4),
                  "seconds": round(time.perf_counter() - start, 2)}
        if valid_queries is not None and len(valid_queries):
            record["valid_hr@10"] = round(hit_rate_at_k(*model.embed(features), valid_queries), 4)
            if record["valid_hr@10"] > best:
                best, stale = record["valid_hr@10"], 0
                best_state = {k: v.detach().clone() for k, v in towers.state_dict().items()}
            else:
                stale += 1
        model.history.append(record)
        if (valid_queries is not None and stale >= config.patience) or \
                time.perf_counter() - start > config.max_seconds:
            break
    if best_state is not None:
        towers.load_state_dict(best_state)
    towers.eval()
    return model


def directed_vectors(model: DirectedModel, catalog: Catalog, text: ItemVectors) -> tuple[ItemVectors, ItemVectors]:
    """(source, target) vectors for every item with text, cold or not: retrieval indexes the targets."""
    return model.embed(item_features(catalog, text, model.vocab))
