"""Semantic-ID tokens in the LM vocabulary.

ECCR (Li et al., 2024) compresses each item's behaviour representation into a few discrete codes ("<a_12><b_7>
<c_201>") and makes each code a token of the LLM, so the model can name items in its answers. Here we:
  1. add the codes as *special* tokens (never split, no stray space tokens: "<a_1><b_2><c_3>" -> 3 ids);
  2. grow the embedding matrix and initialise each new row from text -- the mean input embedding of the
     texts given for that code (e.g. the titles of the items whose ID uses it), not at random;
  3. hand back the new ids so sft.py trains ONLY those rows (PEFT `trainable_token_indices`), besides LoRA.
     The adapter then stores n_new x hidden values, never the whole resized matrix.
On a model with tied input/output embeddings (SmolLM2, Gemma-3) one set of rows serves both; on an untied model
the output rows are initialised the same way from the output matrix and trained too.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import pandas as pd

    from eccr.quantize.semantic_ids import SemanticIDTable

_NUMBER = re.compile(r"(\d+)")


def _natural_key(token: str) -> list:
    return [int(part) if part.isdigit() else part for part in _NUMBER.split(token)]


def semantic_tokens_from_items(items: Iterable[Sequence[str]]) -> list[str]:
    """Distinct code tokens of all items, in natural order (<a_2> before <a_10>) so ids do not depend on the
    order of the items."""
    tokens = {tok for item in items for tok in item}
    for tok in tokens:
        validate_semantic_token(tok)
    return sorted(tokens, key=_natural_key)


def validate_semantic_token(token: str) -> None:
    if not isinstance(token, str) or not token or any(ch.isspace() for ch in token):
        raise ValueError(f"semantic-ID token must be a non-empty string without whitespace, got {token!r}")


def token_texts_from_items(items: Sequence[Sequence[str]], titles: Sequence[str]) -> dict[str, list[str]]:
    """For each code token, the titles of the items whose ID contains it (used to initialise its embedding)."""
    if len(items) != len(titles):
        raise ValueError(f"items ({len(items)}) and titles ({len(titles)}) must have the same length")
    texts: dict[str, list[str]] = {}
    for item, title in zip(items, titles):
        for tok in item:
            texts.setdefault(tok, []).append(title)
    return texts


def _mean_rows(matrix: torch.Tensor, ids: list[int]) -> torch.Tensor | None:
    return matrix[ids].float().mean(dim=0) if ids else None


def _text_token_ids(tokenizer, texts: Sequence[str], limit: int) -> list[int]:
    ids: list[int] = []
    for text in texts[:limit]:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
    return ids


def add_semantic_tokens(
    model,
    tokenizer,
    tokens: Sequence[str],
    init_texts: Mapping[str, Sequence[str]] | None = None,
    max_texts_per_token: int = 64,
) -> list[int]:
    """Add `tokens` as special tokens, resize the model's embeddings and initialise the new rows from text.

    Each new row = mean input embedding of the (sub-word) tokens of `init_texts[token]` (at most
    `max_texts_per_token` texts); a token without text gets the mean of all pre-existing rows. Tokens already
    in the vocabulary are left as they are. Returns the ids of `tokens`, in order."""
    for tok in tokens:
        validate_semantic_token(tok)
    init_texts = init_texts or {}
    unknown = set(init_texts) - set(tokens)
    if unknown:
        raise ValueError(f"init_texts names tokens that are not being added: {sorted(unknown)[:5]}")
    vocab = tokenizer.get_vocab()
    new = [tok for tok in dict.fromkeys(tokens) if tok not in vocab]
    # text ids are computed before the new tokens exist, so a title can't refer to a fresh (untrained) row
    text_ids = {tok: _text_token_ids(tokenizer, init_texts.get(tok, ()), max_texts_per_token) for tok in new}
    if new:
        tokenizer.add_tokens(new, special_tokens=True)
        old_rows = model.get_input_embeddings().weight.shape[0]
        if len(tokenizer) > old_rows:
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        _initialise_rows(model, {tok: tokenizer.convert_tokens_to_ids(tok) for tok in new}, text_ids, old_rows)
    return tokenizer.convert_tokens_to_ids(list(tokens))


def add_table_tokens(model, tokenizer, table: SemanticIDTable, items: pd.DataFrame) -> list[int]:
    """A run's semantic-ID tokens in the LM: every token of `table`, each new row initialised from the titles of
    the items whose ID uses it (`items`: the item_id and title columns of the train catalogue). Returns the ids
    of `table.all_tokens()` (what sft.py trains besides LoRA)."""
    titles = dict(zip(items["item_id"], items["title"]))
    init_texts = token_texts_from_items([table.tokens_for(i) for i in table.item_ids],
                                        [titles.get(i, "") for i in table.item_ids])
    return add_semantic_tokens(model, tokenizer, table.all_tokens(), init_texts=init_texts)


@torch.no_grad()
def _initialise_rows(model, new_ids: dict[str, int], text_ids: dict[str, list[int]], old_rows: int) -> None:
    matrices = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight is not matrices[0] and output.weight.shape[0] == matrices[0].shape[0]:
        matrices.append(output.weight)  # untied: the output rows get the same treatment from their own matrix
    for matrix in matrices:
        fallback = matrix[:old_rows].float().mean(dim=0)
        for tok, row in new_ids.items():
            known = [i for i in text_ids[tok] if i < old_rows]
            mean = _mean_rows(matrix, known)
            matrix[row] = (fallback if mean is None else mean).to(matrix.dtype)


def trainable_token_indices(model, token_ids: Sequence[int]) -> list[int] | dict[str, list[int]]:
    """The `trainable_token_indices` value for peft.LoraConfig: a list (input embedding; tied output follows)
    for tied models, or {input_name: ids, output_name: ids} for untied ones."""
    ids = sorted({int(i) for i in token_ids})
    if not ids:
        raise ValueError("no token ids to train")
    input_emb, output_emb = model.get_input_embeddings(), model.get_output_embeddings()
    if output_emb is None or output_emb.weight is input_emb.weight:
        return ids
    names = {id(module): name for name, module in model.named_modules()}
    return {names[id(input_emb)].split(".")[-1]: ids, names[id(output_emb)].split(".")[-1]: ids}
