"""An LM that ranks: the LoRA-tuned LM reads a query item and one candidate and answers "yes" or "no".

ECCR (Li et al., 2024, ../shared/papers/eccr.txt) fine-tunes an LLM on complement tasks over items written as text
plus semantic-ID tokens. This module is its pointwise "is B a coherent complement of A?" task used as a ranking
score: the coherence score of a pair is the log-odds of the answer

    s(q, c) = log p(" yes" | prompt(q, c)) - log p(" no" | prompt(q, c))       (at the answer position)

where the prompt (prompts/pair.txt) holds both items' truncated titles, category leaves and semantic-ID tokens,
and the basket (the shopper's latest earlier items, with their IDs) when there is one.
It is a score for a blend or a reranker of the shipped ranking's top N (scripts/measure_lm_ranking.py).

Training data are the honest candidate lists of the TRAIN part (eccr/data/candidate_lists.py): per list the bundle
partner p is a " yes" and `negatives_per_positive` of its negatives are " no" -- one bought with q but not bundled,
one of p's leaf (or category-near), one random when the list has them. Every negative has p's seen status and no
known complement of q is one, so the LM cannot learn "prefer items nobody bought" here. Training reuses the SFT
path (eccr/llm/sft.py: TRL SFTTrainer, LoRA, completion-only loss, checkpoints every `save_steps`, resume from
the newest one), so the loss is the cross-entropy of " yes"/" no" (and the end token) after the prompt.

    python -m eccr.llm.pair_scorer --run runs/electronic --out runs/lm_pair/electronic --sft.max_steps 300
    # on a GPU, any local HF causal LM, with QLoRA (several GPUs: `accelerate launch -m eccr.llm.pair_scorer ...`):
    python -m eccr.llm.pair_scorer --run runs/electronic --out runs/lm_pair/big --model /models/Llama-3.2-1B \
        --device cuda --quantization 4bit --sft.bf16 true --sft.max_steps 3000
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from eccr.data.candidate_lists import CandidateList, CandidateLists
from eccr.data.categories import leaf_category
from eccr.llm.config import LoraSftConfig, PairScorerConfig
from eccr.llm.generate import shared_prefix_length
from eccr.llm.models import TINY_CHAT_TEMPLATE, render_prompt
from eccr.llm.tasks import truncate_title

log = logging.getLogger("eccr.llm.pair_scorer")
PAIR_TASK = "pair"
YES, NO = " yes", " no"                 # the two completions; the score is their log-odds
META_FILE = "pair_scorer.json"          # config and data counts, beside the checkpoints and in the adapter
KIND_GROUPS = (("co_bought",), ("same_leaf", "near_category"), ("random",))  # one "no" from each, in order


def drop_default_system_prompt(tokenizer) -> None:
    """SmolLM2's chat template adds a 20-token default system turn to every prompt; a ChatML tokenizer gets the
    plain ChatML template instead (saved with the adapter, so scoring renders prompts the same way). Other
    templates are kept."""
    template = getattr(tokenizer, "chat_template", None) or ""
    if "<|im_start|>" in template and "<|im_start|>" in tokenizer.get_vocab():
        tokenizer.chat_template = TINY_CHAT_TEMPLATE


class PairPrompts:
    """Renders the pair prompt for items with a title (`items`: item_id, title, category columns) and an ID."""

    def __init__(self, items: pd.DataFrame, id_strings: Mapping[str, str], config: PairScorerConfig | None = None):
        self.cfg = config or PairScorerConfig()
        self.template = Path(self.cfg.prompt_file).read_text().rstrip("\n")
        self.ids = dict(id_strings)
        titled = items[items["title"].str.len() > 0]
        self.title = {i: truncate_title(t, self.cfg.max_title_words) for i, t in zip(titled["item_id"], titled["title"])}
        self.leaf = {i: leaf_category(list(c)) for i, c in zip(titled["item_id"], titled["category"])}

    def __contains__(self, item: str) -> bool:
        return item in self.title

    def render(self, query: str, candidate: str, basket: Sequence[str] = ()) -> str:
        """The prompt for (query, candidate); `basket`: what the shopper has, oldest first (the latest
        `max_basket_items` with a title are shown; none: the prompt has no basket line)."""
        return self.template.format(
            query_title=self.title[query], query_leaf=self.leaf[query] or "-", query_ids=self.ids.get(query, ""),
            basket=self.basket_line(basket), target_title=self.title[candidate],
            target_leaf=self.leaf[candidate] or "-", target_ids=self.ids.get(candidate, ""))

    def basket_line(self, basket: Sequence[str]) -> str:
        """A new line "Has: <title> <IDs>; …" of the latest `max_basket_items` basket items with a title; "" for
        none, so a prompt without a basket is the prompt of a template without the field."""
        shown = [i for i in basket if i in self.title][-self.cfg.max_basket_items:] if self.cfg.max_basket_items else []
        words = max(1, self.cfg.max_title_words // 2)
        items = [f"{truncate_title(self.title[i], words)} {self.ids.get(i, '')}".strip() for i in shown]
        return "\nHas: " + "; ".join(items) if items else ""


def choose_negatives(pair: CandidateList, count: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(item, kind) of `count` negatives of one honest list: one per group of KIND_GROUPS that the list has
    (random within the group), then random others of the list."""
    order = rng.permutation(len(pair.negatives))
    chosen: list[int] = []
    for group in KIND_GROUPS:
        pick = next((int(i) for i in order if pair.kinds[i] in group and i not in chosen), None)
        if pick is not None and len(chosen) < count:
            chosen.append(pick)
    chosen += [int(i) for i in order if i not in chosen][:max(0, count - len(chosen))]
    return [(pair.negatives[i], pair.kinds[i]) for i in chosen]


