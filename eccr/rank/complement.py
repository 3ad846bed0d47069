"""A listwise complement scorer over frozen text vectors: what goes with q, for items nobody has bought yet.

Most items recommended later are cold (never in a training session), and text similarity alone finds
substitutes. This model reads only the query's and the candidate's frozen sentence vectors (title, category
path, brand: eccr/represent/text.py), so it scores a cold item exactly like a warm one:

    score(q → c) = α · cos(q, c) + MLP([q ; c ; q ⊙ c]) + mean_w∈q u_w · mean_w∈c v_w

α starts at the value that makes cosine a sensible prior; the MLP learns the directed correction (camera →
battery, not camera → camera); the last term is a directed bilinear model over the items' words (title words and
category names, with separate source and target embeddings), which keeps exact words such as model numbers,
brands and product types that a sentence vector blurs. Cold items are scored from the same inputs. It is trained with a softmax over the honest
candidate lists of the TRAIN part (eccr/data/candidate_lists.py: a bundle partner among items bought with q but
not bundled, items of the partner's leaf category and random items, all of the training period), the lists drawn
`list_draws` times with fresh negatives, early-stopped on the VALID part's lists (HR@5). The same construction is
the evaluation's, so nothing the model learns is an artefact of how the lists were built.

`ComplementConfig.training_lists` = "later" (or "both") trains on lists whose positive is a complement the same user
bought in a later session (eccr/data/later_lists.py). Their newest labels are incomplete (delayed feedback), and
`delay_weighting` decides what to do about it: keep them as observed, drop the last `delay_drop_days`, or multiply
each list's loss by its P/Q importance weight (eccr/data/delay.py). The default, bundle lists only, is untouched.

Listwise training with hard negatives follows the sampled-softmax recipes of two-tower retrieval (e.g. Yi et al.,
'Sampling-bias-corrected neural modeling for large corpus item recommendations', RecSys 2019); here the tower
is a pair scorer because the candidate lists are short.
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from eccr.data.candidate_lists import CandidateListConfig, CandidateLists, ListDrawer, build_candidate_lists
from eccr.data.later_lists import LaterPairs, delay_policy_weights
from eccr.data.schema import Catalog
from eccr.data.splits import TemporalSplit
from eccr.rank.base import Scores
from eccr.rank.config import ComplementConfig
from eccr.represent.vectors import ItemVectors

MISSING_SCORE = -1e4  # a candidate without a text vector (nothing is known about it) ranks last


_WORD = re.compile(r"[a-z0-9]+")


def item_words(title: str, category) -> list[str]:
    """The words the token part reads: lower-cased title words and one `cat:<name>` per category level."""
    return list(dict.fromkeys(_WORD.findall(str(title).lower()) + [f"cat:{c}" for c in category or []]))


@dataclass
class WordTable:
    """Word ids per item, rows aligned with the scorer's text vectors (0 = padding or unknown word)."""

    vocabulary: dict[str, int]
    max_words: int = 48

    @classmethod
    def fit(cls, catalog: Catalog, min_count: int, max_words: int) -> WordTable:
        counts = Counter(w for t, c in zip(catalog.items["title"], catalog.items["category"]) for w in item_words(t, c))
        words = sorted(w for w, n in counts.items() if n >= min_count)
        return cls({w: i + 1 for i, w in enumerate(words)}, max_words)

    def rows(self, catalog: Catalog, ids: list[str]) -> np.ndarray:
        items = catalog.items.set_index("item_id")
        out = np.zeros((len(ids), self.max_words), dtype=np.int64)
        for r, item in enumerate(ids):
            if item in items.index:
                found = [self.vocabulary[w] for w in item_words(items.at[item, "title"], items.at[item, "category"])
                         if w in self.vocabulary][:self.max_words]
                out[r, :len(found)] = found
        return out


