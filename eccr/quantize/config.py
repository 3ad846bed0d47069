"""Configuration of the semantic-ID stage: residual quantizer, its training, and collision handling.

Item vectors are compressed into L discrete codes (one per level, coarse to fine), each code becomes one new
LM token ("<a_12><b_7><c_201>"), so an item costs L tokens in a prompt (ECCR: "compressing and quantizing user
behavior information into LM tokens"; the residual-quantization recipe follows TIGER, Rajput et al. 2023).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from eccr.config import JsonConfig

QUANTIZER_KINDS = ("kmeans", "rqvae")
COLLISION_STRATEGIES = ("extra_level", "nearest_free")


@dataclass
class RQVAEConfig:
    """Training settings of the RQ-VAE (only used when `QuantizerConfig.kind == "rqvae"`)."""

    hidden: tuple[int, ...] = (256, 128)  # encoder MLP widths (the decoder mirrors them)
    latent_dim: int = 32          # width of the quantized latent (TIGER uses 32)
    epochs: int = 100             # passes over the items (see scripts/bench_quantize.py for time and error)
    batch_size: int = 256         # items per step; the first batch also seeds the codebooks by k-means
    learning_rate: float = 2e-3   # Adam step size
    commitment: float = 0.25      # beta: weight of ||z - sg[c]||^2 (van den Oord et al. 2017; TIGER uses 0.25)
    restart_every: int = 5        # epochs between dead-code restarts (0 disables restarts)
    restart_min_usage: int = 1    # a code picked fewer times than this in the last window is dead and restarted


@dataclass
class QuantizerConfig(JsonConfig):
    """Which residual quantizer to fit and how IDs are made unique."""

    kind: str = "kmeans"          # "kmeans" (residual k-means, FAISS; fast) or "rqvae" (learned, PyTorch)
    levels: int = 3               # L: codes per item before disambiguation
    codebook_size: int = 256      # K: codes per level; a level never uses more codes than there are items
    seed: int = 0                 # seeds k-means, torch and the restart sampler
    kmeans_iterations: int = 25   # Lloyd iterations per level (residual k-means and RQ-VAE codebook init)
    threads: int = 1              # CPU threads for FAISS and torch while fitting; these matrices are small,
    #                               so one thread is fastest on a shared machine (OpenMP spin-waits otherwise)
    collisions: str = "extra_level"  # "extra_level": every item gets a counter level L+1 that numbers the
    #                                   items sharing its L codes (TIGER §3.1; IDs have L+1 tokens);
    #                                   "nearest_free": colliding items move to the nearest unused L-tuple
    #                                   (IDs keep L tokens; see semantic_ids.assign_nearest_free)
    rqvae: RQVAEConfig = field(default_factory=RQVAEConfig)

    def __post_init__(self) -> None:
        if self.kind not in QUANTIZER_KINDS:
            raise ValueError(f"QuantizerConfig.kind must be one of {QUANTIZER_KINDS}, got {self.kind!r}")
        if self.collisions not in COLLISION_STRATEGIES:
            raise ValueError(f"QuantizerConfig.collisions must be one of {COLLISION_STRATEGIES}, "
                             f"got {self.collisions!r}")
        if not 1 <= self.levels <= 25:  # one letter per level, plus one for the counter level
            raise ValueError(f"QuantizerConfig.levels must be in 1..25 (one letter per level), got {self.levels}")
        if self.codebook_size < 2:
            raise ValueError(f"QuantizerConfig.codebook_size must be >= 2, got {self.codebook_size}")
