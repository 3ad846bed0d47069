"""`ItemLM`: the run's fine-tuned LM at serving time, speaking the catalogue's semantic IDs.

It does two things for the Recommender: scores candidates (the log-probability of each candidate's ID after the
"recommend" prompt, eccr.llm.generate.score_items) and writes one explanation sentence per (query, item) pair
(the "explain" prompt, batched, greedy, stopping at the first line break). Prompts are rendered by the same
TaskBuilder that made the SFT data, with the basket ordered by the run's ranker attention, so inference prompts
look like training prompts.

`load_serving_lm` loads the adapter for serving: LoRA merged into the weights, and the explanation decoder of the
configured backend -- transformers `generate`, or llama.cpp on the merged model exported to GGUF
(eccr/llm/llamacpp.py, several times faster on CPU), falling back to transformers with a log line when llama.cpp
is not installed or cannot take the model.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eccr.coherence import AttributeExtractor
from eccr.data.schema import Catalog, Dataset
from eccr.llm.config import GenerationConfig
from eccr.llm.generate import generate_texts, score_items
from eccr.llm.tasks import TaskBuilder, TaskConfig
from eccr.quantize.history import BasketWeigher
from eccr.quantize.semantic_ids import SemanticIDTable

log = logging.getLogger("eccr.llm.item_lm")
BACKENDS = ("auto", "hf", "llamacpp")


def resolve_backend(backend: str, device: str) -> str:
    """"hf" or "llamacpp" for a configured backend ("auto", "hf", "llamacpp") on `device` ("cpu", "cuda…"):
    "auto" takes llama.cpp on CPU when llama-cpp-python is installed; without it, "auto" and "llamacpp" fall
    back to transformers with a warning that says how to install it."""
    from eccr.llm.llamacpp import llamacpp_available

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "hf" or (backend == "auto" and str(device).startswith("cuda")):
        return "hf"
    if not llamacpp_available():
        log.warning("llama-cpp-python is not installed: explanations decode with transformers (several times "
                    "slower on CPU); install it with pip install -e '.[llamacpp]' -c constraints.txt")
        return "hf"
    return "llamacpp"


def load_serving_lm(adapter_dir: str | Path, device: str = "auto", backend: str = "auto",
                    gguf_type: str = "q8_0", cache_dir=None):
    """(merged transformers model, tokenizer, explanation generator or None, backend used) for serving.

    The generator (eccr.llm.llamacpp.LlamaCppGenerator) is None on the transformers backend; for llama.cpp the
    GGUF export is made on first use and cached (eccr.llm.llamacpp.cached_gguf)."""
    from eccr.llm.models import resolve_device
    from eccr.llm.sft import load_finetuned

    device = resolve_device(device)
    model, tokenizer = load_finetuned(adapter_dir, device=device, cache_dir=cache_dir, merge=True)
    if resolve_backend(backend, device) == "hf":
        return model, tokenizer, None, "hf"
    from eccr.llm.llamacpp import LlamaCppGenerator, UnsupportedModelError, cached_gguf, export_gguf

    path = cached_gguf(adapter_dir, gguf_type, cache_dir)
    try:
        if not path.is_file():
            started = time.perf_counter()
            export_gguf(model, tokenizer, path, gguf_type)
            log.info("exported the merged LM to %s (%.1f s, once per adapter)", path, time.perf_counter() - started)
        generator = LlamaCppGenerator(path, tokenizer)  # threads follow the machine's load per call
    except (UnsupportedModelError, RuntimeError, OSError) as err:
        log.warning("llama.cpp backend unavailable for %s (%s): explanations decode with transformers",
                    adapter_dir, err)
        return model, tokenizer, None, "hf"
    return model, tokenizer, generator, "llamacpp"


class ItemLM:
    def __init__(self, model, tokenizer, table: SemanticIDTable, catalog: Catalog, task_config: TaskConfig,
                 extractor: AttributeExtractor, basket_weigher: BasketWeigher | None = None, generator=None):
        """`generator`: an explanation decoder over the same weights with `generate(prompts, GenerationConfig)
        -> texts` (eccr.llm.llamacpp.LlamaCppGenerator); None decodes with transformers `generate` on `model`."""
        self.model, self.tokenizer, self.table = model, tokenizer, table
        self.task_config, self.extractor = task_config, extractor
        self.catalog, self.basket_weigher = catalog, basket_weigher
        self.generator = generator
        self._tasks: TaskBuilder | None = None

    @property
    def tasks(self) -> TaskBuilder:
        """The prompt renderer over the current catalogue and IDs (built on first use, again after new items)."""
        if self._tasks is None:
            ids = {i: self.table.id_string(i) for i in self.table.item_ids}
            self._tasks = TaskBuilder(Dataset("run", self.catalog), ids, self.task_config, self.extractor,
                                      basket_weigher=self.basket_weigher)
        return self._tasks

    def items_added(self, catalog: Catalog, basket_weigher: BasketWeigher | None = None) -> None:
        """New items have IDs in the table: a new ID token gets an (untrained) embedding row, prompts are
        rebuilt over `catalog`."""
        missing = [t for t in self.table.all_tokens() if t not in self.tokenizer.get_vocab()]
        if missing:  # a new counter token: the LM has an untrained row for it, ranking still works
            self.tokenizer.add_special_tokens({"additional_special_tokens": missing})
            self.model.resize_token_embeddings(len(self.tokenizer))
            if self.generator is not None:  # its exported vocabulary lacks the new tokens
                log.warning("new ID tokens %s: explanations decode with transformers from now on", missing[:3])
                self.generator = None
        self.catalog, self._tasks = catalog, None
        if basket_weigher is not None:
            self.basket_weigher = basket_weigher

    def score(self, query: str, basket: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
        """Log-probability of each candidate's ID after the recommend prompt; NaN for items without an ID."""
        ids = [c for c in candidates if c in self.table]
        if not ids or query not in self.table:
            return np.full(len(candidates), np.nan)
        prompt = self.tasks.render("recommend", query, basket=tuple(basket), candidates=tuple(ids))
        logp = score_items(self.model, self.tokenizer, prompt, [self.table.tokens_for(c) for c in ids],
                           completion_prefix=" ")
        by_id = dict(zip(ids, logp.tolist()))
        return np.array([by_id.get(c, np.nan) for c in candidates])

    @property
    def backend(self) -> str:
        return "llamacpp" if self.generator is not None else "hf"

    def explain(self, pairs: Sequence[tuple[str, str]], max_new_tokens: int = 48) -> list[str]:
        """The first line the LM writes for each (query, item) pair, in one batch; "" for pairs without IDs."""
        prompts, slots = [], []
        for n, (q, c) in enumerate(pairs):
            if q in self.table and c in self.table:
                prompts.append(self.tasks.render("explain", q, c))
                slots.append(n)
        out = [""] * len(pairs)
        if prompts:
            gen = GenerationConfig(max_new_tokens=max_new_tokens, stop_at_newline=True)
            texts = self.generator.generate(prompts, gen) if self.generator is not None else \
                generate_texts(self.model, self.tokenizer, prompts, gen)
            for n, text in zip(slots, texts):
                out[n] = text.strip().split("\n")[0]
        return out
