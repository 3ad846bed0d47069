"""Prefix trie of valid semantic IDs, for constrained decoding: the LM can only spell real items.

`SemanticIDTrie` works on token strings ("<a_12>"); `TokenIdTrie` on a Hugging Face tokenizer's token ids and
provides the body of `prefix_allowed_tokens_fn` for `model.generate` (the same approach as TIGER / LC-Rec
constrained beam search; eccr.llm.generate.generate_items uses it). Either can be restricted to a candidate
subset, e.g. the ranker's top candidates.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

from eccr.quantize.semantic_ids import SemanticIDTable


class PrefixTrie:
    """Set of equal- or mixed-length symbol sequences with O(length) prefix queries."""

    def __init__(self, sequences: Iterable[Sequence[Hashable]]):
        self._root: dict = {}
        self._size = 0
        for seq in sequences:
            self.insert(seq)

    def insert(self, sequence: Sequence[Hashable]) -> None:
        if len(sequence) == 0:
            raise ValueError("cannot insert an empty sequence into the trie")
        node = self._root
        for symbol in sequence:
            node = node.setdefault(symbol, {})
        if None not in node:  # None marks the end of a complete sequence
            node[None] = True
            self._size += 1

    def _node(self, prefix: Sequence[Hashable]) -> dict | None:
        node = self._root
        for symbol in prefix:
            node = node.get(symbol)
            if node is None:
                return None
        return node

    def allowed_next(self, prefix: Sequence[Hashable]) -> set:
        """Symbols that extend `prefix` towards a valid sequence; empty if complete-only or invalid."""
        node = self._node(prefix)
        return set() if node is None else {s for s in node if s is not None}

    def is_complete(self, prefix: Sequence[Hashable]) -> bool:
        node = self._node(prefix)
        return node is not None and None in node

    def is_valid_prefix(self, prefix: Sequence[Hashable]) -> bool:
        return self._node(prefix) is not None

    def __contains__(self, sequence: Sequence[Hashable]) -> bool:
        return self.is_complete(sequence)

    def __len__(self) -> int:
        return self._size


def item_token_ids(tokenizer, items: Iterable[Sequence[str]]) -> list[list[int]]:
    """Token ids of each item's ID tokens (`[["<a_1>", "<b_2>"], ...]`); every token must be a single entry of the
    tokenizer's vocabulary (eccr.llm.tokens.add_semantic_tokens puts them there)."""
    items = [list(item) for item in items]
    empty = [i for i, item in enumerate(items) if not item]
    if empty:
        raise ValueError(f"item {empty[0]} has no tokens")
    vocab = tokenizer.get_vocab()
    missing = sorted({t for item in items for t in item if t not in vocab})
    if missing:
        raise ValueError(f"{len(missing)} semantic-ID tokens are not in the tokenizer's vocabulary, e.g. "
                         f"{missing[:3]}; add them first (eccr.llm.tokens.add_semantic_tokens)")
    return [[vocab[t] for t in item] for item in items]


class SemanticIDTrie(PrefixTrie):
    """Trie over the token strings of a table's IDs, optionally only for `item_ids` (candidate subset)."""

    @classmethod
    def from_table(cls, table: SemanticIDTable, item_ids: Iterable[str] | None = None) -> SemanticIDTrie:
        return cls(table.token_sequences(item_ids))


class TokenIdTrie(PrefixTrie):
    """Trie over tokenizer ids of semantic-ID tokens, in the form constrained generation needs:
    `allowed_next_ids(prefix)` lists the ids that keep `prefix` inside some item, plus `end_token_ids` once it is
    a complete item (and for an invalid prefix, so generation stops instead of failing); `depth` is the longest
    item in tokens (the generation budget). eccr.llm.generate.generate_items decodes with it."""

    def __init__(self, sequences: Iterable[Sequence[int]], end_token_ids: Sequence[int] = ()):
        self.depth = 0
        super().__init__(sequences)
        self.end_token_ids = [int(i) for i in end_token_ids]

    def insert(self, sequence: Sequence[int]) -> None:
        super().insert([int(t) for t in sequence])
        self.depth = max(self.depth, len(sequence))

    def __contains__(self, sequence: Sequence[int]) -> bool:
        return self.is_complete([int(t) for t in sequence])

    @classmethod
    def from_tokens(cls, tokenizer, items: Iterable[Sequence[str]],
                    end_token_ids: Sequence[int] | None = None) -> TokenIdTrie:
        """Items given as token strings (`[["<a_1>", "<b_2>"], ...]`); every token must be a single entry of the
        tokenizer's vocabulary. `end_token_ids` defaults to the tokenizer's eos token."""
        if end_token_ids is None:
            end_token_ids = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
        return cls(item_token_ids(tokenizer, items), end_token_ids)

    @classmethod
    def from_table(cls, table: SemanticIDTable, tokenizer, item_ids: Iterable[str] | None = None,
                   end_token_ids: Sequence[int] | None = None) -> TokenIdTrie:
        """The table's IDs (or only `item_ids`, e.g. the ranker's top candidates) as token ids."""
        return cls.from_tokens(tokenizer, table.token_sequences(item_ids), end_token_ids)

    def allowed_next_ids(self, prefix_ids: Sequence[int]) -> list[int]:
        """Token ids that may follow the generated `prefix_ids`; end tokens once an ID is complete."""
        prefix = [int(i) for i in prefix_ids]
        allowed = sorted(self.allowed_next(prefix))
        if self.is_complete(prefix) or not allowed:
            allowed += [i for i in self.end_token_ids if i not in allowed]
        return allowed

    def prefix_allowed_tokens_fn(self, prompt_length: int) -> Callable:
        """A function for `model.generate(..., prefix_allowed_tokens_fn=...)` when the ID starts right after a
        (left-padded) prompt of `prompt_length` tokens: it constrains the tokens generated after the prompt."""
        if not self.end_token_ids:
            raise ValueError("TokenIdTrie needs end_token_ids to stop generation after a complete ID")

        def allowed(batch_id: int, input_ids) -> list[int]:
            return self.allowed_next_ids(input_ids[prompt_length:].tolist())

        return allowed
