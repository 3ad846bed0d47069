"""Residual quantizers: item vector -> L discrete codes, coarse to fine.

Residual quantization (Juang & Gray 1982; used for generative retrieval by TIGER, Rajput et al. 2023) picks, at
each level l, the codebook entry nearest to what the previous levels left unexplained:
    r_0 = z,  c_l = argmin_k ||r_l - C_l[k]||,  r_{l+1} = r_l - C_l[c_l],  z ~ sum_l C_l[c_l].
Two implementations share the interface `fit(X) / encode(X) -> (n, L) / decode(codes) -> (n, d)`:
- `ResidualKMeans`: k-means (FAISS) on the residuals of each level; z = x. Fast, no training loop.
- `RQVAE`: an MLP autoencoder whose latent z is residual-quantized (TIGER §3.1, after Zeghidour et al. 2021),
  trained with the straight-through estimator, codebook + commitment losses, k-means initialisation of the
  codebooks on the first batch and restarts of dead codes (codebook collapse is the usual failure).
Both expose `embed(X)` (the space in which codes are assigned) and `codebooks()` so collision handling
(semantic_ids.py) can search for the nearest free code without knowing which quantizer it has.
Saved as PATH.safetensors (weights) + PATH.json (kind, config, shapes); nothing is unpickled.
"""
from __future__ import annotations

import itertools
import json
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from torch import nn

from eccr.quantize.config import QuantizerConfig


def _as_matrix(X, dim: int | None = None) -> np.ndarray:
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"expected a non-empty (n_items, dim) matrix, got shape {X.shape}")
    if dim is not None and X.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got {X.shape[1]}")
    if not np.isfinite(X).all():
        raise ValueError("item vectors contain NaN or infinite values")
    return X


@contextmanager
def cpu_threads(n: int):
    """Temporarily limits FAISS (OpenMP) and torch to `n` threads."""
    faiss_before, torch_before = faiss.omp_get_max_threads(), torch.get_num_threads()
    faiss.omp_set_num_threads(n)
    torch.set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(faiss_before)
        torch.set_num_threads(torch_before)


def kmeans_centroids(points: np.ndarray, k: int, iterations: int, seed: int) -> np.ndarray:
    """k-means centroids (FAISS) with k capped at the number of points; empty clusters are split by FAISS."""
    points = np.ascontiguousarray(points, dtype=np.float32)
    k = max(1, min(k, len(points)))
    km = faiss.Kmeans(points.shape[1], k, niter=iterations, seed=seed, verbose=False,
                      min_points_per_centroid=1)  # silences FAISS' "provide more points" warning
    km.train(points)
    return np.ascontiguousarray(km.centroids, dtype=np.float32)