class ComplementNet(nn.Module):
    def __init__(self, dim: int, n_words: int, config: ComplementConfig):
        super().__init__()
        self.mlp = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(3 * dim, config.hidden), nn.GELU(),
                                 nn.Dropout(config.dropout), nn.Linear(config.hidden, 1))
        self.alpha = nn.Parameter(torch.tensor(5.0))
        self.source_words = nn.Embedding(n_words + 1, config.word_dim, padding_idx=0)
        self.target_words = nn.Embedding(n_words + 1, config.word_dim, padding_idx=0)
        nn.init.normal_(self.source_words.weight, std=0.01)
        nn.init.normal_(self.target_words.weight, std=0.01)
        self.word_dropout = nn.Dropout(config.word_dropout)

    def _mean_words(self, table: nn.Embedding, words: torch.Tensor) -> torch.Tensor:
        mask = (words > 0).float().unsqueeze(-1)
        return (self.word_dropout(table(words)) * mask).sum(-2) / mask.sum(-2).clamp(min=1.0)

    def forward(self, query: torch.Tensor, candidates: torch.Tensor, query_words: torch.Tensor,
                candidate_words: torch.Tensor) -> torch.Tensor:
        """query (b, d), candidates (b, n, d) L2-normalised; word ids (b, w), (b, n, w) -> scores (b, n)."""
        q = query.unsqueeze(1).expand_as(candidates)
        directed = (self._mean_words(self.source_words, query_words).unsqueeze(1)
                    * self._mean_words(self.target_words, candidate_words)).sum(-1)
        return (self.alpha * (q * candidates).sum(-1) + directed
                + self.mlp(torch.cat([q, candidates, q * candidates], -1)).squeeze(-1))


@dataclass
class ComplementScorer:
    """The trained net plus the text vectors and word ids it reads; implements eccr.rank.base.Scorer."""

    net: ComplementNet
    vectors: ItemVectors            # L2-normalised text vectors (items added at run time are appended)
    words: WordTable
    word_rows: np.ndarray           # (len(vectors), max_words) word ids, aligned with vectors.ids
    config: ComplementConfig
    history: list[dict] = field(default_factory=list)
    name: str = "complement"

    def with_items(self, vectors: ItemVectors, catalog: Catalog) -> ComplementScorer:
        """The same model reading `vectors`, which extend the current ones with items added at run time (their
        words come from `catalog`; the known items' word rows are kept, not recomputed)."""
        known = len(self.vectors)
        if vectors.ids[:known] != self.vectors.ids:
            raise ValueError("with_items expects the current vectors followed by the new items' vectors")
        rows = np.concatenate([self.word_rows, self.words.rows(catalog, vectors.ids[known:])])
        return ComplementScorer(self.net, vectors.normalized(), self.words, rows, self.config, self.history,
                                self.name)

    def score_candidates(self, query, candidates, history=()) -> Scores:
        candidates = [str(c) for c in candidates]
        qpos = self.vectors.position([str(query[-1])])[0]
        cpos = self.vectors.position(candidates)
        out = np.full(len(candidates), MISSING_SCORE)
        ok = cpos >= 0
        if qpos < 0 or not ok.any():
            return Scores(out)
        self.net.eval()
        with torch.no_grad():
            out[ok] = self.net(torch.from_numpy(self.vectors.vectors[[qpos]]),
                               torch.from_numpy(self.vectors.vectors[cpos[ok]]).unsqueeze(0),
                               torch.from_numpy(self.word_rows[[qpos]]),
                               torch.from_numpy(self.word_rows[cpos[ok]]).unsqueeze(0))[0].numpy()
        return Scores(out)

    def save_pretrained(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, str(folder / "complement.safetensors"))
        (folder / "complement.json").write_text(json.dumps(
            {"config": asdict(self.config), "dim": int(self.vectors.dim), "history": self.history,
             "max_words": self.words.max_words, "vocabulary": self.words.vocabulary}, indent=1))

    @classmethod
    def from_pretrained(cls, folder: str | Path, vectors: ItemVectors, catalog: Catalog) -> ComplementScorer:
        from safetensors.torch import load_file

        folder = Path(folder)
        info = json.loads((folder / "complement.json").read_text())
        config = ComplementConfig.from_dict(info["config"])
        if int(info["dim"]) != vectors.dim:
            raise ValueError(f"{folder}: the scorer reads {info['dim']}-d text vectors, these are {vectors.dim}-d")
        words = WordTable({str(k): int(v) for k, v in info["vocabulary"].items()}, int(info["max_words"]))
        net = ComplementNet(vectors.dim, len(words.vocabulary), config)
        net.load_state_dict(load_file(str(folder / "complement.safetensors")))
        vectors = vectors.normalized()
        return cls(net, vectors, words, words.rows(catalog, vectors.ids), config, info.get("history", []))


