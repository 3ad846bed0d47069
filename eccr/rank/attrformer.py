"""AttrFormer: attributes as explicit relations in a Transformer sequential recommender, and its SASRec ablation.

Liu, Yang, Jiao, Bagheri Garakani, Tong, Gao & Jiang, "Learning attribute as explicit relation for sequential
recommendation" (2025). We have the abstract only (../shared/papers/attrformer.txt) and no public code; every
equation below is our reading of it, kept small. The paper's four ideas, and how each appears here:

1. Each attribute type r (brand, leaf category, co-purchase) is an explicit relation with its own
   *relation-augmented head*: head r may attend from position t only to the positions s <= t that stand in
   relation r to t (same brand, same leaf, bought together in the train part), so its attention, and the
   gradient reaching its Q/K/V, comes from that source alone -- sources do not mix:
       a^r_{ts} = softmax_{s in R_r(t) ∪ {node_r(t)}} ( q^r(h_t)^T k^r(h_s) / sqrt(d_h) )
       head^r_t = sum_s a^r_{ts} v^r(h_s)
   The plain heads (causal self-attention, SASRec) sit beside them in the same multi-head layer.
2. Intra- and cross-sequence relations: R_r(t) holds the related positions of the same sequence (intra); node_r(t)
   is one extra key/value per position that reaches outside the sequence (cross): a learned embedding of t's
   brand / leaf (shared by every sequence holding that value) and, for co-purchase, the mean vector of the items
   others bought with x_t in the train part. (User attributes would be a fourth relation; our data has none.)
3. Position-to-position aggregation: after the layers, the state at position t is refined with the states of
   the most similar other users *at the same position* (sequences are right-aligned, so t counts back from the
   latest item):  h'_t = h_t + g * sum_{k in top-n} softmax_k(cos(h_t, h^k_t)/tau) h^k_t.  In training the other
   users are the batch; at inference a bank of final states of training sequences (`bank`, built after training).
4. Posterior target: the next `window` behaviours after t are counts c over the candidate set (the batch's
   positives plus negatives from P_gamma), treated as a multinomial with a Dirichlet(alpha * pi) prior (pi: the
   popularity prior P_gamma over the candidates); the target is the posterior mean
       p_t = (c_t + alpha * pi) / (|c_t| + alpha)
   and the loss the cross-entropy  -sum_c p_t(c) log softmax(s_t)(c)  over every position with a future.

Inputs are the run's frozen fused item vectors (like attention CF), projected to `hidden` (no item-ID table, so
cold items score from their text vector); the score of candidate c after memory x_1..x_t is h'_t^T W_out x_c.
`relations=()` is the SASRec-style ablation (Kang & McAuley 2018): the same model with plain heads only, no
cross-sequence nodes and no aggregation across users.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from eccr.data.sampling import AliasSampler
from eccr.rank.attention_cf import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    AttentionCF,
    AttentionCFScorer,
    masked_softmax,
    save_module,
)
from eccr.rank.base import Scores
from eccr.rank.checkpoint import (
    TrainState,
    has_checkpoint,
    load_checkpoint,
    read_checkpoint_info,
    save_best,
    save_checkpoint,
)
from eccr.rank.config import AttrFormerConfig, RankerConfig
from eccr.rank.lookup import UnknownVectorFn, VectorLookup
from eccr.represent.vectors import ItemVectors

RELATIONS = ("brand", "category", "copurchase")
# inside a training checkpoint (eccr.rank.checkpoint): the best weights so far; best/ is the trained model (its bank
# included, and the latest weights when they beat the best at the last assessment)
BEST_SO_FAR = "best_so_far"


# ---------------------------------------------------------------- item attributes as relation tables
def item_attributes(item_ids: Sequence[str], brands: dict[str, str], leaves: dict[str, str],
                    baskets: Sequence[Sequence[str]], neighbours: int) -> dict[str, np.ndarray]:
    """Per row of the item vectors: brand id, leaf id (-1 unknown) and the `neighbours` items most often bought
    with it in `baskets` (rows, -1 padded): the tables the relation heads read."""
    row = {i: r for r, i in enumerate(item_ids)}

    def codes(values: dict[str, str]) -> np.ndarray:
        vocab: dict[str, int] = {}
        return np.array([vocab.setdefault(values[i], len(vocab)) if values.get(i) else -1 for i in item_ids],
                        dtype=np.int64)

    pairs: dict[tuple[int, int], int] = {}
    for basket in baskets:
        rows = sorted({row[i] for i in basket if i in row})
        for a in rows:
            for b in rows:
                if a != b:
                    pairs[(a, b)] = pairs.get((a, b), 0) + 1
    table = np.full((len(item_ids), max(neighbours, 1)), -1, dtype=np.int64)
    by_item: dict[int, list[tuple[int, int]]] = {}
    for (a, b), n in pairs.items():
        by_item.setdefault(a, []).append((-n, b))
    for a, found in by_item.items():
        top = [b for _, b in sorted(found)[:neighbours]]
        table[a, :len(top)] = top
    return {"brand": codes(brands), "category": codes(leaves), "neighbours": table}


# ---------------------------------------------------------------- the model
class AttrFormer(nn.Module):
    """Relation-augmented Transformer over a user's items (Liu et al. 2025); `relations=()` is SASRec-style."""

    model_type = "attrformer"

    def __init__(self, input_dim: int, n_items: int, n_brands: int, n_categories: int, hidden: int = 64,
                 layers: int = 2, heads: int = 2, max_len: int = 50, relations: Sequence[str] = RELATIONS,
                 neighbours: int = 10, similar_users: int = 8, dropout: float = 0.1):
        super().__init__()
        unknown = set(relations) - set(RELATIONS)
        if unknown or hidden < heads + len(relations):
            raise ValueError(f"relations must be among {RELATIONS} and hidden >= the head count; got "
                             f"{tuple(relations)}, hidden {hidden}, {heads}+{len(relations)} heads")
        self.input_dim, self.n_items, self.n_brands, self.n_categories = input_dim, n_items, n_brands, n_categories
        self.hidden, self.layers, self.heads, self.max_len = hidden, layers, heads, max_len
        self.relations, self.neighbours, self.similar_users, self.dropout = tuple(relations), neighbours, \
            similar_users, dropout
        n_heads = heads + len(self.relations)
        self.head_dim = hidden // n_heads                           # inner width n_heads * head_dim <= hidden
        self.embed = nn.Linear(input_dim, hidden)                   # x -> e
        self.position = nn.Embedding(max_len, hidden)               # counted back from the latest item
        inner = n_heads * self.head_dim
        self.qkv = nn.ModuleList(nn.Linear(hidden, 3 * inner) for _ in range(layers))  # every head's q, k, v
        self.out = nn.ModuleList(nn.Linear(inner, hidden) for _ in range(layers))
        self.ffn = nn.ModuleList(nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(),
                                               nn.Linear(2 * hidden, hidden))
                                 for _ in range(layers))
        self.norm1 = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.norm2 = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.drop = nn.Dropout(dropout)
        # cross-sequence nodes: one learned vector per brand / leaf value, the co-bought items' mean vector
        self.brand_node = nn.Embedding(n_brands + 1, hidden)        # last row: unknown (masked)
        self.category_node = nn.Embedding(n_categories + 1, hidden)
        self.copurchase_node = nn.Linear(input_dim, hidden)
        self.node_kv = nn.ModuleList(nn.Linear(hidden, 2 * self.head_dim)    # layer l, relation r: l * R + r
                                     for _ in range(layers * len(self.relations)))
        self.gate = nn.Parameter(torch.zeros(()))                   # g of the position-to-position aggregation
        self.output = nn.Linear(input_dim, hidden, bias=False)      # W_out over candidate vectors
        self.register_buffer("item_brand", torch.full((n_items,), -1, dtype=torch.long))
        self.register_buffer("item_category", torch.full((n_items,), -1, dtype=torch.long))
        self.register_buffer("item_neighbours", torch.full((n_items, max(neighbours, 1)), -1, dtype=torch.long))
        self.register_buffer("bank", torch.zeros(0, hidden))       # final states of training users (inference)
        self.register_buffer("item_vectors", torch.zeros(n_items, input_dim), persistent=False)

    @property
    def model_kind(self) -> str:
        return "attrformer" if self.relations else "sasrec"

    def config(self) -> dict:
        return {"model_type": self.model_type, "input_dim": self.input_dim, "n_items": self.n_items,
                "n_brands": self.n_brands, "n_categories": self.n_categories, "hidden": self.hidden,
                "layers": self.layers, "heads": self.heads, "max_len": self.max_len,
                "relations": list(self.relations), "neighbours": self.neighbours,
                "similar_users": self.similar_users, "dropout": self.dropout}

    def set_tables(self, vectors: np.ndarray, attributes: dict[str, np.ndarray] | None = None) -> None:
        """The frozen item vectors (rows = item rows) and, when given, the relation tables of `item_attributes`."""
        self.item_vectors = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        if attributes is not None:
            self.item_brand = torch.as_tensor(attributes["brand"][:self.n_items])
            self.item_category = torch.as_tensor(attributes["category"][:self.n_items])
            k = self.item_neighbours.shape[1]
            self.item_neighbours = torch.as_tensor(attributes["neighbours"][:self.n_items, :k])

    def _attribute(self, table: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """table[rows], -1 for padding (rows < 0) and for items added after training (rows >= n_items)."""
        inside = (rows >= 0) & (rows < table.shape[0])
        return torch.where(inside, table[rows.clamp(0, table.shape[0] - 1)], -1) if table.dim() == 1 else \
            torch.where(inside[..., None], table[rows.clamp(0, table.shape[0] - 1)], -1)

    def relation_masks(self, rows: torch.Tensor,
                       mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """rows, mask (B, M) -> intra (B, R, M, M): s <= t related to t under r; node ids for brand/leaf (B, M);
        the co-bought items' mean vector per position (B, M, d)."""
        b, m = rows.shape
        causal = torch.tril(torch.ones(m, m, dtype=torch.bool, device=rows.device))
        valid = causal & mask[:, None, :] & mask[:, :, None]
        brand, category = self._attribute(self.item_brand, rows), self._attribute(self.item_category, rows)
        nb = self._attribute(self.item_neighbours, rows)                                  # (B, M, K)
        intra = []
        for r in self.relations:
            if r == "brand":
                rel = (brand[:, :, None] == brand[:, None, :]) & (brand[:, :, None] >= 0)
            elif r == "category":
                rel = (category[:, :, None] == category[:, None, :]) & (category[:, :, None] >= 0)
            else:  # s is among t's co-bought items, or t among s's
                rel = (nb[:, :, None, :] == rows[:, None, :, None]).any(-1) & (rows[:, None, :] >= 0)
                rel = rel | rel.transpose(1, 2)
            intra.append(rel & valid)
        intra_t = torch.stack(intra, 1) if intra else torch.zeros(b, 0, m, m, dtype=torch.bool, device=rows.device)
        known = (nb >= 0).float()
        nb_sum = (self.item_vectors[nb.clamp(min=0)] * known[..., None]).sum(2)
        nb_vec = nb_sum / known.sum(2, keepdim=True).clamp(min=1)
        return intra_t, torch.stack([brand, category], -1), nb_vec

    def encode(self, rows: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """rows (B, M) item rows, right-aligned (latest item last), mask (B, M) True for real items ->
        states (B, M, hidden) and attention of the last position (B, layers, heads + R, M)."""
        b, m = rows.shape
        x = self.item_vectors[rows.clamp(min=0)] * mask[..., None]
        h = self.embed(x) + self.position(torch.arange(m - 1, -1, -1, device=rows.device).clamp(max=self.max_len - 1))
        h = self.drop(h) * mask[..., None]
        intra, attr, nb_vec = self.relation_masks(rows, mask)
        causal = torch.tril(torch.ones(m, m, dtype=torch.bool, device=rows.device))
        plain = (causal & mask[:, None, :])[:, None]                                       # (B, 1, M, M)
        nodes = []                                                    # per relation: node vector and validity
        for r in self.relations:
            if r == "copurchase":
                nodes.append((self.copurchase_node(nb_vec), nb_vec.abs().sum(-1) > 0))
            else:
                ids = attr[..., 0 if r == "brand" else 1]
                table = self.brand_node if r == "brand" else self.category_node
                nodes.append((table(torch.where(ids >= 0, ids, table.num_embeddings - 1)), ids >= 0))
        n_heads, d = self.heads + len(self.relations), self.head_dim
        last_attention = []
        for layer in range(self.layers):
            q, k, v = self.qkv[layer](h).view(b, m, 3, n_heads, d).permute(2, 0, 3, 1, 4)  # (B, H, M, d) each
            scores = q @ k.transpose(-1, -2) / math.sqrt(d)                                # (B, H, M, M)
            allowed = torch.cat([plain.expand(b, self.heads, m, m), intra], 1)
            if self.relations:  # the cross-sequence node: one more key/value per position, relation heads only
                n_rel = len(self.relations)
                kv = torch.stack([self.node_kv[layer * n_rel + r](vec) for r, (vec, _) in enumerate(nodes)], 1)
                node_k, node_v = kv[..., :d], kv[..., d:]                                  # (B, R, M, d) each
                node_ok = torch.stack([ok for _, ok in nodes], 1) & mask[:, None, :]       # (B, R, M)
                q_rel = q[:, self.heads:]
                node_score = (q_rel * node_k).sum(-1, keepdim=True) / math.sqrt(d)        # (B, R, M, 1)
                node_score = torch.cat([torch.zeros_like(scores[:, :self.heads, :, :1]), node_score], 1)
                node_allowed = torch.cat([torch.zeros_like(plain.expand(b, self.heads, m, m)[..., :1]),
                                          node_ok[..., None]], 1)
                weights = masked_softmax(torch.cat([scores, node_score], -1), torch.cat([allowed, node_allowed], -1))
                heads_out = weights[..., :m] @ v
                heads_out[:, self.heads:] += weights[:, self.heads:, :, m:] * node_v
            else:
                weights = masked_softmax(scores, allowed)
                heads_out = weights @ v
            last_attention.append(weights[:, :, -1, :m])
            merged = heads_out.transpose(1, 2).reshape(b, m, n_heads * d)
            h = self.norm1[layer](h + self.drop(self.out[layer](merged)))
            h = self.norm2[layer](h + self.drop(self.ffn[layer](h))) * mask[..., None]
        return h, torch.stack(last_attention, 1)

    def aggregate(self, states: torch.Tensor, mask: torch.Tensor, others: torch.Tensor | None = None,
                  temperature: float = 0.1) -> torch.Tensor:
        """Position-to-position aggregation (idea 3). states (B, M, h). `others` None: the batch's other users
        at the same position; else a bank (N, h) compared with every position."""
        if not self.relations or self.similar_users < 1:
            return states
        unit = F.normalize(states, dim=-1)
        if others is None:
            pos = unit.transpose(0, 1)                                                      # (M, B, h)
            sim = pos @ pos.transpose(1, 2)                                                 # (M, B, B)
            valid = mask.T[:, None, :] & ~torch.eye(states.shape[0], dtype=torch.bool, device=states.device)
            values = states.transpose(0, 1)                                                 # (M, B, h)
        else:
            if not len(others):
                return states
            sim = unit @ F.normalize(others, dim=-1).T                                      # (B, M, N)
            valid = torch.ones_like(sim, dtype=torch.bool)
            values = others
        n = min(self.similar_users, sim.shape[-1])
        sim = sim.masked_fill(~valid, -2.0)
        top, idx = sim.topk(n, dim=-1)
        w = masked_softmax(top / temperature, top > -2.0)
        if others is None:
            picked = torch.gather(values[:, None].expand(-1, values.shape[1], -1, -1), 2,
                                  idx[..., None].expand(-1, -1, -1, values.shape[-1]))      # (M, B, n, h)
            mixed = (w[..., None] * picked).sum(2).transpose(0, 1)                          # (B, M, h)
        else:
            mixed = (w[..., None] * values[idx]).sum(-2)
        return states + torch.tanh(self.gate) * mixed * mask[..., None]

    def forward(self, rows: torch.Tensor, mask: torch.Tensor, candidates: torch.Tensor,
                use_bank: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """rows/mask (B, M), candidates (C, d) shared vectors -> logits (B, M, C) at every position, attention."""
        states, attention = self.encode(rows, mask)
        states = self.aggregate(states, mask, self.bank if use_bank else None)
        return states @ self.output(candidates).T, attention

    # --- persistence: safetensors + config.json; the item vectors come from the run, not the file ---
    def save_pretrained(self, directory: str | Path) -> None:
        save_module(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, item_vectors: ItemVectors) -> AttrFormer:
        directory = Path(directory)
        config = json.loads((directory / CONFIG_FILE).read_text())
        if config.pop("model_type", None) != cls.model_type:
            raise ValueError(f"{directory}: not a saved AttrFormer")
        model = cls(**config)
        weights = load_file(str(directory / WEIGHTS_FILE))
        model.bank = torch.zeros_like(weights["bank"])
        model.load_state_dict(weights)
        model.set_tables(item_vectors.vectors)
        return model.eval()


# ---------------------------------------------------------------- training
def right_aligned(sequences: Sequence[np.ndarray], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows (B, M) with each sequence's latest `max_len` items at the end, -1 padding in front; and the mask."""
    m = max(min(len(s), max_len) for s in sequences)
    rows = np.full((len(sequences), m), -1, dtype=np.int64)
    for i, s in enumerate(sequences):
        s = s[-max_len:]
        rows[i, m - len(s):] = s
    rows_t = torch.from_numpy(rows)
    return rows_t, rows_t >= 0


def posterior_targets(rows: torch.Tensor, candidates: torch.Tensor, prior: torch.Tensor, window: int,
                      alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, M, C) posterior means p_t = (c_t + alpha pi) / (|c_t| + alpha) over the candidate rows (every item of
    `rows` must be among them), and the (B, M) mask of positions with at least one next behaviour (idea 4)."""
    b, m = rows.shape
    column = torch.full((int(max(rows.max(), candidates.max())) + 1,), -1, dtype=torch.long)
    column[candidates] = torch.arange(len(candidates))
    cols = torch.where(rows >= 0, column[rows.clamp(min=0)], -1)                         # (B, M) candidate column
    counts = torch.zeros(b, m, len(candidates) + 1)                                      # last column: padding
    for shift in range(1, window + 1):
        nxt = torch.full_like(cols, -1)
        nxt[:, :m - shift] = cols[:, shift:]
        counts.scatter_add_(2, torch.where(nxt >= 0, nxt, len(candidates))[..., None], torch.ones(b, m, 1))
    counts = counts[..., :-1]
    total = counts.sum(-1, keepdim=True)
    return (counts + alpha * prior) / (total + alpha), total[..., 0] > 0


@dataclass
class SequentialTrainResult:
    model: AttrFormer
    history: list = field(default_factory=list)
    seconds: float = 0.0
    stopped_because: str = ""


def train_attrformer(item_vectors: ItemVectors, attributes: dict[str, np.ndarray],
                     train_sequences: Sequence[Sequence[str]],
                     ranker: RankerConfig | None = None, config: AttrFormerConfig | None = None,
                     valid_sequences: Sequence[Sequence[str]] | None = None, ordered: bool = True,
                     relations: Sequence[str] | None = None,
                     checkpoint_dir: str | Path | None = None, resume: bool = True) -> SequentialTrainResult:
    """Adam on the posterior-target loss (idea 4) over the sequences (unordered ones are shuffled per draw), the
    best valid loss kept (assessed every `eval_every` updates; lr decay and patience as in RankerConfig), capped
    by `max_epochs` and `max_seconds`; then the inference bank of final states is built from training users.
    `relations=()` trains the SASRec-style ablation. With `checkpoint_dir`, every assessment and the end write a
    checkpoint there (latest weights, Adam state, torch RNG, loop position, lr schedule: safetensors + JSON), from
    which a later call with `resume` continues where it stopped (a larger `max_epochs` or `max_seconds` trains on);
    the trained model (its inference bank included) goes to `checkpoint_dir/best`."""
    from eccr.rank.train import encode_sequences, sequences_per_item  # the shared id -> row encoding

    ranker, config = ranker or RankerConfig(), config or AttrFormerConfig()
    rels = tuple(config.relations if relations is None else relations)
    torch.manual_seed(ranker.seed)
    train = encode_sequences(train_sequences, item_vectors)
    valid = encode_sequences(valid_sequences, item_vectors) if valid_sequences else []
    if not valid:
        order = np.random.default_rng(ranker.seed).permutation(len(train))
        n_valid = min(max(1, len(train) // 10), 2000)
        valid, train = [train[i] for i in order[:n_valid]], [train[i] for i in order[n_valid:]]
    if not train:
        raise ValueError("no training sequence has two or more items with vectors")
    n = len(item_vectors)
    model = AttrFormer(item_vectors.dim, n, int(attributes["brand"].max()) + 1, int(attributes["category"].max()) + 1,
                       hidden=config.hidden, layers=config.layers, heads=config.heads, max_len=ranker.max_memory,
                       relations=rels, neighbours=config.neighbours, similar_users=config.similar_users,
                       dropout=config.dropout)
    model.set_tables(item_vectors.vectors, attributes)
    popularity = (sequences_per_item(train, n) + 1.0) ** ranker.gamma
    sampler = AliasSampler.from_counts(sequences_per_item(train, n) + 1.0, gamma=ranker.gamma, seed=ranker.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=ranker.lr, betas=(ranker.beta1, ranker.beta2))

    def batch_loss(seqs: list[np.ndarray], rng: np.random.Generator) -> torch.Tensor:
        seqs = [s if ordered else rng.permutation(s) for s in seqs]
        rows, mask = right_aligned(seqs, ranker.max_memory + 1)
        positives = np.unique(rows[rows >= 0].numpy())
        sampler.rng = rng
        negatives = np.setdiff1d(sampler.sample(ranker.negatives), positives)
        cand = torch.from_numpy(np.concatenate([positives, negatives]))
        prior = torch.from_numpy(popularity[cand.numpy()] / popularity[cand.numpy()].sum()).float()
        targets, has_next = posterior_targets(rows, cand, prior, config.window, config.dirichlet_prior)
        logits, _ = model(rows, mask, model.item_vectors[cand])
        loss = -(targets * torch.log_softmax(logits, -1)).sum(-1)
        has_next = has_next & mask
        return (loss * has_next).sum() / has_next.sum().clamp(min=1)

    valid_rng_seed = [ranker.seed, 7919]

    @torch.no_grad()
    def valid_loss() -> float:
        model.eval()
        rng = np.random.default_rng(valid_rng_seed)
        size = ranker.batch_size
        losses = [float(batch_loss(valid[i:i + size], rng)) for i in range(0, len(valid), size)]
        model.train()
        return float(np.mean(losses)) if losses else float("nan")

    state, best = TrainState(lr=ranker.lr), None
    folder = Path(checkpoint_dir) if checkpoint_dir else None

    def checkpoint(epoch: int, next_batch: int) -> None:
        state.epoch, state.batch_in_epoch, state.seconds = epoch, next_batch, spent + time.monotonic() - started
        save_checkpoint(folder, model, optimizer, state, relations=list(rels), train_sequences=len(train),
                        config=ranker.to_dict(), attrformer=config.to_dict())

    if resume and has_checkpoint(folder):
        info = read_checkpoint_info(folder)
        if info.get("relations") != list(rels) or info.get("train_sequences") != len(train):
            raise ValueError(f"{folder}: the checkpoint was written for other relations or training sequences "
                             f"({info.get('relations')}, {info.get('train_sequences')} sequences); delete it or "
                             "train with resume=False")
        resumed = load_checkpoint(folder, model, optimizer, best_dir=BEST_SO_FAR)
        state, best = resumed.state, resumed.best
        state.stopped_because = ""  # caps may have been raised since: carry on
    start_epoch, start_index, spent = state.epoch, state.batch_in_epoch * ranker.batch_size, state.seconds
    started = time.monotonic()
    model.train()
    for epoch in range(start_epoch, ranker.max_epochs):
        order = np.random.default_rng([ranker.seed, epoch]).permutation(len(train))
        for index in range(start_index if epoch == start_epoch else 0, len(train), ranker.batch_size):
            rng = np.random.default_rng([ranker.seed, epoch, index])
            loss = batch_loss([train[i] for i in order[index:index + ranker.batch_size]], rng)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), ranker.clip)
            optimizer.step()
            state.step += 1
            if state.step % ranker.eval_every == 0:
                current = valid_loss()
                state.history.append({"step": state.step, "epoch": epoch, "train_loss": float(loss.detach()),
                                      "valid_loss": current, "lr": state.lr})
                if state.assess(current, optimizer, ranker):
                    best = {k: v.clone() for k, v in model.state_dict().items()}
                    if folder is not None:  # written when it changes, read back on resume
                        save_best(folder, model, BEST_SO_FAR)
                if state.reductions >= ranker.max_reductions:
                    state.stopped_because = "max_reductions"
                if folder is not None:
                    checkpoint(epoch, index // ranker.batch_size + 1)
            if spent + time.monotonic() - started >= ranker.max_seconds and not state.stopped_because:
                state.stopped_because = "max_seconds"
            if state.stopped_because:
                if folder is not None and state.step % ranker.eval_every:  # an assessment at this step just wrote one
                    checkpoint(epoch, index // ranker.batch_size + 1)
                break
        if state.stopped_because:
            break
    else:
        state.stopped_because = "max_epochs"
        if folder is not None:
            checkpoint(max(ranker.max_epochs, start_epoch), 0)
    current = valid_loss()
    state.history.append({"step": state.step, "valid_loss": current, "lr": state.lr})
    if best is not None and state.best_valid_loss < current:
        model.load_state_dict(best)
    model.eval()
    with torch.no_grad():  # the inference bank: final states of (up to bank_size) training users
        picked = np.random.default_rng(ranker.seed).permutation(len(train))[:config.bank_size]
        states = []
        for i in range(0, len(picked), 256):
            rows, mask = right_aligned([train[j] for j in picked[i:i + 256]], ranker.max_memory)
            states.append(model.encode(rows, mask)[0][:, -1])
        model.bank = torch.cat(states) if states else torch.zeros(0, model.hidden)
    if checkpoint_dir:
        model.save_pretrained(Path(checkpoint_dir) / "best")
    return SequentialTrainResult(model, state.history, spent + time.monotonic() - started, state.stopped_because)


# ---------------------------------------------------------------- scoring
class AttrFormerScorer:
    """`Scorer` over a trained AttrFormer / SASRec ablation: memory = history + query (each id once, at its latest
    position, the latest `max_memory`); candidates without a vector get -inf. `Scores.attention` is the last
    position's attention over the memory per layer (mean over heads), the same for every candidate."""

    def __init__(self, model: AttrFormer, item_vectors: ItemVectors, unknown_vector_fn: UnknownVectorFn | None = None,
                 name: str | None = None, max_memory: int | None = None, chunk_size: int = 8192):
        self.model = model.eval()
        self.model.set_tables(item_vectors.vectors)  # rows past n_items (added items) have no relations
        self.lookup = VectorLookup(item_vectors, unknown_vector_fn)
        self.name = name or model.model_kind
        self.max_memory, self.chunk_size = max_memory or model.max_len, chunk_size
        self.hops = model.layers

    def memory_ids(self, query: Sequence[str], history: Sequence[str]) -> list[str]:
        ordered = [str(i) for i in list(history) + list(query)]
        latest = list(dict.fromkeys(reversed(ordered)))[::-1]
        return latest[-self.max_memory:]

    @torch.no_grad()
    def score_candidates(self, query: Sequence[str], candidates: Sequence[str],
                         history: Sequence[str] = ()) -> Scores:
        memory_ids = self.memory_ids(query, history)
        rows = self.lookup.rows(memory_ids)
        known = np.flatnonzero(rows >= 0)
        cand, scorable = self.lookup.resolve(candidates)
        logits = np.full(len(candidates), -np.inf)
        attention = np.zeros((1, self.model.layers, len(memory_ids)), dtype=np.float32)
        if len(known):
            r = torch.from_numpy(rows[known])[None]
            states, attn = self.model.encode(r, torch.ones_like(r, dtype=torch.bool))
            state = self.model.aggregate(states[:, -1:], torch.ones(1, 1, dtype=torch.bool), self.model.bank)[0, 0]
            attention[0][:, known] = attn[0].mean(1).numpy()
        else:  # no memory: the candidate's own projection scores it (a popularity-like prior from W_out)
            state = torch.zeros(self.model.hidden)
        idx = np.flatnonzero(scorable)
        for start in range(0, len(idx), self.chunk_size):
            part = idx[start:start + self.chunk_size]
            logits[part] = (self.model.output(torch.from_numpy(cand[part])) @ state).double().numpy()
        return Scores(scores=logits, attention=np.broadcast_to(attention, (len(candidates),) + attention.shape[1:]),
                      extra={"memory": memory_ids,
                             "skipped_memory": [memory_ids[i] for i in np.flatnonzero(rows < 0)],
                             "unscored": [str(candidates[i]) for i in np.flatnonzero(~scorable)]})


def load_ranker_scorer(directory: str | Path, item_vectors: ItemVectors, max_memory: int | None = None,
                       unknown_vector_fn: UnknownVectorFn | None = None, name: str | None = None):
    """The scorer of whatever ranker a run saved in `directory` (config.json's model_type): AttentionCF, DAN, or
    AttrFormer / its SASRec ablation."""
    from eccr.rank.baselines import DAN, DANScorer

    model_type = json.loads((Path(directory) / CONFIG_FILE).read_text()).get("model_type")
    if model_type == AttrFormer.model_type:
        return AttrFormerScorer(AttrFormer.from_pretrained(directory, item_vectors), item_vectors, unknown_vector_fn,
                                name=name, max_memory=max_memory)
    if model_type == DAN.model_type:
        return DANScorer(DAN.from_pretrained(directory), item_vectors, unknown_vector_fn, max_memory=max_memory)
    return AttentionCFScorer(AttentionCF.from_pretrained(directory), item_vectors, unknown_vector_fn,
                             name=name or "attention_cf", max_memory=max_memory)


def catalog_attributes(item_ids: Sequence[str], catalog_items, baskets: Sequence[Sequence[str]],
                       neighbours: int) -> dict[str, np.ndarray]:
    """`item_attributes` from a catalogue frame (brand column, leaf = last category name) and train baskets."""
    brands = {str(i): str(b) for i, b in zip(catalog_items["item_id"], catalog_items["brand"]) if b}
    leaves = {str(i): str(c[-1]) for i, c in zip(catalog_items["item_id"], catalog_items["category"]) if len(c)}
    return item_attributes([str(i) for i in item_ids], brands, leaves, baskets, neighbours)
