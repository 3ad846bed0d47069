"""Inference with the (fine-tuned) LM: scoring candidate items, constrained item generation, explanations.

ECCR (Li et al., 2024) lets the LLM name complementary items through their semantic-ID tokens and explain the
pairing in text. Three ways to use the model, all taking prompts rendered by `models.render_prompt` (the same
rendering as training):
  * `score_items`     -- teacher-forced log-probability of each candidate's ID tokens after one prompt; the
                         prompt runs once and its KV cache is shared by all candidates. This is how the LM
                         re-ranks the ranker's top candidates.
  * `generate_items`  -- beam search restricted by `prefix_allowed_tokens_fn` to a trie of valid item IDs, so
                         only real items can come out (Hugging Face `generate`, as in TIGER/LC-Rec decoding).
  * `generate_texts`  -- batched free-text generation (left padding, KV cache, greedy or seeded sampling).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from eccr.llm.config import GenerationConfig
from eccr.llm.models import autocast_context, render_prompt
from eccr.quantize.trie import TokenIdTrie, item_token_ids


# ------------------------------------------------------------------------------------------------- helpers
def _device(model) -> torch.device:
    return next(model.parameters()).device


def _encode_prompts(tokenizer, prompts: Sequence[str], render: bool, suffix: str = "") -> dict:
    texts = [(render_prompt(tokenizer, p) if render else p) + suffix for p in prompts]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side


def _eos_ids(model, tokenizer) -> list[int]:
    ids = {tokenizer.eos_token_id}
    cfg = getattr(model, "generation_config", None)
    extra = getattr(cfg, "eos_token_id", None) if cfg is not None else None
    ids.update([extra] if isinstance(extra, int) else (extra or []))
    return sorted(i for i in ids if i is not None)


# --------------------------------------------------------------------------------------------- (a) scoring
@torch.no_grad()
def score_items(
    model,
    tokenizer,
    prompt: str,
    candidate_token_lists: Sequence[Sequence[str]],
    *,
    render: bool = True,
    completion_prefix: str = "",
    length_normalize: bool = False,
    use_prompt_cache: bool = True,
    bf16: bool = False,
) -> torch.Tensor:
    """log P(candidate ID tokens | prompt) for each candidate, shape [K] (float32, on CPU).

    The prompt (rendered with the chat template when `render`, then `completion_prefix`) runs once; its KV
    cache is repeated K times and all candidates are teacher-forced in one batch. `use_prompt_cache=False`
    runs prompt+candidate for every row instead (same numbers; the reference the tests compare to).
    `length_normalize` divides by the number of ID tokens (for IDs of different lengths)."""
    if len(candidate_token_lists) == 0:
        return torch.zeros(0)
    cand = item_token_ids(tokenizer, candidate_token_lists)
    device = _device(model)
    lengths = torch.tensor([len(c) for c in cand])
    width = int(lengths.max())
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    cand_ids = torch.full((len(cand), width), pad, dtype=torch.long)
    for row, ids in enumerate(cand):
        cand_ids[row, : len(ids)] = torch.tensor(ids)
    mask = torch.arange(width)[None, :] < lengths[:, None]
    prompt_ids = _encode_prompts(tokenizer, [prompt], render, completion_prefix)["input_ids"].to(device)
    with autocast_context(str(device), bf16):
        if use_prompt_cache:
            token_logp = _score_with_prompt_cache(model, prompt_ids, cand_ids.to(device))
        else:
            token_logp = _score_full_batch(model, prompt_ids, cand_ids.to(device))
    total = (token_logp.float().cpu() * mask).sum(dim=1)
    return total / lengths if length_normalize else total


def _score_with_prompt_cache(model, prompt_ids: torch.Tensor, cand_ids: torch.Tensor) -> torch.Tensor:
    k, width = cand_ids.shape
    out = model(input_ids=prompt_ids, use_cache=True)
    first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)[cand_ids[:, 0]]  # [K]
    if width == 1:
        return first[:, None]
    cache = out.past_key_values
    cache.batch_repeat_interleave(k)
    attention = torch.ones((k, prompt_ids.shape[1] + width - 1), dtype=torch.long, device=prompt_ids.device)
    rest = model(input_ids=cand_ids[:, :-1], past_key_values=cache, attention_mask=attention, use_cache=True)
    logp = torch.log_softmax(rest.logits.float(), dim=-1).gather(2, cand_ids[:, 1:, None]).squeeze(2)
    return torch.cat([first[:, None], logp], dim=1)


def _score_full_batch(model, prompt_ids: torch.Tensor, cand_ids: torch.Tensor) -> torch.Tensor:
    k, width = cand_ids.shape
    p = prompt_ids.shape[1]
    inputs = torch.cat([prompt_ids.expand(k, -1), cand_ids], dim=1)
    logits = model(input_ids=inputs, use_cache=False).logits[:, p - 1 : p - 1 + width]
    return torch.log_softmax(logits.float(), dim=-1).gather(2, cand_ids[:, :, None]).squeeze(2)


# ------------------------------------------------------------------------------- (b) constrained generation
@torch.no_grad()
def generate_items(
    model,
    tokenizer,
    prompts: str | Sequence[str],
    items: Sequence[Sequence[str]] | TokenIdTrie,
    *,
    num_items: int = 5,
    num_beams: int | None = None,
    render: bool = True,
    completion_prefix: str = "",
    bf16: bool = False,
) -> list[list[tuple[tuple[str, ...], float]]]:
    """Top `num_items` valid items per prompt by constrained beam search: [(id_tokens, log_prob), ...] best first.

    Only sequences in the item trie (then eos) can be produced, so every answer is a real item, even for an
    untrained model. `items` are token lists (`[["<a_1>", "<b_2>"], ...]`) or a prebuilt trie
    (eccr.quantize.trie.TokenIdTrie). `log_prob` is the summed log-probability of the ID tokens and the closing eos."""
    single = isinstance(prompts, str)
    prompts = [prompts] if single else list(prompts)
    trie = items if isinstance(items, TokenIdTrie) else TokenIdTrie.from_tokens(tokenizer, items)
    if len(trie) == 0:
        raise ValueError("generate_items needs at least one item")
    num_beams = max(num_beams or num_items, num_items)
    enc = _encode_prompts(tokenizer, prompts, render, completion_prefix).to(_device(model))
    prompt_len = enc["input_ids"].shape[1]

    with autocast_context(str(_device(model)), bf16):
        out = model.generate(
            **enc,
            max_new_tokens=trie.depth + 1,
            num_beams=num_beams,
            num_return_sequences=num_beams,
            do_sample=False,
            length_penalty=0.0,           # score = summed log-prob, not length-normalised
            early_stopping=True,
            prefix_allowed_tokens_fn=trie.prefix_allowed_tokens_fn(prompt_len),
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=trie.end_token_ids,
            output_scores=True,
            return_dict_in_generate=True,
        )
    sequences = out.sequences[:, prompt_len:].tolist()
    scores = out.sequences_scores.float().tolist()
    results = []
    for p in range(len(prompts)):
        found: dict[tuple[int, ...], float] = {}
        for seq, score in zip(sequences[p * num_beams : (p + 1) * num_beams], scores[p * num_beams : (p + 1) * num_beams]):
            ids = tuple(_strip_end(seq, trie.end_token_ids, tokenizer.pad_token_id))
            if ids in trie and score > float("-inf") and ids not in found:
                found[ids] = score
        ranked = sorted(found.items(), key=lambda kv: -kv[1])[:num_items]
        results.append([(tuple(tokenizer.convert_ids_to_tokens(list(ids))), s) for ids, s in ranked])
    return results


def _strip_end(seq: list[int], end_ids: Sequence[int], pad_id: int | None) -> list[int]:
    out = []
    for tok in seq:
        if tok in end_ids or tok == pad_id:
            break
        out.append(tok)
    return out


# ------------------------------------------------------------------------------------ (c) free-text output
@torch.no_grad()
def generate_texts(
    model,
    tokenizer,
    prompts: Sequence[str],
    config: GenerationConfig | None = None,
    *,
    render: bool = True,
    bf16: bool = False,
) -> list[str]:
    """One generated answer per prompt (e.g. an explanation), in batches of `config.batch_size` with left
    padding and the KV cache; greedy unless `config.do_sample` (then seeded with `config.seed`).
    `config.stop_at_newline` ends each answer at the first token holding a line break (that token's text before
    the break is kept): a batch stops as soon as every answer has its first line."""
    config = config or GenerationConfig()
    if isinstance(prompts, str):
        raise ValueError("prompts must be a list of strings")  # noqa: TRY004 - a value error to callers
    device = _device(model)
    eos = _eos_ids(model, tokenizer)
    newlines = newline_token_ids(tokenizer) if config.stop_at_newline else frozenset()
    sampling = {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p} if config.do_sample \
        else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    if config.do_sample:
        torch.manual_seed(config.seed)
    drop = set(eos) | {tokenizer.pad_token_id, tokenizer.bos_token_id}
    texts: list[str] = []
    for start in range(0, len(prompts), config.batch_size):
        enc = _encode_prompts(tokenizer, prompts[start : start + config.batch_size], render).to(device)
        with autocast_context(str(device), bf16):
            out = model.generate(
                **enc, max_new_tokens=config.max_new_tokens, num_beams=1, use_cache=True,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=eos + sorted(newlines), **sampling,
            )
        for row in out[:, enc["input_ids"].shape[1] :].tolist():
            kept = []
            for tok in row:
                if tok in eos:
                    break
                if tok not in drop:
                    kept.append(tok)
                if tok in newlines:
                    break
            text = tokenizer.decode(kept, skip_special_tokens=False)
            texts.append((text.split("\n")[0] if newlines else text).strip())
    return texts


_NEWLINE_IDS: dict[tuple[str, int], frozenset[int]] = {}


def newline_token_ids(tokenizer) -> frozenset[int]:
    """Ids of the tokens whose text holds a line break (cached per tokenizer name and size)."""
    key = (getattr(tokenizer, "name_or_path", ""), len(tokenizer))
    if key not in _NEWLINE_IDS:
        _NEWLINE_IDS[key] = frozenset(i for tok, i in tokenizer.get_vocab().items()
                                      if "\n" in tokenizer.convert_tokens_to_string([tok]))
    return _NEWLINE_IDS[key]


def shared_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all `sequences` share, so their KV cache is computed once: at most the shortest
    length - 1, since every sequence keeps at least its last token (whose logits are wanted). A single sequence
    shares all but its last token."""
    limit = min(len(s) for s in sequences) - 1
    shared = 0
    while shared < limit and all(s[shared] == sequences[0][shared] for s in sequences):
        shared += 1
    return shared