def pair_examples(lists: CandidateLists, prompts: PairPrompts, config: PairScorerConfig | None = None
                  ) -> list[dict]:
    """SFT examples {prompt, completion, task, source, query, item} from honest lists: the positive -> " yes" (source
    "bundle"), chosen negatives -> " no" (source = their kind). Lists are shuffled (seeded) and capped at
    `max_lists`; items without a title are skipped."""
    config = config or PairScorerConfig()
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(lists.pairs))
    if config.max_lists > 0:
        order = order[:config.max_lists]
    rows = []
    for n in order:
        pair = lists.pairs[int(n)]
        if pair.query not in prompts or pair.positive not in prompts:
            continue
        rows.append({"prompt": prompts.render(pair.query, pair.positive, pair.history), "completion": YES,
                     "task": PAIR_TASK, "source": "bundle", "query": pair.query, "item": pair.positive})
        for item, kind in choose_negatives(pair, config.negatives_per_positive, rng):
            if item in prompts:
                rows.append({"prompt": prompts.render(pair.query, item, pair.history), "completion": NO,
                             "task": PAIR_TASK, "source": kind, "query": pair.query, "item": item})
    return rows


def answer_token_ids(tokenizer, prompt: str = "Answer yes or no.") -> tuple[int, int]:
    """Ids of the first token of " yes" and of " no" right after a rendered prompt, tokenized as TRL tokenizes
    prompt + completion in training (the prompt's tokens must be a prefix of the joint tokens)."""
    rendered = render_prompt(tokenizer, prompt)
    prefix = tokenizer(rendered)["input_ids"]
    out = []
    for answer in (YES, NO):
        ids = tokenizer(rendered + answer)["input_ids"]
        if ids[:len(prefix)] != prefix or len(ids) == len(prefix):
            raise ValueError(f"the tokenizer merges the answer {answer!r} into the prompt's last token")
        out.append(int(ids[len(prefix)]))
    if out[0] == out[1]:
        raise ValueError("' yes' and ' no' start with the same token; the log-odds would be 0")
    return out[0], out[1]


