"""`ItemLM`: the run's fine-tuned LM at serving time, speaking the catalogue's semantic IDs.

It does two things for the Recommender: scores candidates (the log-probability of each candidate's ID after the
"recommend" prompt, eccr.llm.generate.score_items) and writes one explanation sentence per (query, item) pair
(the "explain" prompt, batched). Prompts are rendered by the same TaskBuilder that made the SFT data, with the
basket ordered by the run's ranker attention, so inference prompts look like training prompts.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eccr.coherence import AttributeExtractor
from eccr.data.schema import Catalog, Dataset
from eccr.llm.config import GenerationConfig, TaskConfig
from eccr.llm.generate import generate_texts, score_items
from eccr.llm.tasks import TaskBuilder
from eccr.quantize.history import BasketWeigher
from eccr.quantize.semantic_ids import SemanticIDTable


class ItemLM:
    def __init__(self, model, tokenizer, table: SemanticIDTable, catalog: Catalog, task_config: TaskConfig,
                 extractor: AttributeExtractor, basket_weigher: BasketWeigher | None = None):
        self.model, self.tokenizer, self.table = model, tokenizer, table
        self.task_config, self.extractor = task_config, extractor
        self.catalog, self.basket_weigher = catalog, basket_weigher
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

    def explain(self, pairs: Sequence[tuple[str, str]], max_new_tokens: int = 48) -> list[str]:
        """The first line the LM writes for each (query, item) pair, in one batch; "" for pairs without IDs."""
        prompts, slots = [], []
        for n, (q, c) in enumerate(pairs):
            if q in self.table and c in self.table:
                prompts.append(self.tasks.render("explain", q, c))
                slots.append(n)
        out = [""] * len(pairs)
        if prompts:
            gen = GenerationConfig(max_new_tokens=max_new_tokens)
            for n, text in zip(slots, generate_texts(self.model, self.tokenizer, prompts, gen)):
                out[n] = text.strip().split("\n")[0]
        return out
