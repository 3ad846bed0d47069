"""A sentence encoder fine-tuned for complements, behind the blend feature "tuned_cosine".

Frozen sentence vectors put look-alikes nearest: text cosine finds substitutes. Here the top `layers` transformer
layers of the run's sentence encoder (the packaged all-MiniLM-L6-v2 by default) are fine-tuned as a bi-encoder,
score(q, c) = cos(E(q), E(c)), with a softmax over the TRAIN part's honest candidate lists
(eccr/data/candidate_lists.py: the bundle partner among co-bought, same-leaf and random items of its seen status);
the batch's other candidates are further negatives. Training stops early on the VALID part's lists (HR@5, ties
against the model) and keeps the best evaluation's layers, the frozen encoder (step 0) included. The lower layers
stay frozen and their outputs are computed once, so a step costs only the top layers.

The tuned encoder is saved as a sentence-transformers folder (safetensors) truncating item texts at `max_tokens`
as in training, so items added later get vectors from it like from any text encoder (eccr/represent/text.py).
Recipe: the in-batch plus hard-negative softmax of dense bi-encoders (Karpukhin et al., 'Dense Passage Retrieval
for Open-Domain Question Answering', EMNLP 2020) on a Sentence-BERT encoder (Reimers & Gurevych, EMNLP 2019).
"""
from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from eccr.data.candidate_lists import CandidateListConfig, ListDrawer, build_candidate_lists
from eccr.data.schema import Catalog
from eccr.data.splits import TemporalSplit
from eccr.represent.config import ComplementEncoderConfig, TextConfig
from eccr.represent.text import catalog_texts, resolve_model_dir, text_vectors
from eccr.represent.vectors import ItemVectors

INFO_FILE = "complement_encoder.json"


@dataclass
class ListRows:
    """Honest candidate lists as rows into the item texts: queries (n,), candidates (n, 1 + negatives) with the
    positive in column 0."""

    queries: np.ndarray
    candidates: np.ndarray

    def __len__(self) -> int:
        return len(self.queries)


def list_rows(split: TemporalSplit, part: str, settings: list[CandidateListConfig], row_of: dict[str, int]) -> ListRows:
    """The complete lists of `part` (every item with a text), one draw per entry of `settings`."""
    drawer = ListDrawer(split, part)
    width = 1 + settings[0].negatives
    queries, candidates = [], []
    for config in settings:
        for pair in build_candidate_lists(split, part, config, drawer).complete(row_of):
            queries.append(row_of[pair.query])
            candidates.append([row_of[i] for i in (pair.positive, *pair.negatives)])
    return ListRows(np.asarray(queries, dtype=np.int64), np.asarray(candidates, dtype=np.int64).reshape(-1, width))


def _layer_output(out):
    return out[0] if isinstance(out, tuple) else out