class PairScorer:
    """log p(" yes") - log p(" no") at the answer position, for batches of pair prompts."""

    def __init__(self, model, tokenizer, prompts: PairPrompts | None = None, batch_size: int = 16):
        self.model, self.tokenizer, self.prompts, self.batch_size = model, tokenizer, prompts, batch_size
        self.yes_id, self.no_id = answer_token_ids(tokenizer)

    @torch.no_grad()
    def score_prompts(self, prompts: Sequence[str]) -> np.ndarray:
        """Log-odds for raw prompts (rendered with the chat template, left-padded, last position only)."""
        self.tokenizer.padding_side = "left"
        device = next(self.model.parameters()).device
        out = np.empty(len(prompts))
        texts = [render_prompt(self.tokenizer, p) for p in prompts]
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths share a batch: less padding
        for start in range(0, len(texts), self.batch_size):
            rows = order[start:start + self.batch_size]
            enc = self.tokenizer([texts[i] for i in rows], return_tensors="pt", padding=True).to(device)
            logits = self.model(**enc, logits_to_keep=1).logits[:, -1, :].float()
            logp = torch.log_softmax(logits, dim=-1)
            out[rows] = (logp[:, self.yes_id] - logp[:, self.no_id]).cpu().numpy()
        return out

    def score(self, query: str, candidates: Sequence[str], basket: Sequence[str] = ()) -> np.ndarray:
        """Log-odds per candidate; NaN for a candidate (or query) the prompts do not know. The candidates'
        prompts share the query's part (and the basket's): it runs once and its KV cache serves every candidate."""
        if self.prompts is None:
            raise ValueError("PairScorer was built without PairPrompts; use score_prompts")
        known = [n for n, c in enumerate(candidates) if c in self.prompts and query in self.prompts]
        out = np.full(len(candidates), np.nan)
        if known:
            out[known] = self.score_shared_prefix([self.prompts.render(query, candidates[n], basket) for n in known])
        return out

    @torch.no_grad()
    def score_shared_prefix(self, prompts: Sequence[str]) -> np.ndarray:
        """`score_prompts` for prompts that start alike: the longest common token prefix runs once, each
        prompt's rest (right-padded) continues from its KV cache. Same numbers up to float rounding."""
        device = next(self.model.parameters()).device
        ids = [self.tokenizer(render_prompt(self.tokenizer, p))["input_ids"] for p in prompts]
        common = shared_prefix_length(ids)
        if common < 1:
            return self.score_prompts(prompts)
        decoder, head = self.model.get_decoder(), self.model.get_output_embeddings()
        prefix = torch.tensor([ids[0][:common]], device=device)
        cache = decoder(input_ids=prefix, use_cache=True).past_key_values
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out = np.empty(len(ids))
        for start in range(0, len(ids), self.batch_size):
            rows = [i[common:] for i in ids[start:start + self.batch_size]]
            width = max(len(r) for r in rows)
            suffix = torch.full((len(rows), width), pad, dtype=torch.long)
            for r, row in enumerate(rows):
                suffix[r, :len(row)] = torch.tensor(row)
            lengths = torch.tensor([len(r) for r in rows])
            mask = torch.cat([torch.ones(len(rows), common, dtype=torch.long),
                              (torch.arange(width)[None, :] < lengths[:, None]).long()], dim=1)
            batch_cache = copy.deepcopy(cache)
            batch_cache.batch_repeat_interleave(len(rows))
            positions = torch.arange(common, common + width)[None, :].expand(len(rows), -1)
            hidden = decoder(input_ids=suffix.to(device), attention_mask=mask.to(device),
                             position_ids=positions.to(device), past_key_values=batch_cache,
                             use_cache=True).last_hidden_state
            last = hidden[torch.arange(len(rows)), (lengths - 1).to(device)]
            logp = torch.log_softmax(head(last).float(), dim=-1)
            out[start:start + len(rows)] = (logp[:, self.yes_id] - logp[:, self.no_id]).cpu().numpy()
        return out


