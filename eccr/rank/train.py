"""Training loop for memory-based rankers (AttentionCF, DAN), as in Lake et al. §4.2-4.3.

Each training sequence (a user's items in time order, or the items of a session/bundle) is split into observed
items T_u (the memory) and future items S_u (positives, at most `future_items`, never already in T_u):
- ordered sequences: a random cut point each time the sequence is drawn, T_u = items before it, S_u = after;
- unordered ones (bundles): a random subset of the items is the memory, the rest are positives.
Negatives N_u (`negatives` of them) come from P_gamma over the candidate universe (popularity = number of
sequences an item occurs in, plus one so items never seen can be negatives too) with the alias method, excluding
S_u. The loss gives half its weight to the positives' mean log-likelihood and half to the negatives' (§4.2).

Adam (lr 0.002, betas 0.9/0.999), batches of 64, gradient norm clipped at 10; every `eval_every` updates the
balanced loss on a fixed validation set is assessed, the lr is multiplied by 0.8 after 5 assessments without
improvement, and training stops after 20 reductions (or `max_epochs` / `max_seconds`). Each assessment writes
a checkpoint folder (`eccr.rank.checkpoint`: safetensors + JSON, no pickle) from which `train(resume=True)`
continues exactly: batch contents depend only on (seed, epoch, batch index).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from eccr.data.sampling import AliasSampler
from eccr.rank.attention_cf import AttentionCF
from eccr.rank.checkpoint import TrainState, has_checkpoint, load_checkpoint, save_best, save_checkpoint
from eccr.rank.config import RankerConfig
from eccr.rank.lookup import VectorLookup
from eccr.represent.vectors import ItemVectors


# ---------------------------------------------------------------- training instances
def encode_sequences(sequences: Sequence[Sequence[str]], item_vectors: ItemVectors) -> list[np.ndarray]:
    """Item ids -> rows of `item_vectors`; unknown ids are dropped, sequences with < 2 distinct items too."""
    lookup = VectorLookup(item_vectors)
    encoded = []
    for seq in sequences:
        pos = lookup.rows(list(seq))
        pos = pos[pos >= 0]
        if len(np.unique(pos)) >= 2:
            encoded.append(pos.astype(np.int64))
    return encoded


def sequences_per_item(encoded: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """Number of sequences each item occurs in (the count in eq. 5)."""
    counts = np.zeros(n_items, dtype=np.float64)
    for seq in encoded:
        counts[np.unique(seq)] += 1
    return counts


def negative_sampler(encoded: Sequence[np.ndarray], n_items: int, gamma: float, seed: int) -> AliasSampler:
    """P_gamma over all `n_items` from popularity + 1 (so cold items can be negatives)."""
    return AliasSampler.from_counts(sequences_per_item(encoded, n_items) + 1.0, gamma=gamma, seed=seed)


def split_sequence(seq: np.ndarray, rng: np.random.Generator, ordered: bool,
                   future_items: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(T_u memory, S_u positives) or None when no future item is left (see module docstring)."""
    if ordered:
        cut = int(rng.integers(1, len(seq)))
        memory, later = seq[:cut], seq[cut:]
    else:
        items = rng.permutation(np.unique(seq))
        cut = int(rng.integers(1, len(items)))
        memory, later = items[:cut], items[cut:]
    seen = set(memory.tolist())
    future = [i for i in dict.fromkeys(later.tolist()) if i not in seen][:future_items]
    return (memory, np.asarray(future, dtype=np.int64)) if future else None


@dataclass
class Batch:
    memory: torch.Tensor      # (B, M) item rows, padded with 0
    memory_mask: torch.Tensor  # (B, M) True for real memory items
    candidates: torch.Tensor  # (B, P + N) item rows: P (padded) positive slots, then N negatives
    positive_mask: torch.Tensor  # (B, P + N)
    negative_mask: torch.Tensor  # (B, P + N)


def make_batch(instances: Sequence[tuple[np.ndarray, np.ndarray]], sampler: AliasSampler, n_negatives: int,
               max_memory: int) -> Batch:
    """Pads memories (most recent `max_memory` kept) and positives, draws negatives excluding S_u."""
    b = len(instances)
    memories = [mem[-max_memory:] for mem, _ in instances]
    m = max(len(x) for x in memories)
    p = max(len(pos) for _, pos in instances)
    memory = np.zeros((b, m), dtype=np.int64)
    memory_mask = np.zeros((b, m), dtype=bool)
    candidates = np.zeros((b, p + n_negatives), dtype=np.int64)
    positive_mask = np.zeros((b, p + n_negatives), dtype=bool)
    for row, (mem, (_, pos)) in enumerate(zip(memories, instances)):
        memory[row, :len(mem)], memory_mask[row, :len(mem)] = mem, True
        candidates[row, :len(pos)], positive_mask[row, :len(pos)] = pos, True
        candidates[row, p:] = sampler.sample_excluding(n_negatives, set(pos.tolist()))
    negative_mask = np.zeros_like(positive_mask)
    negative_mask[:, p:] = True
    return Batch(*(torch.from_numpy(x) for x in (memory, memory_mask, candidates, positive_mask, negative_mask)))


