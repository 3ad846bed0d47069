"""A personalised item-to-item metric learned from implicit feedback.

Hoang, Deoras, Zhao, Li & Karypis, "Learning Personalized Item-to-Item Recommendation Metric via Implicit
Feedback" (AISTATS 2022, arXiv:2203.12598). Items carry several sources of metadata and each shopper weighs them
differently; there are no similarity labels. The metric is the kernel of a probabilistic model of the items a user
interacts with, so fitting that model to implicit feedback finds the user's metric ("similar items induce similar
interactions from the same user"). The paper's full text is not in ../shared/papers (abstract only); this file
follows the abstract with a Gaussian-process likelihood, and says where it chooses for itself ("ours").

    d_s(i, j)   in [0, 1] per source s: (1 - cos(x_i^s, x_j^s)) / 2 for vector sources (text, behaviour, directed),
                [label_i != label_j] for brand, the share of category-path levels not shared for the category
    d_u(i, j)   = sum_s w_{u,s} d_s(i, j),       w_u = softplus(mu + delta_u) >= 0        (the user's metric)
    k_u(i, j)   = sigma_f^2 exp(-d_u(i, j))      (PSD: a product of exp(w * PSD) and label-match kernels)
    y_u         ~ N(c, k_u(X_u, X_u) + sigma_n^2 I)   X_u = the user's items (y = 1) + sampled others (y = 0)
    delta_u     ~ N(0, tau^2 I)                  (population weights mu for new or thin users: shrinkage)

Fitting (ours, two stages): (1) the population -- mu, sigma_f, sigma_n, c -- maximises the marginal likelihood of
every train user with delta = 0; that is also the *global* metric, the one-weight-vector baseline. (2) each user's
delta_u is the MAP under the prior with the population fixed; the same fit runs at scoring time on a shopper's
history, so a returning shopper unseen in training gets a personal metric too, and one with fewer than
`min_items` past items keeps mu. The item-to-item score of a candidate c for query q is log k_u(q, c) = -d_u(q, c)
(up to a constant), or log(k_u(q, c) + `history_weight` * mean over the history of k_u(h, c)) when asked.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.functional import softplus

from eccr.data.sampling import AliasSampler
from eccr.rank.base import Scores
from eccr.rank.config import PersonalMetricConfig
from eccr.represent.vectors import ItemVectors

RUN_FOLDER = "personal_metric"  # where a run keeps its fitted metric
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
USERS_FILE = "user_weights.json"
LABEL_SOURCES = ("category", "brand")
DTYPE = torch.float32  # float32 halves the time; the noise floor (>= 1e-3) and the jitter keep Cholesky stable


def _inverse_softplus(x: float) -> float:
    return float(np.log(np.expm1(x)))


class ItemSources:
    """Every item's metadata per source, rows aligned with `ids`; row -1 is an unknown item (vectors zero, labels
    unique), so d_s is 0.5 (vectors) or 1 (labels) to anything else and 0 to itself only if it is the same row."""

    def __init__(self, ids: Sequence[str], vectors: Mapping[str, np.ndarray] | None = None,
                 labels: Mapping[str, np.ndarray] | None = None, order: Sequence[str] | None = None):
        self.ids = [str(i) for i in ids]
        self.position = {item: row for row, item in enumerate(self.ids)}
        vectors, labels = dict(vectors or {}), dict(labels or {})
        self.names = list(order) if order else [*vectors, *labels]
        self.vectors = {}
        for name, matrix in vectors.items():  # unit rows, plus a zero row at the end for unknown items
            m = np.asarray(matrix, dtype=np.float64)
            m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
            self.vectors[name] = torch.as_tensor(np.vstack([m, np.zeros((1, m.shape[1]))]), dtype=DTYPE)
        self.labels = {}  # (n_items + 1, levels) int64; -1 = no label (never equal to anything)
        for name, lab in labels.items():
            lab = np.asarray(lab, dtype=np.int64).reshape(len(self.ids), -1)
            self.labels[name] = torch.as_tensor(np.vstack([lab, -np.ones((1, lab.shape[1]), dtype=np.int64)]))
        if sorted(self.names) != sorted([*self.vectors, *self.labels]):
            raise ValueError(f"source order {self.names} does not name the sources given")

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, items: Sequence[str]) -> np.ndarray:
        get = self.position.get
        return np.fromiter((get(str(i), -1) for i in items), dtype=np.int64, count=len(items))

    def distances(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """d_s between rows a (B, n) and rows b (B, m): (B, n, m, S) in [0, 1]; 0 between a known item and itself."""
        a_idx, b_idx = torch.where(a < 0, len(self.ids), a), torch.where(b < 0, len(self.ids), b)
        out = []
        for name in self.names:
            if name in self.vectors:
                v = self.vectors[name]
                out.append((1.0 - torch.bmm(v[a_idx], v[b_idx].transpose(1, 2))) / 2.0)
            else:
                la, lb = self.labels[name][a_idx], self.labels[name][b_idx]       # (B, n, L), (B, m, L)
                equal = (la[:, :, None, :] == lb[:, None, :, :]) & (la[:, :, None, :] >= 0)
                out.append(1.0 - equal.to(DTYPE).mean(-1))
        d = torch.stack(out, dim=-1).clamp_(0.0, 1.0)
        same = (a[:, :, None] == b[:, None, :]) & (a[:, :, None] >= 0)
        return d.masked_fill(same[..., None], 0.0)

    @classmethod
    def from_catalog(cls, catalog: pd.DataFrame, vectors: Mapping[str, ItemVectors] | None = None,
                     sources: Sequence[str] = ("category", "brand")) -> ItemSources:
        """Label sources from the catalogue (category path: one label per level prefix; brand), vector sources
        from ItemVectors (items without a vector get a zero row)."""
        ids = catalog["item_id"].astype(str).tolist()
        vecs, labels = {}, {}
        for name in sources:
            if name == "category":
                paths = [tuple(p) if isinstance(p, (list, tuple, np.ndarray)) else () for p in catalog["category"]]
                depth = max((len(p) for p in paths), default=1) or 1
                codes: dict[tuple, int] = {}
                labels[name] = np.array([[codes.setdefault(p[:lvl + 1], len(codes)) if len(p) > lvl else -1
                                          for lvl in range(depth)] for p in paths], dtype=np.int64)
            elif name == "brand":
                brand = catalog["brand"].fillna("").astype(str).str.strip().str.lower()
                codes_b = pd.factorize(brand)[0]
                labels[name] = np.where(brand.eq("").to_numpy(), -1, codes_b)
            else:
                if vectors is None or name not in vectors:
                    raise KeyError(f"no vectors for source {name!r}")
                iv = vectors[name]
                pos = iv.position(ids)
                m = np.zeros((len(ids), iv.dim), dtype=np.float64)
                m[pos >= 0] = iv.vectors[pos[pos >= 0]]
                vecs[name] = m
        return cls(ids, vecs, labels, order=list(sources))

    @classmethod
    def from_run(cls, run_dir: str | Path, sources: Sequence[str]) -> ItemSources:
        """The sources of a trained run: vectors/<name> for vector sources, catalog.parquet for labels."""
        from eccr.run import Run

        run = Run(run_dir)
        catalog = pd.read_parquet(run.catalog)
        vectors = {s: ItemVectors.load(run.vectors / s) for s in sources if s not in LABEL_SOURCES
                   and (run.vectors / f"{s}.json").exists()}
        missing = [s for s in sources if s not in LABEL_SOURCES and s not in vectors]
        if missing:
            raise FileNotFoundError(f"{run.root}: no vectors for sources {missing} under {run.vectors}")
        return cls.from_catalog(catalog, vectors, sources)


class PersonalMetric(nn.Module):
    """Per-user source weights embedded as the kernel parameters of a GP over the items a user interacts with
    (Hoang et al. 2022). `mu` holds the population weights; `user_weights` the fitted users' (id -> w_u)."""

    model_type = "personal_metric"

    def __init__(self, sources: ItemSources, config: PersonalMetricConfig | None = None):
        super().__init__()
        self.sources, self.config = sources, config or PersonalMetricConfig()
        s = len(sources.names)
        self.mu_raw = nn.Parameter(torch.full((s,), _inverse_softplus(1.0), dtype=DTYPE))
        self.log_signal = nn.Parameter(torch.zeros((), dtype=DTYPE))           # log sigma_f^2
        self.log_noise = nn.Parameter(torch.tensor(np.log(0.5), dtype=DTYPE))  # log sigma_n^2
        self.mean = nn.Parameter(torch.tensor(0.3, dtype=DTYPE))               # c
        self.user_weights: dict[str, np.ndarray] = {}
        self._counts: np.ndarray | None = None  # train counts per item row: the negatives of scoring-time fits

    @property
    def population(self) -> np.ndarray:
        return softplus(self.mu_raw).detach().numpy().copy()

    def weights(self, delta: torch.Tensor) -> torch.Tensor:
        return softplus(self.mu_raw + delta)                                 # (B, S)

    def kernel(self, d: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """k_u from distances (B, n, m, S) and weights (B, S): sigma_f^2 exp(-sum_s w_s d_s)."""
        return self.log_signal.exp() * torch.exp(-torch.einsum("bijs,bs->bij", d, w))

    def neg_log_likelihood(self, d: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, w: torch.Tensor
                           ) -> torch.Tensor:
        """-log N(y | c, K + sigma_n^2 I) per user (B,); padded positions (mask False) are cut out exactly."""
        pair = mask[:, :, None] & mask[:, None, :]
        k = self.kernel(d, w) * pair                                         # (B, n, n)
        diag = torch.where(mask, self.log_noise.exp() + 1e-3, torch.ones((), dtype=DTYPE))
        chol = torch.linalg.cholesky(k + torch.diag_embed(diag))
        r = ((y - self.mean) * mask)[..., None]                              # (B, n, 1)
        alpha = torch.cholesky_solve(r, chol)
        log_det = (torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)) * mask).sum(-1)
        return 0.5 * (r * alpha).sum((-2, -1)) + log_det + 0.5 * mask.sum(-1) * np.log(2 * np.pi)

    # ------------------------------------------------------------------ fitting
    def _batch(self, histories: Sequence[Sequence[str]], sampler: AliasSampler):
        """Rows (B, n), targets and mask: each user's last `max_items` distinct known items (y = 1), then
        `negatives` per positive drawn from P_gamma, never the user's own items (y = 0)."""
        cfg = self.config
        pos = []
        for h in histories:
            rows = self.sources.rows(list(dict.fromkeys(reversed([str(i) for i in h])))[:cfg.max_items])
            pos.append(rows[rows >= 0])
        n = max(len(p) * (1 + cfg.negatives) for p in pos) or 1
        rows = np.full((len(pos), n), -1, dtype=np.int64)
        y, mask = np.zeros((len(pos), n)), np.zeros((len(pos), n), dtype=bool)
        for b, p in enumerate(pos):
            draw = sampler.sample(4 * len(p) * cfg.negatives + 8)
            draw = pd.unique(draw[~np.isin(draw, p)])[:len(p) * cfg.negatives]
            rows[b, :len(p)], rows[b, len(p):len(p) + len(draw)] = p, draw
            y[b, :len(p)] = 1.0
            mask[b, :len(p) + len(draw)] = True
        return torch.as_tensor(rows), torch.as_tensor(y, dtype=DTYPE), torch.as_tensor(mask)

    def _sampler(self, counts: np.ndarray | None, seed: int) -> AliasSampler:
        counts = np.ones(len(self.sources)) if counts is None else np.asarray(counts, dtype=np.float64)
        return AliasSampler.from_counts(np.maximum(counts, 1.0), gamma=self.config.gamma, seed=seed)

    def _prepare(self, histories: Sequence[Sequence[str]], seed: int, counts: np.ndarray | None):
        """Chunks of (distances, y, mask) with one fixed draw of negatives (the fits below are deterministic)."""
        sampler = self._sampler(counts, seed)
        chunks = []
        for start in range(0, len(histories), self.config.batch_users):
            rows, y, mask = self._batch(histories[start:start + self.config.batch_users], sampler)
            with torch.no_grad():
                chunks.append((self.sources.distances(rows, rows), y, mask))
        return chunks

    def fit_population(self, histories: Sequence[Sequence[str]], counts: np.ndarray | None = None,
                       log=None) -> float:
        """Stage 1: mu, sigma_f, sigma_n and c by the marginal likelihood of the users (at most
        `population_users`, seeded sample) with delta = 0: the global metric. `counts`: train occurrences per item
        row (popularity of the negatives). Full-batch L-BFGS; returns the final NLL per item."""
        cfg = self.config
        histories = [h for h in histories if len(set(self.sources.rows(list(map(str, h)))) - {-1}) >= cfg.min_items]
        if not histories:
            raise ValueError("no user with at least min_items known items to fit the metric on")
        pick = np.random.default_rng(cfg.seed).permutation(len(histories))[:cfg.population_users]
        chunks = self._prepare([histories[i] for i in pick], cfg.seed, counts)
        n_items = float(sum(int(m.sum()) for _, _, m in chunks))
        params = [self.mu_raw, self.log_signal, self.log_noise, self.mean]
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=cfg.population_steps, line_search_fn="strong_wolfe")

        def closure(backward: bool = True):
            opt.zero_grad()
            total = 0.0
            for d, y, mask in chunks:
                w = self.weights(torch.zeros((len(y), 1), dtype=DTYPE))
                loss = self.neg_log_likelihood(d, y, mask, w).sum() / n_items
                if backward:
                    loss.backward()
                total += float(loss.detach())
            return total

        opt.step(closure)
        for p in params:
            p.requires_grad_(False)
        final = closure(backward=False)
        if log:
            log(f"personal metric population: nll/item {final:.4f} over {len(pick)} users, "
                f"weights {dict(zip(self.sources.names, np.round(self.population, 3).tolist()))}")
        return final

    def fit_users(self, histories: Sequence[Sequence[str]], counts: np.ndarray | None = None,
                  seed: int | None = None) -> np.ndarray:
        """Stage 2: each user's MAP weights under N(0, tau^2) around the population (population fixed; L-BFGS on
        a chunk of users at once, their objectives are independent). Users with fewer than `min_items` known
        items get the population weights exactly. Returns (n_users, S)."""
        cfg = self.config
        out = np.tile(self.population, (len(histories), 1))
        todo = [i for i, h in enumerate(histories)
                if len(set(self.sources.rows(list(map(str, h)))) - {-1}) >= cfg.min_items]
        if not todo:
            return out
        chunks = self._prepare([histories[i] for i in todo], cfg.seed + 1 if seed is None else seed, counts)
        done = 0
        for d, y, mask in chunks:
            out[todo[done:done + len(y)]] = self._user_map(d, y, mask)
            done += len(y)
        return out

    def _user_map(self, d: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        """argmin over delta of NLL + |delta|^2 / (2 tau^2) for a chunk of users; their weights (B, S)."""
        delta = torch.zeros((len(y), len(self.sources.names)), dtype=DTYPE, requires_grad=True)
        opt = torch.optim.LBFGS([delta], lr=1.0, max_iter=self.config.user_steps, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            nll = self.neg_log_likelihood(d, y, mask, self.weights(delta))
            loss = (nll + 0.5 * (delta ** 2).sum(-1) / self.config.prior_scale ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return self.weights(delta).detach().numpy()

    def fit(self, user_histories: Mapping[str, Sequence[str]], counts: np.ndarray | None = None,
            personal: bool = True, log=None) -> PersonalMetric:
        """Both stages on {user: items in time order}; `personal=False` stops after stage 1 (the global metric)."""
        self.fit_population(list(user_histories.values()), counts, log)
        if personal:
            users = list(user_histories)
            fitted = self.fit_users([user_histories[u] for u in users], counts)
            self.user_weights = {u: fitted[n] for n, u in enumerate(users)}
        return self

    # ------------------------------------------------------------------ scoring
    def user_metric(self, history: Sequence[str]) -> np.ndarray:
        """w_u for a shopper from their past items: population if thin, else the MAP fit (seeded by the history)."""
        seed = int.from_bytes(hashlib.sha1("\x1f".join(map(str, history)).encode()).digest()[:4], "little")
        return self.fit_users([list(history)], self._counts, seed=seed)[0]

    def log_similarity(self, query: Sequence[str], candidates: Sequence[str], w: np.ndarray) -> np.ndarray:
        """log k_u(q, c) / sigma_f^2 = -d_u(q, c) for each query row x candidate: (len(query), len(candidates)).
        In float64 and in logs: fitted weights can be large (hundreds) where a source separates a user's items
        well, and exp(-d_u) would underflow to ties."""
        q = torch.as_tensor(self.sources.rows(list(query)))[None]
        c = torch.as_tensor(self.sources.rows(list(candidates)))[None]
        with torch.no_grad():
            d = self.sources.distances(q, c)[0].to(torch.float64)             # (nq, nc, S)
            return -(d * torch.as_tensor(w, dtype=torch.float64)).sum(-1).numpy()

    # ------------------------------------------------------------------ save / load
    def save_pretrained(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().clone() for k, v in self.state_dict().items()}
        if self._counts is not None:
            tensors["counts"] = torch.as_tensor(self._counts, dtype=DTYPE)
        save_file(tensors, str(out / WEIGHTS_FILE))
        (out / CONFIG_FILE).write_text(json.dumps({"model_type": self.model_type, "config": self.config.to_dict(),
                                                   "sources": self.sources.names, "items": len(self.sources)},
                                                  indent=2) + "\n")
        (out / USERS_FILE).write_text(json.dumps({u: np.round(w, 5).tolist() for u, w in self.user_weights.items()}))
        return out

    @classmethod
    def from_pretrained(cls, path: str | Path, sources: ItemSources) -> PersonalMetric:
        path = Path(path)
        info = json.loads((path / CONFIG_FILE).read_text())
        if list(info["sources"]) != sources.names or info["items"] != len(sources):
            raise ValueError(f"{path} was fitted on sources {info['sources']} over {info['items']} items, "
                             f"not {sources.names} over {len(sources)}")
        model = cls(sources, PersonalMetricConfig.from_dict(info["config"]))
        tensors = load_file(str(path / WEIGHTS_FILE))
        counts = tensors.pop("counts", None)
        model.load_state_dict(tensors)
        model._counts = None if counts is None else counts.numpy()
        if (path / USERS_FILE).exists():
            model.user_weights = {u: np.asarray(w) for u, w in json.loads((path / USERS_FILE).read_text()).items()}
        for p in model.parameters():
            p.requires_grad_(False)
        return model


class PersonalMetricScorer:
    """The Scorer of eccr/rank/base.py: a candidate's score is -d_u(query, candidate) under the shopper's metric
    (fitted on `history` at call time, cached per history), or the population/global weights when `personal` is
    False or the history is thin. `extra["weights"]` names the weights used."""

    def __init__(self, metric: PersonalMetric, personal: bool = True, name: str | None = None,
                 history_weight: float | None = None, cache_size: int = 4096):
        self.metric, self.personal = metric, personal
        self.name = name or ("personal_metric" if personal else "global_metric")
        self.history_weight = metric.config.history_weight if history_weight is None else history_weight
        self._cache: dict[tuple, np.ndarray] = {}
        self.cache_size = cache_size

    def weights_for(self, history: Sequence[str]) -> np.ndarray:
        if not self.personal:
            return self.metric.population
        key = tuple(map(str, history))[-self.metric.config.max_items:]
        if key not in self._cache:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            self._cache[key] = self.metric.user_metric(key)
        return self._cache[key]

    def score_candidates(self, query: Sequence[str], candidates: Sequence[str],
                         history: Sequence[str] = ()) -> Scores:
        if not len(candidates):
            return Scores(np.zeros(0))
        w = self.weights_for(history)
        scores = self.metric.log_similarity([str(query[-1])], candidates, w)[0]           # -d_u(q, c)
        past = [h for h in map(str, history) if h in self.metric.sources.position]
        if self.history_weight and past:  # log(k(q, c) + lambda mean_h k(h, c)), kept in logs
            near = self.metric.log_similarity(past, candidates, w)
            history_term = np.log(self.history_weight) + np.logaddexp.reduce(near, axis=0) - np.log(len(past))
            scores = np.logaddexp(scores, history_term)
        return Scores(scores, extra={"weights": dict(zip(self.metric.sources.names, np.round(w, 4).tolist()))})


def fit_personal_metric(sources: ItemSources, user_histories: Mapping[str, Sequence[str]],
                        config: PersonalMetricConfig | None = None, personal: bool = True,
                        item_counts: Mapping[str, float] | None = None, log=None) -> PersonalMetric:
    """Fit on {user: items in time order} (a train part's `behaviour.user_sequences()`); `item_counts` (item ->
    train sessions) sets the negatives' popularity, uniform without it."""
    model = PersonalMetric(sources, config)
    counts = None
    if item_counts is not None:
        counts = np.zeros(len(sources))
        for item, n in item_counts.items():
            row = sources.position.get(str(item))
            if row is not None:
                counts[row] = float(n)
    model._counts = counts
    return model.fit({str(u): [str(i) for i in h] for u, h in user_histories.items()}, counts, personal, log)


def load_run_metric(run_dir: str | Path) -> PersonalMetric | None:
    """The metric saved in RUN/personal_metric/ over the sources it was fitted on, or None when there is none."""
    from eccr.run import Run

    folder = Run(run_dir) / RUN_FOLDER
    if not (folder / CONFIG_FILE).exists():
        return None
    names = json.loads((folder / CONFIG_FILE).read_text())["sources"]
    return PersonalMetric.from_pretrained(folder, ItemSources.from_run(run_dir, names))


def metric_for_run(run_dir: str | Path, config: PersonalMetricConfig | None = None, log=None,
                   split=None) -> PersonalMetric:
    """The run's metric from RUN/personal_metric/, or fitted on the run's train part (users' item sequences and
    item counts) with the sources the run has, and saved there. Its population weights are the global metric.
    `split`: the run's temporal split when the caller has it (otherwise loaded from the run's config)."""
    from eccr.run import Run, load_run_config, split_dataset

    run, config = Run(run_dir), config or PersonalMetricConfig()
    names = [s for s in config.sources if s in LABEL_SOURCES or (run.vectors / f"{s}.json").exists()]
    sources = ItemSources.from_run(run.root, names)
    folder = run / RUN_FOLDER
    if (folder / CONFIG_FILE).exists():
        return PersonalMetric.from_pretrained(folder, sources)
    if split is None:
        _, split = split_dataset(load_run_config(run.root))
    train = split.train.behaviour
    metric = fit_personal_metric(sources, train.user_sequences().to_dict(),
                                 dataclasses.replace(config, sources=tuple(names)),
                                 item_counts=train.item_counts().to_dict(), log=log)
    metric.save_pretrained(folder)
    return metric