# ---------------------------------------------------------------------------------------------------- training
class WallClockStop:
    """A transformers TrainerCallback that ends training after `seconds` of this call (0 = never); the trainer
    then saves its adapter as at the end of a normal run."""

    def __init__(self, seconds: float):
        from transformers import TrainerCallback

        self.seconds, self.started = seconds, time.perf_counter()
        parent = self

        class _Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if parent.seconds > 0 and time.perf_counter() - parent.started > parent.seconds:
                    control.should_training_stop = True
                    control.should_save = True
                return control

        self.callback = _Stop()


def run_pair_data(run_dir: str | Path, config: PairScorerConfig, part: str = "train"):
    """(PairPrompts over the run's catalogue and semantic IDs, honest lists of `part` of the run's split)."""
    from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
    from eccr.quantize.semantic_ids import SemanticIDTable
    from eccr.run import Run, load_run_config, split_dataset

    run = Run(run_dir)
    _, split = split_dataset(load_run_config(run_dir))
    table = SemanticIDTable.load(run.semantic_ids)
    prompts = PairPrompts(split.train.catalog.items, {i: table.id_string(i) for i in table.item_ids}, config)
    lists = build_candidate_lists(split, part, CandidateListConfig(seed=config.list_seed))
    return prompts, lists, table, split


def train_pair_scorer(run_dir: str | Path, out_dir: str | Path, config: PairScorerConfig, sft: LoraSftConfig,
                      model_spec: str = "smollm2", resume: bool = True, cache_dir=None, data=None,
                      callbacks: Sequence = (), device: str = "auto", quantization: str = "none"):
    """Fine-tune the pair scorer on the run's honest TRAIN lists into `out_dir` (checkpoints there, the adapter in
    <out_dir>/adapter), resuming from the newest checkpoint there when `resume`. `data`: (prompts, lists, table,
    split) from `run_pair_data`, to skip rebuilding them; `callbacks`: extra transformers TrainerCallbacks.
    `model_spec` is any local HF causal LM folder or a packaged name; `device="cuda"` and `quantization="4bit"`
    (QLoRA) take the GPU paths of eccr.llm.models / eccr.llm.sft.
    Returns eccr.llm.sft.SftResult."""
    from datasets import Dataset as HFDataset

    from eccr.llm.models import load_causal_lm
    from eccr.llm.sft import is_main_process, train_sft
    from eccr.llm.tokens import add_table_tokens

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prompts, lists, table, split = data or run_pair_data(run_dir, config)
    examples = pair_examples(lists, prompts, config)
    sources = pd.Series([e["source"] for e in examples]).value_counts().to_dict()
    sft = dataclasses.replace(sft, output_dir=str(out_dir))
    meta = {"run": str(run_dir), "model": model_spec, "pair_scorer": dataclasses.asdict(config),
            "sft": dataclasses.asdict(sft), "lists": len(lists.pairs), "examples": len(examples),
            "examples_per_source": {k: int(v) for k, v in sources.items()}, "resume": resume}
    if is_main_process():
        (out_dir / META_FILE).write_text(json.dumps(meta, indent=1))
    log.info("pair scorer config: %s", json.dumps(meta))
    model, tokenizer = load_causal_lm(model_spec, device=device, quantization=quantization, cache_dir=cache_dir)
    drop_default_system_prompt(tokenizer)
    new_ids = add_table_tokens(model, tokenizer, table, split.train.catalog.items)
    stop = WallClockStop(config.max_seconds)
    result = train_sft(model, tokenizer, HFDataset.from_list(examples), sft, new_token_ids=new_ids,
                       base_spec=model_spec, resume=resume, callbacks=[stop.callback, *callbacks])
    meta.update(global_step=result.global_step, train_loss=result.train_loss, seconds=round(result.seconds, 1))
    if is_main_process():
        for folder in (out_dir, result.adapter_dir):
            (folder / META_FILE).write_text(json.dumps(meta, indent=1))
    return result


