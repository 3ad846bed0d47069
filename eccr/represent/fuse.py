"""Fusion: the one item vector later stages use, plus the directed source/target vectors for retrieval.

`fuse` concatenates L2-normalised blocks, each scaled by sqrt(weight) so that the dot product of two fused
vectors is Σ_blocks weight · cosine(block):
    [ text | behaviour (zeros where the item has none) | directed source | directed target | missing flag ]
Rows are the items with text (every item the directed towers can describe); the missing flag is 1 where the
item has no behaviour vector (cold), so a downstream model can tell "unknown" from "orthogonal".

The main retrieval index is built over `DirectedVectors.target` and queried with `DirectedVectors.source`
(score(A→B) = s(A)·t(B)); the fused neighbour index holds `content_vectors`, the blocks every item has.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eccr.represent.config import FusionConfig
from eccr.represent.vectors import ItemVectors


@dataclass
class DirectedVectors:
    source: ItemVectors   # query side: s(A)
    target: ItemVectors   # index side: t(B)

    def score(self, source_ids, target_ids) -> np.ndarray:
        """Element-wise s(source_i)·t(target_i)."""
        return np.einsum("nd,nd->n", self.source.lookup(source_ids), self.target.lookup(target_ids))


def _aligned_block(vectors: ItemVectors | None, ids: list[str], weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(block, present) for `ids`: normalised rows × sqrt(weight), zeros (present=False) where missing."""
    if vectors is None:
        return np.zeros((len(ids), 0), np.float32), np.zeros(len(ids), bool)
    pos = vectors.position(ids)
    block = np.zeros((len(ids), vectors.dim), np.float32)
    present = pos >= 0
    block[present] = vectors.normalized().vectors[pos[present]] * np.sqrt(weight)
    return block, present


def fuse(text: ItemVectors, behaviour: ItemVectors | None = None, directed: DirectedVectors | None = None,
         config: FusionConfig | None = None) -> ItemVectors:
    """One vector per item with text: see the module docstring for the layout; `meta['blocks']` names it."""
    config = config or FusionConfig()
    if min(config.text_weight, config.behaviour_weight, config.directed_weight) < 0:
        raise ValueError("fusion weights must be non-negative")
    ids = list(text.ids)
    blocks, layout, offset = [], [], 0

    def add(name: str, block: np.ndarray) -> None:
        nonlocal offset
        if block.shape[1]:
            blocks.append(block)
            layout.append([name, offset, offset + block.shape[1]])
            offset += block.shape[1]

    add("text", _aligned_block(text, ids, config.text_weight)[0])
    behaviour_block, has_behaviour = _aligned_block(behaviour, ids, config.behaviour_weight)
    add("behaviour", behaviour_block)
    if directed is not None:
        for name, vectors in (("directed_source", directed.source), ("directed_target", directed.target)):
            block, present = _aligned_block(vectors, ids, config.directed_weight)
            if not present.all():
                raise ValueError(f"{name} vectors are missing for item {ids[int(np.argmin(present))]!r}; "
                                 "directed vectors must cover every item with text")
            add(name, block)
    if config.missing_flag and behaviour is not None:
        add("behaviour_missing", (~has_behaviour).astype(np.float32)[:, None])
    meta = {"kind": "fused", "blocks": layout, "behaviour_coverage": round(float(has_behaviour.mean()), 4)}
    return ItemVectors(ids, np.concatenate(blocks, axis=1), meta)


def shared_block_cosine(fused: ItemVectors, query: str, candidates: list[str], missing: float = 0.0) -> np.ndarray:
    """Cosine of `query`'s fused vector with each candidate's over the blocks both have, the missing flag left out.

    The plain cosine of two fused vectors counts the missing flag (two cold items share it) and the behaviour block
    only one of them has (its weight enlarges one norm): both depend on whether the items were bought in the train
    part, not on what they are, so a cold query's plain fused cosine prefers every cold candidate. `missing` for
    candidates without a fused vector."""
    blocks = _block_ranges(fused, leave_out=("behaviour_missing",))
    q = fused.lookup([query])[0]
    pos = fused.position(candidates)
    out = np.full(len(candidates), missing, dtype=np.float64)
    ok = pos >= 0
    rows = fused.vectors[pos[ok]]
    dots = np.stack([rows[:, s:e] @ q[s:e] for s, e in blocks], axis=1)
    q_norm2 = np.array([q[s:e] @ q[s:e] for s, e in blocks])
    c_norm2 = np.stack([np.einsum("nd,nd->n", rows[:, s:e], rows[:, s:e]) for s, e in blocks], axis=1)
    shared = (q_norm2 > 0)[None, :] & (c_norm2 > 0)
    denominator = np.sqrt((q_norm2[None, :] * shared).sum(1) * (c_norm2 * shared).sum(1))
    out[ok] = np.where(denominator > 0, (dots * shared).sum(1) / np.maximum(denominator, 1e-12), 0.0)
    return out


def _block_ranges(fused: ItemVectors, leave_out: tuple[str, ...]) -> list[tuple[int, int]]:
    """(start, end) of each block in `meta['blocks']` but those named in `leave_out`; the whole vector without a layout."""
    return [(start, end) for name, start, end in fused.meta.get("blocks") or [] if name not in leave_out] \
        or [(0, fused.dim)]


def content_columns(fused: ItemVectors) -> np.ndarray:
    """Columns of the blocks every item has (text, directed): all but the behaviour block and the missing flag."""
    return np.concatenate([np.arange(start, end)
                           for start, end in _block_ranges(fused, leave_out=("behaviour", "behaviour_missing"))])


def content_vectors(fused: ItemVectors) -> ItemVectors:
    """The fused vectors without the behaviour block and the missing flag. Whether an item has those depends on
    whether it was bought in the train part, not on what it is, so nearest neighbours of the full fused vectors
    lean to items of the query's status (a new query's to new items); these do not (the fused neighbour index of
    eccr/rank/candidates.py)."""
    return ItemVectors(list(fused.ids), np.ascontiguousarray(fused.vectors[:, content_columns(fused)]),
                       {**{k: v for k, v in fused.meta.items() if k != "blocks"}, "kind": "fused_content"})
