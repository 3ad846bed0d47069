"""Multi-task fine-tuning data for the ECCR language model (Li et al. 2024; alignment tasks as in LC-Rec).

Tasks, one template each in prompts/:
- recommend:   query item (title + semantic ID) + basket IDs + candidate IDs -> the coherent complement's ID;
               the basket is the shopper's items before the bundle (as `eccr evaluate` passes them), ordered by
               the ranker's attention (eccr.quantize.history)
- explain:     pair (titles, leaf categories, IDs) -> one grounded sentence giving the reason (what one does
               for the other, the fit evidence; composed from titles/flags, never the crowd intent, which the
               prompt does not show)
- coherence:   pair -> "yes, compatible" / "yes, relevant" / "no, substitute" / "no, not used together" / ...
- title_to_id, id_to_title: item <-> semantic-ID alignment, so the new ID tokens mean something

Every example keeps its `source` (which data and rule produced its target) so users can audit or filter.
Prompts stay short on purpose (truncated titles, ID tokens): a LoRA step's cost grows with its tokens (README,
Benchmarks: `scripts/bench_generate.py`).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from eccr.coherence import (
    AttributeExtractor,
    PairFlags,
    grounded_explanation,
    grounding,
    pair_flags,
    short_name,
    without_category_tags,
)
from eccr.data.categories import category_text, leaf_category
from eccr.data.demo import TEACHER_EXPLANATIONS_PATH
from eccr.data.io import read_resumable_jsonl
from eccr.data.schema import Dataset
from eccr.data.splits import UserHistories, whole_name
from eccr.llm.config import LM_TASKS, TaskConfig
from eccr.quantize.history import BasketWeigher, ordered_history

TASKS = LM_TASKS


def load_templates(prompts_dir: str | Path) -> dict[str, str]:
    folder = Path(prompts_dir)
    missing = [t for t in TASKS if not (folder / f"{t}.txt").exists()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing prompt templates {missing}")
    return {t: (folder / f"{t}.txt").read_text().rstrip("\n") for t in TASKS}


def save_templates(prompts_dir: str | Path, out_dir: str | Path) -> None:
    """Copy the task templates into `out_dir` (a run's lm/prompts/), so the run is served with the prompts its
    adapter was trained on, whatever the package's prompts/ says later."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for task, text in load_templates(prompts_dir).items():
        (out / f"{task}.txt").write_text(text + "\n")


def select_pairs(dataset: Dataset, n: int | None, seed: int, allowed_items: set[str] | None = None) -> pd.DataFrame:
    """Directed bundle pairs of titled items, deduplicated (first intent kept), in a seeded random order, first n.

    The pair tasks train on these, and `eccr distill` asks its teacher about the same ones: with n =
    tasks.max_pairs and seed = tasks.seed the teacher explains exactly the pairs the LM is fine-tuned on; a
    larger n extends a smaller n's set."""
    titled = set(dataset.catalog.items.loc[dataset.catalog.items["title"].str.len() > 0, "item_id"])
    if allowed_items is not None:
        titled &= allowed_items
    pairs = dataset.bundles.directed_pairs()
    pairs = pairs[pairs["source"].isin(titled) & pairs["target"].isin(titled)]
    pairs = pairs.drop_duplicates(["source", "target"])
    if n is not None:
        if n < 1:
            raise ValueError(f"pairs must be >= 1, got {n}")
        if len(pairs) > n:
            pairs = pairs.sample(n, random_state=seed)
    return pairs.reset_index(drop=True)


def truncate_title(title: str, max_words: int) -> str:
    ws = (title or "").split()
    return " ".join(ws[:max_words])


def coherence_answer(flags: PairFlags) -> str:
    if flags.coherent:
        return "yes, compatible" if flags.compatible else "yes, relevant"
    if flags.substitute:
        return "no, substitute"
    if flags.complementary:
        return "no, goes with it but does not fit or match"
    return "no, not used together"


class TaskBuilder:
    """Renders the five tasks for items that have semantic IDs (`id_tokens`: item_id -> "<a_1><b_2><c_3>")."""

    def __init__(self, dataset: Dataset, id_tokens: dict[str, str], config: TaskConfig | None = None,
                 extractor: AttributeExtractor | None = None, basket_weigher: BasketWeigher | None = None):
        """`basket_weigher(query, basket) -> weights` orders the basket in recommend prompts (training and
        inference must use the same one: `eccr.quantize.history.attention_weigher` over the run's ranker)."""
        self.ds, self.ids, self.cfg = dataset, id_tokens, config or TaskConfig()
        self.basket_weigher = basket_weigher
        self.templates = load_templates(self.cfg.prompts_dir)
        self.extractor = extractor or AttributeExtractor(dataset.catalog)
        items = dataset.catalog.items
        self.rows = {r.item_id: r._asdict() for r in items.itertuples(index=False) if r.title and r.item_id in id_tokens}
        self.rng = np.random.default_rng(self.cfg.seed)
        self.distilled: dict[tuple[str, str], str] = {}
        distilled_path = shipped_teacher_sentences(dataset.name) if self.cfg.distilled_path == "auto" \
            else self.cfg.distilled_path
        if distilled_path:
            self.distilled = read_distilled(distilled_path)

    def _title(self, item_id: str) -> str:
        return truncate_title(self.rows[item_id]["title"], self.cfg.max_title_words)

    def _leaf_name(self, item_id: str) -> str:
        return leaf_category(self.rows[item_id].get("category"))

    def _leaf(self, item_id: str) -> str:
        """The item's leaf category as the grounded template writes it ("batteries"), "-" when it has none."""
        return self._leaf_name(item_id).lower() or "-"

    def render(self, task: str, query: str, target: str | None = None, basket: tuple[str, ...] = (),
               candidates: tuple[str, ...] = ()) -> str:
        fields = {"query_title": self._title(query), "query_ids": self.ids[query],
                  "basket_ids": self.basket_ids(query, basket),
                  "candidate_ids": " ".join(self.ids[c] for c in candidates),
                  "target_title": self._title(target) if target else "", "target_ids": self.ids.get(target, ""),
                  "query_leaf": self._leaf(query), "target_leaf": self._leaf(target) if target else ""}
        return self.templates[task].format(**fields)

    def basket_ids(self, query: str, basket: Sequence[str]) -> str:
        """The basket (oldest first, as histories are kept) as at most `max_basket_items` semantic IDs: highest
        weigher weight first, ties most recent first; "none" when nothing in it has an ID."""
        known = [b for b in reversed(list(basket)) if b in self.ids and b != query]  # most recent first
        if not known:
            return "none"
        weights = self.basket_weigher(query, known) if self.basket_weigher is not None else None
        return "".join(self.ids[b] for b in ordered_history(known, weights, self.cfg.max_basket_items))

    def flags(self, a: str, b: str, complementary: bool) -> PairFlags:
        return pair_flags(self.rows[a], self.rows[b], self.extractor, complementary=complementary)

    def explanation(self, a: str, b: str) -> tuple[str, str]:
        """(target sentence, its source): the reason the two go together (what one does for the other, the fit
        evidence), never "shoppers bought them together" nor the crowd intent: the LM explains recommended pairs,
        which nobody has bought together yet and no shopper has described, and it cannot tell the two apart from
        its prompt (an LM taught to quote an intent it is not shown invents one: 'Together they serve "Kodak K200"').
        A distilled sentence replaces the template when it passes the grounding check on the pair alone: the
        teacher saw the bundle's intent, the student does not, so a brand or type only the intent names ("for
        Samsung TV owners" for a soundbar and a wall mount) would teach it to invent one."""
        flags = self.flags(a, b, complementary=True)
        distilled = self.distilled.get((a, b))
        if distilled:
            titles = (self.rows[a]["title"], self.rows[b]["title"])
            categories = (category_text(self.rows[a].get("category")), category_text(self.rows[b].get("category")))
            # re-checked: the file may come from another catalogue
            distilled = without_category_tags(distilled, (self._leaf_name(a), self._leaf_name(b)))
            for sentence in (with_short_names(distilled, titles), distilled):
                if grounding(sentence, *titles, self.extractor, flags=flags, categories=categories).grounded:
                    return sentence, "distilled"
        return grounded_explanation(self.rows[a], self.rows[b], flags, bought_together=False,
                                    extractor=self.extractor), "grounded"

    def bundle_pairs(self) -> pd.DataFrame:
        return select_pairs(self.ds, self.cfg.max_pairs, self.cfg.seed, allowed_items=set(self.rows))

    def _session_negatives(self) -> dict[str, list[str]]:
        """query -> items co-bought in its sessions but never in a bundle with it (hard negatives)."""
        ev = self.ds.behaviour.events[["session_id", "item_id"]].drop_duplicates()
        ev = ev[ev["item_id"].isin(self.rows)]
        together = self.ds.bundles.directed_pairs()
        bundled = set(zip(together["source"], together["target"]))
        out: dict[str, list[str]] = {}
        for _, items in ev.groupby("session_id")["item_id"]:
            items = list(items)
            for a in items:
                out.setdefault(a, []).extend(b for b in items if b != a and (a, b) not in bundled)
        return out

    def build(self) -> list[dict]:
        """The fine-tuning examples of the configured tasks (`TaskConfig.tasks`), shuffled; the same seed gives
        the same examples of a task whichever other tasks are chosen."""
        unknown = sorted(set(self.cfg.tasks) - set(TASKS))
        if unknown or not self.cfg.tasks:
            raise ValueError(f"tasks.tasks: unknown or no tasks {unknown}; choose from {list(TASKS)}")
        examples: list[dict] = []
        all_items = np.array(sorted(self.rows))
        hard = self._session_negatives()
        histories = UserHistories(self.ds)
        bundle_session = dict(zip(self.ds.bundles.rows["bundle_id"], self.ds.bundles.rows["session_id"]))
        for row in self.bundle_pairs().itertuples(index=False):
            q, p = row.source, row.target
            basket = tuple(histories.before(bundle_session.get(row.group_id, ""), int(row.timestamp),
                                            4 * self.cfg.max_basket_items))
            pool = [n for n in hard.get(q, []) if n != p]
            randoms = [c for c in self.rng.choice(all_items, size=min(len(all_items), 4 * self.cfg.n_candidates),
                                                  replace=False) if c not in (q, p)]
            negatives = list(dict.fromkeys(pool + randoms))[: self.cfg.n_candidates - 1]
            candidates = [p] + negatives
            self.rng.shuffle(candidates)
            examples.append({"task": "recommend", "source": "bundle",
                             "prompt": self.render("recommend", q, basket=basket, candidates=tuple(candidates)),
                             "completion": " " + self.ids[p]})
            text, source = self.explanation(q, p)
            examples.append({"task": "explain", "source": source, "prompt": self.render("explain", q, p),
                             "completion": " " + text})
            examples.append({"task": "coherence", "source": "bundle",
                             "prompt": self.render("coherence", q, p),
                             "completion": " " + coherence_answer(self.flags(q, p, complementary=True))})
            for n in negatives[: self.cfg.negatives_per_pair]:
                kind = "co_bought" if n in pool else "random"
                examples.append({"task": "coherence", "source": kind, "prompt": self.render("coherence", q, n),
                                 "completion": " " + coherence_answer(self.flags(q, n, complementary=False))})
        align = all_items if len(all_items) <= self.cfg.max_alignment_items else self.rng.choice(
            all_items, size=self.cfg.max_alignment_items, replace=False)
        for item in align:
            examples.append({"task": "title_to_id", "source": "catalog", "prompt": self.render("title_to_id", item),
                             "completion": " " + self.ids[item]})
            examples.append({"task": "id_to_title", "source": "catalog", "prompt": self.render("id_to_title", item),
                             "completion": " " + self._title(item)})
        order = self.rng.permutation(len(examples))
        return [examples[i] for i in order if examples[i]["task"] in self.cfg.tasks]


def with_short_names(sentence: str, titles: Sequence[str]) -> str:
    """`sentence` with the longest start of each title it repeats (at least one word more than the short name)
    written as the templates write it, `short_name` ("The Canon EOS Rebel T7 24.1MP APS-C DSLR is ..." -> "The
    Canon EOS Rebel T7 APS-C is ..."): a teacher copies the titles it was shown, and the student's sentences are
    decoded token by token while the shopper waits."""
    for title in titles:
        title_words, short = title.split(), short_name(title)
        for n in range(len(title_words), len(short.split()), -1):
            found = re.search(re.escape(" ".join(title_words[:n])) + r"(?![\w-])", sentence, flags=re.IGNORECASE)
            if found:
                sentence = sentence[:found.start()] + short + sentence[found.end():]
                break
    return sentence


def shipped_teacher_sentences(dataset_name: str) -> str:
    """The `eccr distill` file that ships with a dataset or a part of it ("demo:train"); "" when none does: only
    the embedded demo has one."""
    return str(TEACHER_EXPLANATIONS_PATH) if whole_name(dataset_name) == "demo" else ""


def read_distilled(path: str | Path) -> dict[tuple[str, str], str]:
    """(source, target) -> explanation from an `eccr distill` file (the last line wins for a repeated pair);
    only lines flagged grounded (the others are kept in the file for auditing, never trained on). Read with
    eccr.data.io.read_resumable_jsonl: a torn last line of a running or interrupted distill is left out, any
    other malformed line is an error naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"distilled explanations not found: {path} (write them with `eccr distill`)")
    out: dict[tuple[str, str], str] = {}
    for rec in read_resumable_jsonl(path, required=("source", "target", "explanation", "grounded")):
        text = str(rec["explanation"]).strip()
        if text and rec["grounded"] is True:
            out[(str(rec["source"]), str(rec["target"]))] = text
    return out
