"""Typed configs for the item-representation stage (text, behaviour, directed, fusion); defaults documented.

A run saves these with `dataclasses.asdict` as JSON; every field is plain data.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TextConfig:
    model_dir: str | None = None      # sentence-transformers folder or hub id (HF_HUB_OFFLINE=0); None = packaged MiniLM
    batch_size: int = 64              # sentences per forward pass on CPU
    include_category: bool = True     # item text = title + " | " + category path (most general level dropped)
    include_brand: bool = True        # append "brand: X" when the catalogue has one
    cache_dir: str = "~/.cache/eccr/text"  # vectors cached per (model, catalogue text) hash; "" disables
    device: str = "cpu"               # torch device for the encoder


@dataclass
class ComplementEncoderConfig:
    """The text encoder fine-tuned for complements (eccr/represent/complement_encoder.py), the blend feature
    "tuned_cosine" and the in-domain text-neighbour candidates (README, "The shipped ranking against text cosine")."""

    enabled: bool = True              # `eccr train` fits it (complement stage; off in the --quick demo preset); used
    #                                   only when it beats the frozen encoder on the valid lists
    layers: int = 2                   # top transformer layers tuned; the lower ones are frozen and cached
    lists_per_step: int = 32          # candidate lists per step; their candidates are each other's negatives too
    negatives: int = 6                # of each list's status-matched negatives, drawn afresh every step
    lr: float = 5e-5                  # AdamW learning rate
    weight_decay: float = 0.01        # AdamW weight decay
    scale: float = 20.0               # cosine temperature of the softmax
    max_tokens: int = 64              # tokens per item text, in training and in the saved encoder
    max_steps: int = 400              # upper bound on steps
    eval_every: int = 50              # valid HR@5 every this many steps; the best evaluation's layers are kept
    patience: int = 2                 # evaluations without a better valid HR@5 before stopping
    list_draws: int = 2               # seeded draws of the train lists (fresh negatives each)
    threads: int = 2                  # torch intra-op threads
    seed: int = 0                     # seeds torch and the list/negative draws


@dataclass
class BehaviourConfig:
    """Skip-gram with negative sampling over per-user, time-ordered item sequences (Lake et al. §3)."""

    dim: int = 64                     # d, embedding size
    window: int = 5                   # context window over a user's sequence
    negative: int = 10                # |N_i|, negatives per positive
    ns_exponent: float = 0.75         # gamma in P_gamma(i) ∝ count(i)^gamma (Lake et al. eq. 5)
    epochs: int = 30                  # passes over the sequences (the data are small)
    min_count: int = 1                # keep every item that occurs at least once
    seed: int = 0                     # gensim seed; with workers=1 the vectors are reproducible
    workers: int = 1                  # 1 = deterministic (gensim threads reorder updates)


@dataclass
class DirectedConfig:
    """Source/target towers over item features (see eccr/represent/directed.py)."""

    dim: int = 64                     # size of s(i) and t(j)
    hidden: int = 256                 # hidden width of each tower's MLP
    category_dim: int = 32            # learned embedding per category-path prefix (one per level)
    brand_dim: int = 8                # learned brand embedding (unused when the catalogue has no brands)
    input_dropout: float = 0.5        # dropout on the frozen text features, against memorising titles
    text_prior: float = 1.0           # initial β: s·t = β·cos_text + tower part (learned; 0 = towers only)
    temperature: float = 0.1          # softmax temperature on cosine(s, t)
    random_negatives: int = 32        # uniform random items per positive pair
    substitute_negatives: int = 2     # per positive: items of the source's category path, so look-alikes rank
    #                                   below partners (trade-off against HR@10: README, "Choices behind defaults")
    substitute_pool: int = 20         # size of each item's substitute pool (same category path first)
    substitute_text_share: float = 0.0  # share of the pool from nearest titles (often complements of the same
    #                                   product line, so off by default); paths without peers use them anyway
    direction_weight: float = 1.0     # weight of the pairwise direction loss (Bradley-Terry on s·t asymmetry)
    direction_sharpness: float = 4.0  # label(A->B) = sigmoid(sharpness * (accessory(B) - accessory(A)))
    reverse_floor: float = 0.5        # retrieval loss weight of the less likely direction of an unordered pair
    copurchase_weight: float = 0.3    # evidence weight of same-session pairs that are not in a bundle
    sequential_weight: float = 1.0    # evidence weight of "bought A, later B" pairs from a user's sessions
    sequential_gap: int = 3           # later sessions (per user) that still count as "after"
    explicit_weight: float = 1.0      # evidence weight of explicit directed pairs (also_bought, ...)
    residual: bool = True             # per-item free residuals for items with evidence (BLADE-like)
    residual_shrink: float = 5.0      # residual gate = degree / (degree + shrink): low degree borrows features
    residual_dropout: float = 0.5     # training: share of items whose residual is hidden (DropoutNet), so the
    #                                   towers must score warm items alone, as they must for cold ones
    epochs: int = 30                  # maximum passes over the positive pairs
    batch_size: int = 1024            # positive pairs per step (the towers run on every candidate once)
    lr: float = 3e-4                  # AdamW learning rate (small: the bundle data are small and overfit fast)
    weight_decay: float = 0.05        # AdamW weight decay
    patience: int = 3                 # early stopping on validation HR@10 (only when valid pairs are given)
    max_seconds: float = 60.0         # wall-clock cap for training
    threads: int = 1                  # torch intra-op threads (small matmuls: more threads mostly add overhead)
    seed: int = 0                     # seeds torch and numpy for the whole fit


@dataclass
class FusionConfig:
    text_weight: float = 1.0          # block weight of the L2-normalised text vector
    behaviour_weight: float = 0.5     # block weight of the behaviour vector (zeros where missing)
    directed_weight: float = 1.0      # block weight of each of the source and target vectors
    missing_flag: bool = True         # append a 0/1 column: 1 where the item has no behaviour vector