def load_pair_scorer(adapter_dir: str | Path, run_dir: str | Path | None = None, device: str = "cpu",
                     batch_size: int | None = None, merge: bool = True) -> PairScorer:
    """A PairScorer from a saved adapter (<out>/adapter, or a checkpoint <out>/checkpoint-N); with `run_dir`, prompts over that run's catalogue and semantic IDs
    (the pair scorer's config is read from the adapter's pair_scorer.json)."""
    from eccr.llm.sft import load_finetuned

    adapter_dir = Path(adapter_dir)
    meta_path = next((p for p in (adapter_dir / META_FILE, adapter_dir.parent / META_FILE) if p.is_file()), None)
    if meta_path is None:  # a checkpoint-N folder has its run's pair_scorer.json one level up
        raise ValueError(f"no {META_FILE} in {adapter_dir} or its parent: not a pair-scorer adapter")
    meta = json.loads(meta_path.read_text())
    config = PairScorerConfig(**meta["pair_scorer"])
    model, tokenizer = load_finetuned(adapter_dir, base_spec=meta.get("model"), device=device, merge=merge)
    prompts = None
    if run_dir is not None:
        from eccr.data.lookup import read_catalog
        from eccr.quantize.semantic_ids import SemanticIDTable
        from eccr.run import Run

        run = Run(run_dir)
        table = SemanticIDTable.load(run.semantic_ids)
        prompts = PairPrompts(read_catalog(run.catalog).items, {i: table.id_string(i) for i in table.item_ids},
                              config)
    return PairScorer(model, tokenizer, prompts, batch_size or config.batch_size)


@dataclasses.dataclass
class PairScorerJob:
    """`python -m eccr.llm.pair_scorer`: the pair prompts and examples, and their LoRA training."""

    pair: PairScorerConfig = dataclasses.field(default_factory=PairScorerConfig)  # prompts, examples, time cap
    sft: LoraSftConfig = dataclasses.field(default_factory=lambda: LoraSftConfig(
        max_steps=300, per_device_batch_size=8, learning_rate=3e-4, max_length=128, save_steps=25,
        logging_steps=5))  # LoRA training (checkpoints and adapter in --out)


def job_parser():
    """The command line: --run, --out, the model flags, and a flag per PairScorerJob field (`--pair.max_lists`,
    `--sft.max_steps`), generated from the dataclasses like `eccr train`'s."""
    import simple_parsing

    from eccr.config import add_config_flags, simple_parsing_modes

    parser = simple_parsing.ArgumentParser(description="Train the LM pair scorer on a run's honest train lists.",
                                           formatter_class=argparse.HelpFormatter, **simple_parsing_modes())
    parser.add_argument("--run", required=True, help="a trained run directory (its split and semantic IDs)")
    parser.add_argument("--out", required=True, help="checkpoints and adapter go here")
    parser.add_argument("--model", default="smollm2", help="packaged model name or a local HF causal-LM folder")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--quantization", default="none", help="none or 4bit (QLoRA, CUDA only)")
    parser.add_argument("--no-resume", action="store_true", help="start again instead of resuming")
    add_config_flags(parser, PairScorerJob, dest="job")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = job_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from eccr.run import load_run_config

    pair = args.job.pair
    if pair.list_seed == PairScorerConfig.list_seed:  # not set: the lists eccr evaluate and the blend stage draw
        pair = dataclasses.replace(pair, list_seed=load_run_config(args.run).data.seed)
    result = train_pair_scorer(args.run, args.out, pair, args.job.sft, model_spec=args.model,
                               resume=not args.no_resume, device=args.device, quantization=args.quantization)
    print(json.dumps({"adapter": str(result.adapter_dir), "global_step": result.global_step,
                      "train_loss": result.train_loss, "seconds": round(result.seconds, 1)}))


if __name__ == "__main__":
    main()