def balanced_loss(logits: torch.Tensor, positive_mask: torch.Tensor, negative_mask: torch.Tensor) -> torch.Tensor:
    """Mean over instances of -[ 1/(2|S|) sum_S log r + 1/(2|N|) sum_N log(1 - r) ] (Lake et al. §4.2)."""
    pos = (F.logsigmoid(logits) * positive_mask).sum(1) / positive_mask.sum(1).clamp(min=1)
    neg = (F.logsigmoid(-logits) * negative_mask).sum(1) / negative_mask.sum(1).clamp(min=1)
    return -(0.5 * pos + 0.5 * neg).mean()


def pairwise_auc(logits: torch.Tensor, positive_mask: torch.Tensor, negative_mask: torch.Tensor) -> float:
    """Mean over instances of the fraction of (positive, negative) pairs ordered correctly (ties count 1/2)."""
    diff = logits[:, :, None] - logits[:, None, :]
    pairs = positive_mask[:, :, None] & negative_mask[:, None, :]
    wins = ((diff > 0).float() + 0.5 * (diff == 0).float()) * pairs
    return float((wins.sum((1, 2)) / pairs.sum((1, 2)).clamp(min=1)).mean())


# ---------------------------------------------------------------- trainer
@dataclass
class TrainResult:
    model: nn.Module        # with the best validation weights loaded
    state: TrainState


