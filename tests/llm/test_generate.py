"""Scoring candidates, constrained item generation and batched explanations on the tiny model."""
from __future__ import annotations

import pytest
import torch

from eccr.llm.config import GenerationConfig
from eccr.llm.generate import generate_items, generate_texts, score_items
from eccr.quantize.trie import TokenIdTrie, item_token_ids


def test_trie_allows_only_item_continuations():
    trie = TokenIdTrie([[5, 6, 7], [5, 8], [5, 8, 9]], end_token_ids=[0])
    assert trie.allowed_next_ids([]) == [5]
    assert trie.allowed_next_ids([5]) == [6, 8]
    assert sorted(trie.allowed_next_ids([5, 8])) == [0, 9]  # [5, 8] is complete and also a prefix
    assert trie.allowed_next_ids([5, 6, 7]) == [0] and trie.allowed_next_ids([4]) == [0]
    assert [5, 8] in trie and [5, 6] not in trie and trie.depth == 3


def test_unknown_item_tokens_are_rejected(tiny_with_ids):
    _, tok, _ = tiny_with_ids
    with pytest.raises(ValueError, match="not in the tokenizer's vocabulary"):
        item_token_ids(tok, [["<a_1>", "<zz_1>"]])
    with pytest.raises(ValueError, match="no tokens"):
        item_token_ids(tok, [["<a_1>"], []])


def test_scores_shape_and_prompt_cache_matches_full_batch(tiny_with_ids, toy):
    model, tok, _ = tiny_with_ids
    cached = score_items(model, tok, toy.camera_prompt, toy.items)
    full = score_items(model, tok, toy.camera_prompt, toy.items, use_prompt_cache=False)
    assert cached.shape == (len(toy.items),) and torch.all(cached < 0)
    assert torch.allclose(cached, full, atol=1e-4)
    normalised = score_items(model, tok, toy.camera_prompt, toy.items, length_normalize=True)
    assert torch.allclose(normalised, cached / torch.tensor([len(i) for i in toy.items]), atol=1e-5)
    assert score_items(model, tok, toy.camera_prompt, []).shape == (0,)


def test_constrained_generation_emits_only_valid_items_untrained(tiny_with_ids, toy):
    model, tok, _ = tiny_with_ids
    valid = {tuple(i) for i in toy.items}
    results = generate_items(model, tok, [toy.camera_prompt, "a tent", "x"], toy.items, num_items=3, num_beams=6)
    assert len(results) == 3
    for ranked in results:
        assert len(ranked) == 3 and all(item in valid for item, _ in ranked)
        assert len({item for item, _ in ranked}) == 3
        assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    many = generate_items(model, tok, "x", toy.items, num_items=10)[0]  # more asked than exist
    assert {item for item, _ in many} == valid
    trie = TokenIdTrie.from_tokens(tok, toy.items)
    with pytest.raises(ValueError, match="at least one item"):
        generate_items(model, tok, "x", [])
    assert generate_items(model, tok, "x", trie, num_items=2)[0] == generate_items(model, tok, "x", toy.items,
                                                                                 num_items=2)[0]


def test_fine_tuned_model_prefers_the_trained_item(trained, toy):
    model, tok, _, _ = trained
    scores = score_items(model, tok, toy.camera_prompt, toy.items)
    assert toy.items[int(scores.argmax())] == toy.trained_item
    top = generate_items(model, tok, toy.camera_prompt, toy.items, num_items=2)[0]
    assert list(top[0][0]) == toy.trained_item


def test_batched_texts_match_one_by_one_and_sampling_is_seeded(tiny):
    model, tok = tiny
    prompts = ["Explain why a camera needs a battery", "tent", "Why a bag and a lens go together, briefly?"]
    greedy = GenerationConfig(max_new_tokens=8, batch_size=8)
    batched = generate_texts(model, tok, prompts, greedy)
    alone = [generate_texts(model, tok, [p], greedy)[0] for p in prompts]
    assert batched == alone and len(batched) == 3
    sampled = GenerationConfig(max_new_tokens=8, do_sample=True, seed=3, batch_size=2)
    first = generate_texts(model, tok, prompts, sampled)
    assert first == generate_texts(model, tok, prompts, sampled)
    assert any(first) and first != generate_texts(model, tok, prompts, GenerationConfig(
        max_new_tokens=8, do_sample=True, seed=4, batch_size=2))
    with pytest.raises(ValueError):
        generate_texts(model, tok, "not a list", greedy)
