
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import WhitespaceSplit
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from eccr.quantize.semantic_ids import SemanticIDTable, build_semantic_ids
from eccr.quantize.trie import PrefixTrie, SemanticIDTrie, TokenIdTrie

from .conftest import as_item_vectors, small_config

# four items; IDs share prefixes so the trie has real branching
TABLE = SemanticIDTable(["cam", "bat", "card", "bag"],
                        np.array([[1, 2, 3], [1, 2, 4], [1, 5, 0], [7, 0, 0]]), {"strategy": "nearest_free"})


def tiny_tokenizer(extra_tokens: list[str]) -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(["[UNK]", "</s>", "recommend", "for", "camera", ":"])}
    backend = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", eos_token="</s>",
                                        pad_token="</s>")
    tokenizer.add_tokens(extra_tokens, special_tokens=True)
    return tokenizer


def test_allowed_next_matches_brute_force():
    trie = SemanticIDTrie.from_table(TABLE)
    sequences = TABLE.token_sequences()
    prefixes = {tuple(s[:k]) for s in sequences for k in range(4)}
    for prefix in prefixes:
        expected = {s[len(prefix)] for s in sequences if tuple(s[:len(prefix)]) == prefix and len(s) > len(prefix)}
        assert trie.allowed_next(list(prefix)) == expected
    assert trie.allowed_next([]) == {"<a_1>", "<a_7>"}
    assert trie.allowed_next(["<a_1>", "<b_2>"]) == {"<c_3>", "<c_4>"}
    assert trie.allowed_next(["<a_7>", "<b_0>", "<c_0>"]) == set()  # complete
    assert trie.allowed_next(["<a_2>"]) == set()  # invalid prefix
    assert trie.is_complete(["<a_1>", "<b_5>", "<c_0>"]) and not trie.is_complete(["<a_1>", "<b_5>"])
    assert len(trie) == 4


def test_trie_on_a_built_table_accepts_only_real_ids(clustered):
    table, _, _ = build_semantic_ids(as_item_vectors(clustered), small_config())
    trie = SemanticIDTrie.from_table(table)
    assert len(trie) == len(table)
    assert all(seq in trie for seq in table.token_sequences())
    valid = set(map(tuple, table.codes.tolist()))
    rng = np.random.default_rng(0)
    for code in rng.integers(0, 16, (200, 4)):
        tokens = [f"<{'abcd'[l]}_{c}>" for l, c in enumerate(code)]
        assert (tokens in trie) == (tuple(code.tolist()) in valid)


def test_candidate_subset_restricts_continuations():
    trie = SemanticIDTrie.from_table(TABLE, item_ids=["bat", "bag"])
    assert trie.allowed_next([]) == {"<a_1>", "<a_7>"}
    assert trie.allowed_next(["<a_1>"]) == {"<b_2>"}  # "card" (<b_5>) is not a candidate
    assert trie.allowed_next(["<a_1>", "<b_2>"]) == {"<c_4>"}


def test_token_id_trie_maps_tokens_and_ends_with_eos():
    tokenizer = tiny_tokenizer(TABLE.all_tokens())
    trie = TokenIdTrie.from_table(TABLE, tokenizer)
    ids = lambda toks: tokenizer.convert_tokens_to_ids(toks)
    assert trie.allowed_next_ids([]) == sorted(ids(["<a_1>", "<a_7>"]))
    assert trie.allowed_next_ids(ids(["<a_1>", "<b_2>"])) == sorted(ids(["<c_3>", "<c_4>"]))
    assert trie.allowed_next_ids(ids(["<a_1>", "<b_2>", "<c_3>"])) == [tokenizer.eos_token_id]
    assert trie.allowed_next_ids(ids(["camera"])) == [tokenizer.eos_token_id]  # invalid: stop


def test_token_id_trie_needs_the_tokens_in_the_tokenizer():
    with pytest.raises(ValueError, match="not in the tokenizer's vocabulary"):
        TokenIdTrie.from_table(TABLE, tiny_tokenizer([]))


def test_constrained_generation_yields_a_candidate_item():
    tokenizer = tiny_tokenizer(TABLE.all_tokens())
    trie = TokenIdTrie.from_table(TABLE, tokenizer, item_ids=["bat", "card"])
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=16, n_layer=1, n_head=2,
                                       n_positions=32, eos_token_id=tokenizer.eos_token_id))
    prompt = tokenizer("recommend for camera :", return_tensors="pt")
    length = prompt["input_ids"].shape[1]
    for beams in (1, 3):
        out = model.generate(**prompt, max_new_tokens=5, do_sample=False, num_beams=beams,
                             num_return_sequences=beams, pad_token_id=tokenizer.eos_token_id,
                             prefix_allowed_tokens_fn=trie.prefix_allowed_tokens_fn(length))
        for row in out:
            tokens = [t for t in tokenizer.convert_ids_to_tokens(row[length:].tolist()) if t != "</s>"]
            assert TABLE.item_for(tokens) in {"bat", "card"}


def test_prefix_trie_rejects_empty_sequences():
    with pytest.raises(ValueError, match="empty"):
        PrefixTrie([[]])