class RankerTrainer:
    """Trains `model(query (B,Q,d), memory (B,M,d), mask) -> (logits (B,Q), attention)` on item sequences."""

    def __init__(self, model: nn.Module, item_vectors: ItemVectors, train_sequences: Sequence[Sequence[str]],
                 config: RankerConfig | None = None, valid_sequences: Sequence[Sequence[str]] | None = None,
                 ordered: bool = True, checkpoint_dir: str | Path | None = None, valid_fraction: float = 0.1):
        self.config = config or RankerConfig()
        self.model, self.ordered = model, ordered
        self.vectors = torch.from_numpy(item_vectors.vectors)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        train = encode_sequences(train_sequences, item_vectors)
        if valid_sequences is None:  # hold out a slice of the training sequences for early stopping
            order = np.random.default_rng(self.config.seed).permutation(len(train))
            n_valid = min(max(1, int(len(train) * valid_fraction)), 2000) if len(train) > 1 else 0
            valid = [train[i] for i in order[:n_valid]]
            train = [train[i] for i in order[n_valid:]]
        else:
            valid = encode_sequences(valid_sequences, item_vectors)
        if not train:
            raise ValueError("no training sequence has two or more items with vectors")
        self.train_sequences = train
        self.sampler = negative_sampler(train, len(item_vectors), self.config.gamma, self.config.seed)
        self.valid_batches = self._fixed_batches(valid)
        c = self.config
        self.optimizer = torch.optim.Adam(model.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.state = TrainState(lr=c.lr)

    def _fixed_batches(self, sequences: list[np.ndarray]) -> list[Batch]:
        """Validation instances and negatives drawn once (seeded), so every assessment sees the same set."""
        rng = np.random.default_rng([self.config.seed, 7919])
        sampler = AliasSampler(self.sampler.probabilities, seed=self.config.seed + 1)
        instances = [x for x in (split_sequence(s, rng, self.ordered, self.config.future_items)
                                 for s in sequences) if x is not None]
        size = self.config.batch_size
        return [make_batch(instances[i:i + size], sampler, self.config.valid_negatives, self.config.max_memory)
                for i in range(0, len(instances), size)]

    def _logits(self, batch: Batch) -> torch.Tensor:
        logits, _ = self.model(self.vectors[batch.candidates], self.vectors[batch.memory], batch.memory_mask)
        return logits

    def _train_batch(self, epoch: int, index: int, members: np.ndarray) -> Batch | None:
        rng = np.random.default_rng([self.config.seed, epoch, index])
        self.sampler.rng = np.random.default_rng([self.config.seed, epoch, index, 1])
        instances = [x for x in (split_sequence(self.train_sequences[i], rng, self.ordered,
                                                self.config.future_items) for i in members) if x is not None]
        if not instances:
            return None
        return make_batch(instances, self.sampler, self.config.negatives, self.config.max_memory)

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Balanced loss and pairwise AUC on the fixed validation set."""
        self.model.eval()
        losses, aucs, sizes = [], [], []
        for batch in self.valid_batches:
            logits = self._logits(batch)
            losses.append(float(balanced_loss(logits, batch.positive_mask, batch.negative_mask)))
            aucs.append(pairwise_auc(logits, batch.positive_mask, batch.negative_mask))
            sizes.append(len(batch.memory))
        self.model.train()
        if not sizes:
            return {"valid_loss": float("nan"), "valid_auc": float("nan")}
        return {"valid_loss": float(np.average(losses, weights=sizes)),
                "valid_auc": float(np.average(aucs, weights=sizes))}

    def _assess(self) -> None:
        """One assessment: lr schedule (§4.3), best weights, checkpoint."""
        s = self.state
        metrics = self.evaluate() | {"step": s.step, "epoch": s.epoch, "lr": s.lr}
        s.history.append(metrics)
        if s.assess(metrics["valid_loss"], self.optimizer, self.config):
            self._best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            if self.checkpoint_dir:
                save_best(self.checkpoint_dir, self.model)
        if self.checkpoint_dir:
            self.save_checkpoint(self.checkpoint_dir)

    def train(self, resume: bool = True) -> TrainResult:
        c, s = self.config, self.state
        torch.manual_seed(c.seed)
        self._best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if resume and has_checkpoint(self.checkpoint_dir):
            self.load_checkpoint(self.checkpoint_dir)
            s = self.state
            if s.stopped_because != "max_reductions":  # caps may have been raised since: carry on
                s.stopped_because = ""
        n_batches = (len(self.train_sequences) + c.batch_size - 1) // c.batch_size
        started = time.monotonic() - s.seconds
        bar = tqdm(total=c.max_epochs * n_batches, initial=s.epoch * n_batches + s.batch_in_epoch,
                   disable=not c.progress, desc="train ranker", unit="batch")
        self.model.train()
        while not s.stopped_because:
            if s.epoch >= c.max_epochs:
                s.stopped_because = "max_epochs"
                break
            order = np.random.default_rng([c.seed, s.epoch]).permutation(len(self.train_sequences))
            for index in range(s.batch_in_epoch, n_batches):
                batch = self._train_batch(s.epoch, index, order[index * c.batch_size:(index + 1) * c.batch_size])
                s.batch_in_epoch = index + 1
                bar.update(1)
                if batch is None:
                    continue
                loss = balanced_loss(self._logits(batch), batch.positive_mask, batch.negative_mask)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), c.clip)
                self.optimizer.step()
                s.step += 1
                s.seconds = time.monotonic() - started
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}", lr=f"{s.lr:.2g}")
                if s.step % c.eval_every == 0:
                    self._assess()
                    if s.reductions >= c.max_reductions:
                        s.stopped_because = "max_reductions"
                if s.seconds >= c.max_seconds and not s.stopped_because:
                    s.stopped_because = "max_seconds"
                if s.stopped_because:
                    break
            else:
                s.epoch, s.batch_in_epoch = s.epoch + 1, 0
        bar.close()
        if not s.history or s.history[-1]["step"] != s.step:
            self._assess()  # also checkpoints
        elif self.checkpoint_dir:
            self.save_checkpoint(self.checkpoint_dir)
        self.model.load_state_dict(self._best)  # the checkpoint keeps the latest weights, best/ the best
        self.model.eval()
        return TrainResult(self.model, s)

    # ------------------------------------------------------------ checkpoints (eccr.rank.checkpoint)
    def save_checkpoint(self, directory: str | Path) -> None:
        save_checkpoint(directory, self.model, self.optimizer, self.state, config=self.config.to_dict())

    def load_checkpoint(self, directory: str | Path) -> None:
        checkpoint = load_checkpoint(directory, self.model, self.optimizer)
        self.state = checkpoint.state
        if checkpoint.best is not None:
            self._best = checkpoint.best


def train_attention_cf(item_vectors: ItemVectors, train_sequences: Sequence[Sequence[str]],
                       config: RankerConfig | None = None, valid_sequences: Sequence[Sequence[str]] | None = None,
                       ordered: bool = True, checkpoint_dir: str | Path | None = None,
                       resume: bool = True) -> TrainResult:
    """Builds an `AttentionCF` for these vectors (seeded orthogonal init) and trains it."""
    config = config or RankerConfig()
    torch.manual_seed(config.seed)
    model = AttentionCF(item_vectors.dim, hops=config.hops, hidden=config.hidden, null_slot=config.null_slot)
    trainer = RankerTrainer(model, item_vectors, train_sequences, config, valid_sequences, ordered, checkpoint_dir)
    return trainer.train(resume=resume)