def _list_tensors(lists: CandidateLists, vectors: ItemVectors) -> tuple[torch.Tensor, torch.Tensor]:
    """(query rows (b,), candidate rows (b, 1 + negatives)) for complete lists whose items all have vectors;
    the positive is column 0."""
    return _weighted_list_tensors(lists, vectors)[:2]


def hit_rate(net: ComplementNet, table: torch.Tensor, words: torch.Tensor, queries: torch.Tensor,
             candidates: torch.Tensor, k: int = 5) -> float:
    """HR@k with the positive in column 0, ties against the model."""
    net.eval()
    with torch.no_grad():
        scores = net(table[queries], table[candidates], words[queries], words[candidates])
    rank = 1 + (scores[:, 1:] >= scores[:, :1]).sum(1)
    return float((rank <= k).float().mean())


def _bootstrap_rows(queries: torch.Tensor, seed: int) -> torch.Tensor:
    unique, row_query = torch.unique(queries, return_inverse=True)
    rng = np.random.default_rng(seed)
    copies = torch.from_numpy(np.bincount(rng.integers(0, len(unique), len(unique)), minlength=len(unique)))
    return torch.repeat_interleave(torch.arange(len(queries)), copies[row_query])


def bootstrap_queries(queries: torch.Tensor, candidates: torch.Tensor, seed: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """A bootstrap resample of candidate lists by query item: as many query items as there are, drawn with
    replacement, each bringing all its lists (lists of one query are not independent, so they move together)."""
    rows = _bootstrap_rows(queries, seed)
    return queries[rows], candidates[rows]


def _weighted_list_tensors(lists: CandidateLists, vectors: ItemVectors, weights: np.ndarray | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`_list_tensors` plus each kept list's weight (None: 1 each); lists of weight 0 are left out."""
    width = 1 + max((len(p.negatives) for p in lists.pairs), default=0)
    weights = np.ones(len(lists.pairs)) if weights is None else weights
    queries, candidates, kept = [], [], []
    for pair, weight in zip(lists.pairs, weights):
        rows = vectors.position([pair.query, pair.positive, *pair.negatives])
        if weight > 0 and len(rows) == width + 1 and (rows >= 0).all():
            queries.append(rows[0])
            candidates.append(rows[1:])
            kept.append(weight)
    return (torch.tensor(np.array(queries, dtype=np.int64)), torch.tensor(np.array(candidates, dtype=np.int64)),
            torch.tensor(np.array(kept, dtype=np.float32)))


def _concat_lists(parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    parts = [p for p in parts if len(p[0])] or parts[:1]
    if len({p[1].shape[1] for p in parts}) > 1:
        raise ValueError("bundle and later lists must have the same number of negatives")
    return tuple(torch.cat([p[k] for p in parts]) for k in range(3))


def weighted_training_lists(split: TemporalSplit, part: str, config: ComplementConfig, lists: CandidateListConfig,
                            vectors: ItemVectors, weighted: bool = True, complete_labels: bool = False
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(queries, candidates, weights) of the lists `config.training_lists` names in `part`: bundle lists weigh
    1, later lists follow `config.delay_weighting` when `weighted` (the train part), else weigh 1.
    `complete_labels`: later purchases looked up past the part's end (the known answer on synthetic data)."""
    return training_list_draws(split, part, config, [lists], vectors, weighted, complete_labels)[0]


def training_list_draws(split: TemporalSplit, part: str, config: ComplementConfig,
                        draws: list[CandidateListConfig], vectors: ItemVectors, weighted: bool = True,
                        complete_labels: bool = False) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """`weighted_training_lists` for each list setting of `draws` (e.g. other seeds): what the lists are drawn from
    (the part's items and histories, the later pairs and their delay model) is built once; each draw redraws only
    its pairs' shuffle and negatives."""
    bundles, later = config.training_lists in ("bundles", "both"), config.training_lists in ("later", "both")
    pairs = LaterPairs(split, part, config.later_horizon_days, complete_labels) if later else None
    drawer = pairs.drawer if pairs is not None else ListDrawer(split, part)
    out = []
    for settings in draws:
        parts = []
        if bundles:
            parts.append(_weighted_list_tensors(build_candidate_lists(split, part, settings, drawer), vectors))
        if pairs is not None:
            drawn = pairs.lists(settings)
            weights = (delay_policy_weights(drawn, config.delay_weighting, config.delay_drop_days,
                                            config.delay_max_weight,
                                            pairs.delay_model if config.delay_weighting == "pq" else None)
                       if weighted else None)
            parts.append(_weighted_list_tensors(drawn.lists, vectors, weights))
        out.append(_concat_lists(parts))
    return out


def fit_complement_scorer(text: ItemVectors, split: TemporalSplit, config: ComplementConfig | None = None,
                          lists: CandidateListConfig | None = None,
                          bootstrap_seed: int | None = None, complete_labels: bool = False) -> ComplementScorer:
    """Train on the train part's honest lists, early-stop on the valid part's (see the module docstring).

    `bootstrap_seed` trains on a bootstrap resample of the train lists by query item (the same resample of every
    list draw), for an ensemble whose spread measures uncertainty (eccr/rank/uncertainty.py); None = all lists.
    `complete_labels` (later lists only) trains on later purchases looked up past the train cutoff: the known
    answer a delay policy is compared with on synthetic data, never a model for real use."""
    config = config or ComplementConfig()
    lists = lists or CandidateListConfig()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    vectors = text.normalized()
    table = torch.from_numpy(vectors.vectors.astype(np.float32))
    vocabulary = WordTable.fit(split.train.catalog, config.word_min_count, config.max_words)
    word_rows = vocabulary.rows(split.train.catalog, vectors.ids)
    words = torch.from_numpy(word_rows)
    n_draws = max(min(config.list_draws, config.max_epochs), 1)  # draws past max_epochs would never be used
    draws = training_list_draws(split, "train", config, [replace(lists, seed=config.seed + k) for k in range(n_draws)],
                                vectors, complete_labels=complete_labels)
    if not len(draws[0][0]):
        raise ValueError(f"{split.train.name}: no complete candidate lists in the train part to fit the "
                         "complement scorer (too few bundles)")
    if bootstrap_seed is not None:
        draws = [tuple(t[rows] for t in draw) for draw, rows in
                 ((d, _bootstrap_rows(d[0], bootstrap_seed)) for d in draws)]
    # bundle lists alone weigh 1 each: the plain mean loss; later lists carry their delay weights
    weights = None if config.training_lists == "bundles" else [w for _, _, w in draws]
    draws = [(q, c) for q, c, _ in draws]
    valid = (weighted_training_lists(split, "valid", config, lists, vectors, weighted=False)[:2]
             if config.training_lists != "bundles" or len(split.valid.bundles) else None)
    net = ComplementNet(vectors.dim, len(vocabulary.vocabulary), config)
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    history, best, best_state, stale, start = [], -1.0, None, 0, time.perf_counter()
    for epoch in range(config.max_epochs):
        queries, candidates = draws[epoch % len(draws)]
        weight = None if weights is None else weights[epoch % len(draws)]
        net.train()
        order = torch.randperm(len(queries), generator=generator)
        total = 0.0
        for b in range(0, len(order), config.batch_size):
            idx = order[b:b + config.batch_size]
            q, c = queries[idx], candidates[idx]
            logits = net(table[q], table[c], words[q], words[c])
            if weight is None:
                loss = F.cross_entropy(logits, torch.zeros(len(idx), dtype=torch.long))
            else:  # each list's loss times its delay weight (ComplementConfig.delay_weighting)
                loss = (F.cross_entropy(logits, torch.zeros(len(idx), dtype=torch.long), reduction="none")
                        * weight[idx]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        record = {"epoch": epoch + 1, "loss": round(total / len(order), 4),
                  "seconds": round(time.perf_counter() - start, 1)}
        if valid is not None and len(valid[0]):
            record["valid_hr@5"] = round(hit_rate(net, table, words, *valid), 4)
            if record["valid_hr@5"] > best:
                best, stale = record["valid_hr@5"], 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
        history.append(record)
        if stale >= config.patience or time.perf_counter() - start > config.max_seconds:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return ComplementScorer(net, vectors, vocabulary, word_rows, config, history)