class TopLayerEncoder:
    """A sentence-transformers model whose lower transformer layers are run once per text and cached, so the
    top `layers` (the tuned ones) and the pooling run per step. Needs a BERT-style encoder (`encoder.layer`; MPNet's
    relative position bias included)."""

    def __init__(self, model, texts: list[str], layers: int, max_tokens: int, batch_size: int = 256):
        self.model = model
        self.bert = model[0].auto_model
        blocks = getattr(getattr(self.bert, "encoder", None), "layer", None)
        if blocks is None:
            raise ValueError(f"{type(self.bert).__name__}: the complement encoder needs a BERT-style encoder "
                             "(encoder.layer); set complement_encoder.enabled false for this text model")
        if not 1 <= layers <= len(blocks):
            raise ValueError(f"complement_encoder.layers must be in 1..{len(blocks)}, got {layers}")
        self.top = torch.nn.ModuleList(blocks[len(blocks) - layers:])
        tokens = model[0].tokenizer(texts, padding="longest", truncation=True, max_length=max_tokens,
                                    return_tensors="pt")
        self.input_ids, self.attention = tokens["input_ids"], tokens["attention_mask"]
        self.lengths = self.attention.sum(1)
        cached = []
        self.bert.eval()
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                rows = slice(start, start + batch_size)
                out = self.bert(input_ids=self.input_ids[rows], attention_mask=self.attention[rows],
                                output_hidden_states=True)
                cached.append(out.hidden_states[len(blocks) - layers])
        self.hidden = torch.cat(cached)

    def _mask(self, hidden: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        try:
            from transformers.masking_utils import create_bidirectional_mask
        except ImportError:  # transformers 4.x
            return self.bert.get_extended_attention_mask(attention, attention.shape)
        return create_bidirectional_mask(config=self.bert.config, inputs_embeds=hidden, attention_mask=attention)

    def embed(self, rows) -> torch.Tensor:
        """L2-normalised sentence vectors of the texts at `rows` (gradients flow into the top layers)."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        width = int(self.lengths[rows].max())
        hidden, attention = self.hidden[rows, :width], self.attention[rows, :width]
        mask = self._mask(hidden, attention)
        extra = {}
        position_bias = getattr(self.bert.encoder, "compute_position_bias", None)
        if position_bias is not None:  # MPNet: every layer adds the encoder's relative position bias
            extra["position_bias"] = position_bias(hidden)
        for block in self.top:
            hidden = _layer_output(block(hidden, mask, **extra))
        features = {"token_embeddings": hidden, "attention_mask": attention, "input_ids": self.input_ids[rows, :width]}
        for module in list(self.model)[1:]:  # pooling (and Normalize, when the model has it)
            features = module(features)
        return F.normalize(features["sentence_embedding"], dim=-1)

    def embed_all(self, rows: np.ndarray, batch_size: int = 256) -> torch.Tensor:
        """`embed` of `rows` in evaluation mode, without gradients, one row per entry of `rows`."""
        self.top.eval()
        with torch.no_grad():
            return torch.cat([self.embed(rows[start:start + batch_size]) for start in range(0, len(rows), batch_size)])


def hit_rate_at_5(encoder: TopLayerEncoder, lists: ListRows) -> float:
    """HR@5 on `lists`, ties counted against the encoder."""
    rows = np.unique(np.concatenate([lists.queries, lists.candidates.ravel()]))
    vectors = encoder.embed_all(rows)
    q = vectors[np.searchsorted(rows, lists.queries)]
    c = vectors[np.searchsorted(rows, lists.candidates)]
    scores = (c * q.unsqueeze(1)).sum(-1)
    rank = 1 + (scores[:, 1:] >= scores[:, :1]).sum(1)
    return float((rank <= 5).float().mean())


@dataclass
class TunedEncoder:
    model: object              # the sentence-transformers model, top layers tuned
    history: list[dict]        # per evaluation: step, loss, valid_hr@5, seconds
    best_step: int             # 0: the frozen encoder was never beaten on the valid lists
    config: ComplementEncoderConfig

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(str(folder), safe_serialization=True, create_model_card=False)
        (folder / INFO_FILE).write_text(json.dumps({"config": asdict(self.config), "best_step": self.best_step,
                                                    "history": self.history}, indent=1))


def fit_complement_encoder(catalog: Catalog, split: TemporalSplit, config: ComplementEncoderConfig | None = None,
                           text: TextConfig | None = None, lists: CandidateListConfig | None = None,
                           log: Callable[[str], None] = print) -> TunedEncoder:
    """Fine-tune the top layers of `text`'s encoder on the train part's lists (module docstring)."""
    from sentence_transformers import SentenceTransformer

    config, text, lists = config or ComplementEncoderConfig(), text or TextConfig(), lists or CandidateListConfig()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    ids, texts = catalog_texts(catalog, text)
    row_of = {item: r for r, item in enumerate(ids)}
    train = list_rows(split, "train", [replace(lists, seed=lists.seed + k) for k in range(config.list_draws)], row_of)
    valid = list_rows(split, "valid", [lists], row_of)
    if not len(train) or not len(valid):
        raise ValueError(f"{split.train.name}: the complement encoder needs complete candidate lists in the train "
                         f"and valid parts (found {len(train)} and {len(valid)})")
    # only the texts of the lists' items are encoded and cached (the catalogue may be far larger)
    used = np.unique(np.concatenate([train.queries, train.candidates.ravel(), valid.queries, valid.candidates.ravel()]))
    local = np.full(len(texts), -1, dtype=np.int64)
    local[used] = np.arange(len(used))
    train, valid = (ListRows(local[r.queries], local[r.candidates]) for r in (train, valid))
    source = resolve_model_dir(text)
    model = SentenceTransformer(str(source), device="cpu", local_files_only=not isinstance(source, str))
    model.max_seq_length = config.max_tokens
    encoder = TopLayerEncoder(model, [texts[r] for r in used], config.layers, config.max_tokens)
    optimiser = torch.optim.AdamW(encoder.top.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start = time.perf_counter()
    best = hit_rate_at_5(encoder, valid)
    history = [{"step": 0, "valid_hr@5": round(best, 4), "seconds": 0.0}]
    log(f"complement encoder: {len(train)} train lists, {len(valid)} valid lists, {len(used)} items; "
        f"frozen valid HR@5 {best:.4f}")
    best_state, best_step, stale, losses = copy.deepcopy(encoder.top.state_dict()), 0, 0, []
    order, cursor = rng.permutation(len(train)), 0
    width = train.candidates.shape[1]
    for step in range(1, config.max_steps + 1):
        if cursor + config.lists_per_step > len(order):
            order, cursor = rng.permutation(len(train)), 0
        batch = order[cursor:cursor + config.lists_per_step]
        cursor += len(batch)
        kept = np.stack([np.concatenate([[0], 1 + rng.choice(width - 1, min(config.negatives, width - 1),
                                                             replace=False)]) for _ in batch])
        candidates = train.candidates[batch[:, None], kept]                  # (b, 1 + negatives)
        encoder.top.train()
        q = encoder.embed(train.queries[batch])
        c = encoder.embed(candidates.ravel())
        logits = config.scale * q @ c.T
        column = np.arange(len(batch)) * candidates.shape[1]                 # each list's positive
        same_item = torch.from_numpy(candidates.ravel()[None, :] == candidates[:, :1])
        same_item[np.arange(len(batch)), column] = False                     # the own positive stays the target
        loss = F.cross_entropy(logits.masked_fill(same_item, float("-inf")), torch.from_numpy(column))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if step % config.eval_every == 0 or step == config.max_steps:
            hr = hit_rate_at_5(encoder, valid)
            history.append({"step": step, "loss": round(float(np.mean(losses)), 4), "valid_hr@5": round(hr, 4),
                            "seconds": round(time.perf_counter() - start, 1)})
            log(f"complement encoder step {step}: loss {history[-1]['loss']}, valid HR@5 {hr:.4f}")
            losses = []
            if hr > best:
                best, best_step, stale = hr, step, 0
                best_state = copy.deepcopy(encoder.top.state_dict())
            else:
                stale += 1
                if stale >= config.patience:
                    break
    encoder.top.load_state_dict(best_state)
    return TunedEncoder(model, history, best_step, config)


def tuned_text_vectors(catalog: Catalog, text: TextConfig, folder: str | Path) -> ItemVectors:
    """Vectors of `catalog`'s items from the tuned encoder saved in `folder`."""
    if not (Path(folder) / INFO_FILE).exists():
        raise FileNotFoundError(f"{folder}: no tuned complement encoder ({INFO_FILE} missing)")
    return text_vectors(catalog, replace(text, model_dir=str(folder)))