def nearest_codes(residuals: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Index of the nearest codebook row for each residual (squared L2)."""
    scores = residuals @ codebook.T * -2.0 + (codebook * codebook).sum(1)[None, :]
    return scores.argmin(1).astype(np.int64)


def greedy_residual_codes(Z: np.ndarray, codebooks: list[np.ndarray]) -> np.ndarray:
    """Codes (n, L) by greedy residual assignment of Z against the per-level codebooks."""
    residual = Z.astype(np.float32).copy()
    codes = np.empty((len(Z), len(codebooks)), dtype=np.int64)
    for level, codebook in enumerate(codebooks):
        codes[:, level] = nearest_codes(residual, codebook)
        residual -= codebook[codes[:, level]]
    return codes


def sum_of_codewords(codes: np.ndarray, codebooks: list[np.ndarray]) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    if codes.ndim != 2 or codes.shape[1] != len(codebooks):
        raise ValueError(f"expected codes of shape (n, {len(codebooks)}), got {codes.shape}")
    for level, codebook in enumerate(codebooks):
        if codes.size and (codes[:, level].min() < 0 or codes[:, level].max() >= len(codebook)):
            raise ValueError(f"code out of range at level {level}: codebook has {len(codebook)} entries")
    return sum(codebook[codes[:, level]] for level, codebook in enumerate(codebooks)).astype(np.float32)


class ResidualQuantizer(ABC):
    """Common interface; subclasses implement fit, embed, codebooks, decode and their weights."""

    kind: str = ""

    def __init__(self, config: QuantizerConfig | None = None):
        self.config = config or QuantizerConfig(kind=self.kind)
        self.dim: int | None = None  # input dimension, set by fit

    @property
    def levels(self) -> int:
        return self.config.levels

    @property
    def is_fitted(self) -> bool:
        return self.dim is not None

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(X) or load() first")

    @abstractmethod
    def fit(self, X) -> ResidualQuantizer: ...

    @abstractmethod
    def embed(self, X) -> np.ndarray:
        """Vectors in the space where residual codes are assigned (x itself, or the RQ-VAE latent)."""

    @abstractmethod
    def codebooks(self) -> list[np.ndarray]:
        """Per-level codebooks, each (K_l, latent_dim); K_l <= codebook_size."""

    @abstractmethod
    def decode(self, codes) -> np.ndarray:
        """Reconstructed input vectors (n, dim) from codes (n, L)."""

    def encode(self, X) -> np.ndarray:
        """Codes (n, L), int64, by greedy residual assignment."""
        self._check_fitted()
        return greedy_residual_codes(self.embed(_as_matrix(X, self.dim)), self.codebooks())

    def codebook_sizes(self) -> list[int]:
        return [len(c) for c in self.codebooks()]

    # --- persistence -------------------------------------------------------------------------------------
    @abstractmethod
    def _tensors(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _restore(self, tensors: dict[str, np.ndarray], info: dict) -> None: ...

    def save(self, path: str | Path) -> None:
        """Writes PATH.safetensors and PATH.json."""
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: np.ascontiguousarray(v) for k, v in self._tensors().items()},
                  str(path.with_suffix(".safetensors")))
        info = {"kind": self.kind, "dim": self.dim, "config": self.config.to_dict(),
                "codebook_sizes": self.codebook_sizes()}
        path.with_suffix(".json").write_text(json.dumps(info, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> ResidualQuantizer:
        """Loads any saved quantizer; the JSON's `kind` picks the class."""
        path = Path(path)
        meta = path.with_suffix(".json")
        if not meta.exists():
            raise FileNotFoundError(f"no quantizer metadata at {meta}")
        info = json.loads(meta.read_text())
        kinds = {"kmeans": ResidualKMeans, "rqvae": RQVAE}
        if info.get("kind") not in kinds:
            raise ValueError(f"{meta}: unknown quantizer kind {info.get('kind')!r}; expected one of {list(kinds)}")
        quantizer = kinds[info["kind"]](QuantizerConfig.from_dict(info["config"]))
        quantizer.dim = int(info["dim"])
        quantizer._restore(load_file(str(path.with_suffix(".safetensors"))), info)
        return quantizer


class ResidualKMeans(ResidualQuantizer):
    """Residual k-means: level l's codebook is k-means (FAISS) of the residuals left by levels < l."""

    kind = "kmeans"

    def __init__(self, config: QuantizerConfig | None = None):
        super().__init__(config)
        self._codebooks: list[np.ndarray] = []

    def fit(self, X) -> ResidualKMeans:
        X = _as_matrix(X)
        with cpu_threads(self.config.threads):
            return self._fit(X)

    def _fit(self, X: np.ndarray) -> ResidualKMeans:
        residual = X.copy()
        self._codebooks = []
        for level in range(self.config.levels):
            codebook = kmeans_centroids(residual, self.config.codebook_size, self.config.kmeans_iterations,
                                        self.config.seed + level)
            residual -= codebook[nearest_codes(residual, codebook)]
            self._codebooks.append(codebook)
        self.dim = X.shape[1]
        return self

    def embed(self, X) -> np.ndarray:
        return _as_matrix(X, self.dim)

    def codebooks(self) -> list[np.ndarray]:
        self._check_fitted()
        return self._codebooks

    def decode(self, codes) -> np.ndarray:
        self._check_fitted()
        return sum_of_codewords(codes, self._codebooks)

    def _tensors(self) -> dict[str, np.ndarray]:
        return {f"codebook_{level}": c for level, c in enumerate(self._codebooks)}

    def _restore(self, tensors: dict[str, np.ndarray], info: dict) -> None:
        self._codebooks = [tensors[f"codebook_{level}"].astype(np.float32) for level in range(self.config.levels)]


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class RQVAENet(nn.Module):
    """Encoder -> residual quantization over L codebooks -> decoder (TIGER §3.1, Fig. 3)."""

    def __init__(self, dim: int, hidden: tuple[int, ...], latent_dim: int, codebook_sizes: list[int]):
        super().__init__()
        self.encoder = _mlp([dim, *hidden, latent_dim])
        self.decoder = _mlp([latent_dim, *reversed(hidden), dim])
        self.codebooks = nn.ParameterList([nn.Parameter(torch.zeros(k, latent_dim)) for k in codebook_sizes])
        self.register_buffer("input_mean", torch.zeros(dim))
        self.register_buffer("input_scale", torch.ones(()))

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.input_mean) / self.input_scale

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Returns (sum of chosen codewords, codes (n, L), residual entering each level)."""
        residual, quantized = z, torch.zeros_like(z)
        codes, residuals = [], []
        for codebook in self.codebooks:
            residuals.append(residual)
            idx = torch.cdist(residual.detach(), codebook.detach()).argmin(1)
            codes.append(idx)
            chosen = codebook[idx]
            quantized = quantized + chosen
            residual = residual - chosen.detach()
        return quantized, torch.stack(codes, 1), residuals

    def forward(self, x: torch.Tensor, commitment: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encoder(self.standardize(x))
        quantized, codes, residuals = self.quantize(z)
        vq_loss = z.new_zeros(())
        for level, residual in enumerate(residuals):
            chosen = self.codebooks[level][codes[:, level]]
            vq_loss = vq_loss + ((chosen - residual.detach()) ** 2).sum(1).mean() \
                + commitment * ((residual - chosen.detach()) ** 2).sum(1).mean()
        straight_through = z + (quantized - z).detach()
        recon = self.decoder(straight_through)
        recon_loss = ((recon - self.standardize(x)) ** 2).sum(1).mean()
        return recon_loss, vq_loss, codes


class RQVAE(ResidualQuantizer):
    """Residual-quantized variational autoencoder (Zeghidour et al. 2021, as used by TIGER, Rajput et al.
    2023, §3.1). Codebooks start from k-means of the first batch's latents; codes unused during a window of
    `restart_every` epochs are re-seeded on random current residuals (dead-code restart), which keeps
    codebook utilisation high instead of collapsing onto a few codes."""

    kind = "rqvae"

    def __init__(self, config: QuantizerConfig | None = None):
        super().__init__(config or QuantizerConfig(kind="rqvae"))
        self.net: RQVAENet | None = None
        self.restarts: list[int] = []  # codes restarted per restart round (summed over levels), for reports

    def _build(self, dim: int, codebook_sizes: list[int]) -> RQVAENet:
        c = self.config.rqvae
        return RQVAENet(dim, tuple(c.hidden), c.latent_dim, codebook_sizes)

    def fit(self, X) -> RQVAE:
        X = _as_matrix(X)
        with cpu_threads(self.config.threads):
            return self._fit(X)

    def _fit(self, X: np.ndarray) -> RQVAE:
        cfg, train = self.config, self.config.rqvae
        torch.manual_seed(cfg.seed)
        generator = torch.Generator().manual_seed(cfg.seed)
        sizes = [min(cfg.codebook_size, len(X))] * cfg.levels
        net = self._build(X.shape[1], sizes)
        x_all = torch.from_numpy(X)
        net.input_mean.copy_(x_all.mean(0))
        net.input_scale.copy_((x_all - x_all.mean(0)).pow(2).sum(1).mean().sqrt().clamp_min(1e-8))
        batch = max(1, min(train.batch_size, len(X)))
        order = torch.randperm(len(X), generator=generator)
        self._init_codebooks(net, x_all[order[:max(batch, min(len(X), 2 * cfg.codebook_size))]])
        optimizer = torch.optim.Adam(net.parameters(), lr=train.learning_rate)
        usage = [torch.zeros(k, dtype=torch.long) for k in sizes]
        self.restarts = []
        net.train()
        for epoch in range(train.epochs):
            order = torch.randperm(len(X), generator=generator)
            for start in range(0, len(X), batch):
                recon_loss, vq_loss, codes = net(x_all[order[start:start + batch]], train.commitment)
                optimizer.zero_grad()
                (recon_loss + vq_loss).backward()
                optimizer.step()
                for level in range(cfg.levels):
                    usage[level] += torch.bincount(codes[:, level], minlength=sizes[level])
            last_epoch = epoch == train.epochs - 1
            if train.restart_every and (epoch + 1) % train.restart_every == 0 and not last_epoch:
                self.restarts.append(self._restart_dead_codes(net, x_all, usage, generator))
                usage = [torch.zeros(k, dtype=torch.long) for k in sizes]
        net.eval()
        self.net, self.dim = net, X.shape[1]
        return self

    def _init_codebooks(self, net: RQVAENet, x: torch.Tensor) -> None:
        """k-means of the first batch's latent residuals, level by level (the batch is enlarged to at least
        2 x codebook_size items so every code gets a centroid)."""
        with torch.no_grad():
            residual = net.encoder(net.standardize(x)).numpy()
            for level, codebook in enumerate(net.codebooks):
                centroids = kmeans_centroids(residual, len(codebook), self.config.kmeans_iterations,
                                             self.config.seed + level)
                if len(centroids) < len(codebook):  # fewer points than codes: pad with jittered points
                    extra = residual[np.arange(len(codebook) - len(centroids)) % len(residual)]
                    centroids = np.concatenate([centroids, extra + 1e-3 * np.random.default_rng(
                        self.config.seed).standard_normal(extra.shape).astype(np.float32)])
                codebook.copy_(torch.from_numpy(centroids))
                residual = residual - centroids[nearest_codes(residual, centroids)]

    def _restart_dead_codes(self, net: RQVAENet, x_all: torch.Tensor, usage: list[torch.Tensor],
                            generator: torch.Generator) -> int:
        """Moves every code used fewer than `restart_min_usage` times onto a random current residual."""
        restarted = 0
        with torch.no_grad():
            sample = x_all[torch.randperm(len(x_all), generator=generator)[:4096]]
            _, _, residuals = net.quantize(net.encoder(net.standardize(sample)))
            for level, codebook in enumerate(net.codebooks):
                dead = torch.nonzero(usage[level] < self.config.rqvae.restart_min_usage).flatten()
                if len(dead) == 0:
                    continue
                pick = torch.randint(len(sample), (len(dead),), generator=generator)
                noise = 1e-3 * torch.randn(len(dead), codebook.shape[1], generator=generator)
                codebook[dead] = residuals[level][pick] + noise
                restarted += len(dead)
        return restarted

    def embed(self, X) -> np.ndarray:
        self._check_fitted()
        x = torch.from_numpy(_as_matrix(X, self.dim))
        with torch.no_grad():
            return self.net.encoder(self.net.standardize(x)).numpy().astype(np.float32)

    def codebooks(self) -> list[np.ndarray]:
        self._check_fitted()
        return [c.detach().numpy().copy() for c in self.net.codebooks]

    def decode(self, codes) -> np.ndarray:
        self._check_fitted()
        quantized = torch.from_numpy(sum_of_codewords(codes, self.codebooks()))
        with torch.no_grad():
            out = self.net.decoder(quantized) * self.net.input_scale + self.net.input_mean
        return out.numpy().astype(np.float32)

    def _tensors(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy() for k, v in self.net.state_dict().items()}

    def _restore(self, tensors: dict[str, np.ndarray], info: dict) -> None:
        self.net = self._build(int(info["dim"]), list(info["codebook_sizes"]))
        self.net.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
        self.net.eval()


def make_quantizer(config: QuantizerConfig) -> ResidualQuantizer:
    """The quantizer named by `config.kind`, unfitted."""
    return {"kmeans": ResidualKMeans, "rqvae": RQVAE}[config.kind](config)


def load_quantizer(path: str | Path) -> ResidualQuantizer:
    return ResidualQuantizer.load(path)
