"""Attention-based collaborative filtering over fixed product embeddings.

Lake, Williamson, Hawk, Johnson & Wing, "Large-scale Collaborative Filtering with Product Embeddings" (§4.1).
The candidate item q is the query of a K-hop key-value memory network (Sukhbaatar et al. 2015; Miller et al.
2016) whose memory is the user's items A_u:

    z^0   = h(x_q)
    p^k_i = softmax_i( f^k(x_i)^T z^{k-1} )          i in A_u (padding masked out)
    z^k   = z^{k-1} + sum_i p^k_i g^k(x_i)           k = 1..K
    r     = sigma( phi^T z^K )

f^k, g^k, h are affine maps R^d -> R^d' (no sharing between hops), initialised orthogonally (Saxe et al. 2014);
the item embeddings x are inputs and never trained here. The keys f^k(x_i) and values g^k(x_i) depend only on
the memory, so they are computed once per user and reused for every candidate (`memory_keys_values`).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from eccr.rank.base import Scores
from eccr.rank.lookup import UnknownVectorFn, VectorLookup
from eccr.represent.vectors import ItemVectors

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis where `mask` is True; rows with no valid entry give all zeros (never NaN)."""
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=-1) * mask


class AttentionCF(nn.Module):
    """Multi-hop key-value attention over a user's past items (Lake et al., 'Large-scale Collaborative
    Filtering with Product Embeddings', §4). Item embeddings are inputs, never trained here."""

    model_type = "attention_cf"

    def __init__(self, input_dim: int, hops: int = 10, hidden: int = 128, null_slot: bool = False):
        """null_slot (ours, off by default = the paper's model): a learned key/value per hop that every memory
        holds, so attention can also look "nowhere". Without it the weights are a convex combination over the
        memory, and with a single memory item (a one-item basket, no history) z^K = h(x_q) + sum_k g^k(x_m)
        is additive: every query item would get the same candidate ranking. The null slot restores a
        query x candidate interaction, p_m = sigmoid((f^k(x_m) - null_key^k)^T z^{k-1})."""
        super().__init__()
        if input_dim < 1 or hops < 1 or hidden < 1:
            raise ValueError(f"input_dim, hops and hidden must be >= 1, got {input_dim}, {hops}, {hidden}")
        self.input_dim, self.hops, self.hidden, self.null_slot = input_dim, hops, hidden, null_slot
        self.query = nn.Linear(input_dim, hidden)                            # h
        self.key_weight = nn.Parameter(torch.empty(hops, hidden, input_dim))  # B_fk, one per hop
        self.key_bias = nn.Parameter(torch.zeros(hops, hidden))              # c_fk
        self.value_weight = nn.Parameter(torch.empty(hops, hidden, input_dim))  # B_gk
        self.value_bias = nn.Parameter(torch.zeros(hops, hidden))            # c_gk
        self.phi = nn.Parameter(torch.empty(hidden))                        # output weights
        if null_slot:
            self.null_key = nn.Parameter(torch.zeros(hops, hidden))
            self.null_value = nn.Parameter(torch.zeros(hops, hidden))
        self.reset_parameters()

    def config(self) -> dict:
        return {"model_type": self.model_type, "input_dim": self.input_dim, "hops": self.hops,
                "hidden": self.hidden, "null_slot": self.null_slot}

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Orthogonal weights (Saxe et al. 2014), zero biases."""
        nn.init.orthogonal_(self.query.weight)
        nn.init.zeros_(self.query.bias)
        for k in range(self.hops):
            nn.init.orthogonal_(self.key_weight[k])
            nn.init.orthogonal_(self.value_weight[k])
        self.key_bias.zero_()
        self.value_bias.zero_()
        nn.init.orthogonal_(self.phi.view(1, -1))

    def memory_keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """memory (B, M, d) -> keys f^k(x_i) and values g^k(x_i), each (B, K, M, d')."""
        b, m, _ = memory.shape
        flat = memory.reshape(b * m, self.input_dim)

        def project(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            out = flat @ weight.reshape(self.hops * self.hidden, self.input_dim).T  # all hops in one matmul
            return out.view(b, m, self.hops, self.hidden).permute(0, 2, 1, 3) + bias[None, :, None, :]

        return project(self.key_weight, self.key_bias), project(self.value_weight, self.value_bias)

    def attend(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
               mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Q, d) candidates, keys/values (B, K, M, d'), mask (B, M) ->
        logits phi^T z^K (B, Q) and attention p^k_i (B, Q, K, M)."""
        m = keys.shape[2]
        if self.null_slot:  # append the null slot as memory item M (always valid), dropped from the weights
            b = keys.shape[0]
            keys = torch.cat([keys, self.null_key[None, :, None, :].expand(b, -1, -1, -1)], dim=2)
            values = torch.cat([values, self.null_value[None, :, None, :].expand(b, -1, -1, -1)], dim=2)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        z = self.query(query)                                  # z^0 = h(x_q), (B, Q, d')
        valid = mask[:, None, :]                               # (B, 1, M)
        weights = []
        for k in range(self.hops):
            scores = z @ keys[:, k].transpose(1, 2)            # f^k(x_i)^T z^{k-1}, (B, Q, M)
            p = masked_softmax(scores, valid)
            z = z + p @ values[:, k]                           # z^k = z^{k-1} + sum_i p_i g^k(x_i)
            weights.append(p)
        return z @ self.phi, torch.stack(weights, dim=2)[..., :m]

    def forward(self, query: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Q, d): Q candidates per user; memory (B, M, d) with mask (B, M) True for real items.

        Returns logits (B, Q) (r = sigmoid(logits)) and attention (B, Q, K, M); each hop's weights sum to 1
        over the unmasked memory (to 0 for a user with no memory, who is then scored from h(x_q) alone).
        """
        if query.dim() != 3 or memory.dim() != 3 or query.shape[0] != memory.shape[0]:
            raise ValueError(f"expected query (B, Q, d) and memory (B, M, d), got {tuple(query.shape)} and "
                             f"{tuple(memory.shape)}")
        if mask is None:
            mask = torch.ones(memory.shape[:2], dtype=torch.bool, device=memory.device)
        keys, values = self.memory_keys_values(memory)
        return self.attend(query, keys, values, mask.bool())

    # --- Hugging Face style persistence: safetensors weights + config.json, nothing pickled ---
    def save_pretrained(self, directory: str | Path) -> None:
        save_module(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> AttentionCF:
        return load_module(cls, directory)


def save_module(module: nn.Module, directory: str | Path) -> None:
    """Writes DIR/model.safetensors and DIR/config.json (the module's `config()`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()},
              str(directory / WEIGHTS_FILE))
    (directory / CONFIG_FILE).write_text(json.dumps(module.config(), indent=2))  # type: ignore[operator]


def load_module(cls, directory: str | Path):
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: not a saved {cls.__name__} directory")
    config = json.loads(config_path.read_text())
    model_type = config.pop("model_type", None)
    if model_type != cls.model_type:
        raise ValueError(f"{config_path}: model_type {model_type!r}, expected {cls.model_type!r}")
    model = cls(**config)
    model.load_state_dict(load_file(str(weights_path)))
    model.eval()
    return model


class NeuralScorer:
    """`Scorer` for a model with the AttentionCF call signature `model(query, memory, mask) -> (logits, attn)`.

    Candidates are the queries q; the memory is `history + query` (the user's older items and the current
    basket, most recent last, duplicates kept once at their latest position, cut to `max_memory` most recent).
    Scores are logits (monotone in r = sigmoid(logit); `extra['probability']` holds r). Memory items without a
    vector are skipped (weight 0); candidates without a vector get -inf and are listed in `extra['unscored']`.
    """

    def __init__(self, model: nn.Module, item_vectors: ItemVectors, unknown_vector_fn: UnknownVectorFn | None = None,
                 name: str = "neural", max_memory: int | None = None, chunk_size: int = 4096):
        if getattr(model, "input_dim", item_vectors.dim) != item_vectors.dim:
            raise ValueError(f"model expects {model.input_dim}-d vectors, item vectors are {item_vectors.dim}-d")
        self.model = model.eval()
        self.lookup = VectorLookup(item_vectors, unknown_vector_fn)
        self.name, self.max_memory, self.chunk_size = name, max_memory, chunk_size

    def memory_ids(self, query: Sequence[str], history: Sequence[str]) -> list[str]:
        ordered = [str(i) for i in list(history) + list(query)]
        latest = list(dict.fromkeys(reversed(ordered)))[::-1]  # keep each id once, at its latest position
        return latest[-self.max_memory:] if self.max_memory else latest

    @torch.no_grad()
    def score_candidates(self, query: Sequence[str], candidates: Sequence[str],
                         history: Sequence[str] = ()) -> Scores:
        memory_ids = self.memory_ids(query, history)
        memory, in_memory = self.lookup.resolve(memory_ids)
        cand, scorable = self.lookup.resolve(candidates)
        n, m = len(candidates), len(memory_ids)
        logits = np.full(n, -np.inf)
        hops = getattr(self.model, "hops", 0)
        attention = np.zeros((n, hops, m), dtype=np.float32) if hops else None
        rows = np.flatnonzero(scorable)
        memory_t = torch.from_numpy(memory[in_memory])[None]
        mask = torch.ones((1, memory_t.shape[1]), dtype=torch.bool)
        encoded = self.model.memory_keys_values(memory_t) if hasattr(self.model, "memory_keys_values") else None
        for start in range(0, len(rows), self.chunk_size):
            part = rows[start:start + self.chunk_size]
            q = torch.from_numpy(cand[part])[None]
            if encoded is not None:
                out, attn = self.model.attend(q, *encoded, mask)
            else:
                out, attn = self.model(q, memory_t, mask)
            logits[part] = out[0].double().numpy()
            if attention is not None and attn is not None:
                attention[np.ix_(part, np.arange(hops), np.flatnonzero(in_memory))] = attn[0].numpy()
        unscored = [str(candidates[i]) for i in np.flatnonzero(~scorable)]
        return Scores(scores=logits, attention=attention,
                      extra={"probability": 1.0 / (1.0 + np.exp(-logits)), "memory": memory_ids,
                             "skipped_memory": [memory_ids[i] for i in np.flatnonzero(~in_memory)],
                             "unscored": unscored})


class AttentionCFScorer(NeuralScorer):
    """`Scorer` over a trained `AttentionCF`; `Scores.attention` is (n_candidates, K, len(extra['memory']))."""

    def __init__(self, model: AttentionCF, item_vectors: ItemVectors,
                 unknown_vector_fn: UnknownVectorFn | None = None, name: str = "attention_cf",
                 max_memory: int | None = None):
        super().__init__(model, item_vectors, unknown_vector_fn, name=name, max_memory=max_memory)
