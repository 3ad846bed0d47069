"""Configuration of the ranking stage: the attention-CF model, its training loop, the DAN baseline and retrieval.

Defaults follow Lake et al., "Large-scale Collaborative Filtering with Product Embeddings" (§4.3) unless a
comment says otherwise. Every config is a plain dataclass that round-trips through JSON (`to_dict` / `from_dict`,
the one scheme of eccr/config.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from eccr.config import JsonConfig


@dataclass
class RankerConfig(JsonConfig):
    kind: str = "attention_cf"     # the ranker `eccr train` fits: attention_cf (Lake et al.) | attrformer (Liu et al.
    #                                2025, eccr/rank/attrformer.py, settings in AttrFormerConfig) | sasrec (the same
    #                                Transformer without relations); all share the training fields below
    # --- model (§4.1) ---
    hops: int = 10                 # K; depth 2 -> 4 helps most, deeper gives diminishing gains (Fig. 4)
    hidden: int = 128              # d', width of f^k, g^k, h
    null_slot: bool = False        # ours: a learned "attend nowhere" memory slot (see AttentionCF); off = paper
    # --- training examples (§4.2) ---
    instances: str = "baskets"     # "baskets": each bundle / multi-item session as a set (complement queries:
    #                                memory = the basket); "users": each user's items in time order, memory = an
    #                                observed prefix, positives = later items (the paper's setting)
    future_items: int = 10         # |S_u|, at most this many future items are positives
    negatives: int = 100           # |N_u|, drawn from P_gamma with the alias method, never from S_u
    gamma: float = 0.75            # smoothing power of the popularity distribution (eq. 5)
    max_memory: int = 50           # keep at most this many most-recent observed items as memory (ours)
    # --- optimisation (§4.3) ---
    lr: float = 0.002              # Adam initial learning rate
    beta1: float = 0.9             # Adam beta_1
    beta2: float = 0.999           # Adam beta_2
    batch_size: int = 64           # training instances (users / bundles) per update
    clip: float = 10.0             # rescale the gradient to this norm when it is larger
    eval_every: int = 500          # updates between validation assessments (paper: 5,000 on 40M users)
    patience: int = 5              # assessments without improvement before the lr is reduced
    lr_decay: float = 0.8          # lr multiplier at each reduction
    max_reductions: int = 20       # stop after this many lr reductions
    max_epochs: int = 50           # hard cap on passes over the training sequences (ours)
    max_seconds: float = 3600.0    # hard cap on wall time in seconds (ours)
    valid_negatives: int = 100     # negatives per validation instance (fixed once, so assessments compare)
    seed: int = 0                  # seeds numpy (splits, negatives) and torch (init)
    progress: bool = True          # show a tqdm progress bar


@dataclass
class DANConfig(JsonConfig):
    """Deep Averaging Network baseline (Lake et al. §5.2; Iyyer et al. 2015)."""

    hidden: int = 128              # width of the two ReLU layers
    layers: int = 2                # number of ReLU layers ("two layers of 128 rectified linear units")
    variant: str = "dot"           # "dot": mu(mean x)^T x_q (the paper's better variant); "add": mu(mean x + x_q)


@dataclass
class AttrFormerConfig(JsonConfig):
    """AttrFormer (Liu et al. 2025) and its SASRec ablation (eccr/rank/attrformer.py); lr, batch size, negatives,
    gamma, max_memory (the sequence length), eval_every, patience and the caps come from RankerConfig."""

    relations: tuple[str, ...] = ("brand", "category", "copurchase")  # one relation-augmented head each
    hidden: int = 64               # model width; each head gets hidden // (heads + len(relations))
    layers: int = 2                # Transformer blocks
    heads: int = 2                 # plain causal self-attention heads beside the relation heads
    neighbours: int = 10           # co-bought items per item (train part) behind the co-purchase relation
    similar_users: int = 8         # users aggregated position-to-position (batch in training, bank at inference)
    bank_size: int = 2048          # training users whose final states form the inference bank
    window: int = 3                # next behaviours counted in the posterior target
    dirichlet_prior: float = 1.0   # alpha: strength of the Dirichlet prior (popularity**gamma) in the target
    dropout: float = 0.1           # dropout on the input embeddings, attention output and feed-forward output


@dataclass
class RetrievalConfig(JsonConfig):
    flat_max_items: int = 50_000   # exact IndexFlatIP up to this many items; an approximate index above
    large_index: str = "hnsw"      # "hnsw" (IndexHNSWFlat) or "ivf" (IndexIVFFlat) for large catalogues
    hnsw_m: int = 32               # HNSW graph degree
    hnsw_ef_construction: int = 80 # HNSW build-time beam width
    hnsw_ef_search: int = 128      # HNSW query-time beam width (recall vs speed)
    ivf_lists: int = 0             # IVF cells; 0 = 4 * sqrt(n_items)
    ivf_probe: int = 16            # IVF cells visited per query
    normalize: bool = True         # L2-normalise vectors so inner product = cosine


@dataclass
class ComplementConfig(JsonConfig):
    """The listwise complement scorer over frozen text vectors (eccr/rank/complement.py)."""

    hidden: int = 256              # width of the MLP over [q; c; q*c]
    word_dim: int = 64             # size of the source / target word embeddings of the bilinear word part
    word_min_count: int = 2        # words in fewer catalogue items are ignored
    max_words: int = 48            # words read per item (title words, then category names)
    word_dropout: float = 0.2      # dropout on the word embeddings
    dropout: float = 0.1           # dropout on the MLP's input and hidden layer
    lr: float = 2e-3               # AdamW learning rate
    weight_decay: float = 0.01     # AdamW weight decay
    batch_size: int = 128          # candidate lists per update
    list_draws: int = 4            # train-part lists are drawn this many times with fresh negatives; epochs cycle
    max_epochs: int = 12           # passes over one draw of the train lists
    patience: int = 3              # epochs without a better valid HR@5 before stopping (best epoch kept)
    max_seconds: float = 600.0     # wall-clock cap on training
    threads: int = 1               # torch intra-op threads
    seed: int = 0                  # seeds the list draws, init and batch order
    # --- lists whose label arrives late (issue #12 B; eccr/data/later_lists.py, eccr/data/delay.py) ---
    training_lists: str = "bundles"  # bundles: a bundle partner among negatives (eccr/data/candidate_lists.py) |
    #                                later: a complement the same user bought in a later session (labels that
    #                                arrive late) | both; the valid lists are of the same kind(s)
    later_horizon_days: float = 60.0  # a later purchase is the positive when it comes within this many days
    delay_weighting: str = "none"  # what the later lists do about their newest labels being incomplete: none (as
    #                                observed) | drop (lists younger than delay_drop_days) | pq (each list's loss
    #                                times P/Q = 1 / (1 - S(age)), S the delay's survival fitted on matured queries;
    #                                Yasui et al., WWW 2020); bundle lists always weigh 1
    delay_drop_days: float = 30.0  # "drop": lists whose query was bought fewer days than this before the cutoff
    delay_max_weight: float = 10.0  # "pq": cap on a list's weight (a positive seen at age ~0 would get a huge one)

    def __post_init__(self) -> None:
        if self.training_lists not in ("bundles", "later", "both"):
            raise ValueError(f"ComplementConfig.training_lists must be bundles, later or both, not "
                             f"{self.training_lists!r}")
        if self.delay_weighting not in ("none", "drop", "pq"):
            raise ValueError(f"ComplementConfig.delay_weighting must be none, drop or pq, not {self.delay_weighting!r}")


@dataclass
class UncertaintyConfig(JsonConfig):
    """Is this a coherent complement? An ensemble of complement scorers, a calibrated probability, one threshold per
    uncertainty level (eccr/rank/uncertainty.py)."""

    members: int = 5               # complement scorers, each on a bootstrap resample (by query item) of the train lists
    max_epochs: int = 3            # epochs per member (the single scorer's best valid epoch is about 3 on real data)
    levels: int = 3                # uncertainty levels: equal-count bins of the ensemble spread on the valid pairs
    target_precision: float = 0.9  # the decision calls a pair coherent when its precision on valid pairs reaches this
    seed: int = 0                  # member k trains with seed + k and bootstrap seed + k


@dataclass
class PersonalMetricConfig(JsonConfig):
    """The personalised item-to-item metric of Hoang et al. 2022 (eccr/rank/personal_metric.py)."""

    sources: tuple[str, ...] = ("text", "behaviour", "directed_source", "category", "brand")  # d_s: a run's vector
    #                              folders (cosine) and the catalogue's category path and brand (label mismatch)
    max_items: int = 20            # a user's most recent distinct items in the fit (the GP's positives, y = 1)
    negatives: int = 2             # sampled non-interacted items (y = 0) per positive, from P_gamma of train counts
    gamma: float = 0.75            # smoothing power of the negatives' popularity distribution
    min_items: int = 2             # users with fewer past items keep the population weights (no personal fit)
    prior_scale: float = 1.0       # tau: the prior N(0, tau^2) of a user's deviation from the population weights;
    #                                smaller = stronger shrinkage toward them
    population_users: int = 1000   # users (seeded sample) whose likelihood fits the population weights and scales
    population_steps: int = 60     # L-BFGS iterations of that fit
    user_steps: int = 25           # L-BFGS iterations of each user's MAP weights (population fixed)
    batch_users: int = 256         # users per chunk (memory: batch_users * (max_items * (1 + negatives))^2 * S)
    history_weight: float = 0.0    # score = log(k_u(query, c) + history_weight * mean_h k_u(h, c)); 0 = -d_u(q, c)
    seed: int = 0                  # seeds the negatives and the population's user sample
    # --- as a candidate feature of the shipped ranking (eccr/rank/candidates.py) ---
    blend_feature: bool = False    # `eccr train`'s blend stage fits the metric into RUN/personal_metric/ and adds its
    #                                score (the shopper's metric fitted on the history/basket passed; population
    #                                weights when that is thin or empty) as the blend feature "personal_metric";
    #                                a run whose blend.json weighs it loads the metric wherever it ranks. Off: the
    #                                blend weighs it negatively and ECCR HR@5 moves by +0.002 (electronic) / +0.007
    #                                (planted synthetic), both within noise (scripts/bench_personal_metric_blend.py;
    #                                README, "A personalised item-to-item metric")


@dataclass
class PoolSize:
    """How many candidates each source adds to the pool (the Recommender's retrieve_* settings)."""

    k: int = 100          # from the directed FAISS index
    near_k: int = 50      # + nearest items by content (the fused text + directed blocks: fuse.content_vectors)
    text_k: int = 200     # + nearest items by text (the complement scorer re-ranks them)


@dataclass
class RecommenderConfig:
    """How a trained run serves (eccr/pipeline.py `Recommender`): the candidate pool, the ranking, the type cap, the
    LM and the explanations. `eccr recommend` and `eccr explain` take every field as `--serve.<field>`."""

    retrieve_k: int = PoolSize.k   # candidates fetched from the directed FAISS index before ranking
    retrieve_near_k: int = PoolSize.near_k  # + nearest items by content (fused text + directed blocks)
    retrieve_text_k: int = PoolSize.text_k  # + nearest items by text (the complement scorer re-ranks them)
    lm_top: int = 10               # top ranker candidates the LM re-scores (0 = no LM scoring)
    lm_weight: float = 0.0         # weight of the z-scored LM log-probability of the candidate's ID. Off by default:
    #                                no CPU-trained adapter has raised the honest HR@5 (README, "An LM that ranks").
    #                                Turn it on (e.g. 1.0) for an adapter that `eccr evaluate --with-lm` shows helps.
    max_per_type: int = 0          # > 0: at most this many items of one leaf category before any item of another
    #                                type moves up (battery, battery, card, bag ... instead of four batteries); a
    #                                reordering, nothing is dropped. 0 (off) in evaluation; the demo uses 2
    type_margin: float = 2.0       # with max_per_type, an item held back still comes before an item of another type
    #                                whose score (the coherent blend's calibrated log-odds) is more than this below
    #                                its own (the coherent ranking only; inf: variety always wins) ...
    type_floor: float = 0.0        # ... or below this (-inf: no floor): a third Xbox controller for an Xbox game,
    #                                not a mouse. Measured by scripts/measure_demo_types.py (README, "The demo: types")
    demote_incompatible: bool = True  # candidates made for another brand, model, lens mount or card slot than the query
    #                                (eccr.coherence.pair_flags' `incompatible`) rank below every other candidate
    ranking: str = "coherent"      # which fitted blend ranks: "coherent" (complements that fit; substitutes pushed
    #                                down), "bought_together" (what shoppers bundle, similar items included) or
    #                                "personal_metric" (the shopper's personalised item-to-item metric alone, Hoang
    #                                et al.; weights from the basket/history, population weights for thin shoppers)
    explain: str = "reason_first"  # "reason_first": the grounded template where it states a reason (what one item
    #                                does for the other, fit evidence), else the LM's sentence when it passes the
    #                                grounding check, else the template; "lm" (the LM's sentence first, template
    #                                fallback), "grounded" (template only), "none"
    max_new_tokens: int = 48       # explanation length cap
    use_lm: bool = True            # load the LoRA LM when the run has one
    device: str = "auto"           # LM device
    backend: str = ""              # explanation decoding: "" = the run's model.backend (default "auto": llama.cpp
    #                                on CPU when installed, else transformers), or "auto", "hf", "llamacpp"
