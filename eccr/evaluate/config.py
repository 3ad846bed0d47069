"""Typed, documented settings for the evaluation harness (one dataclass per protocol, one that holds them all).

Every field has a default that reproduces the numbers in the report; a run saves `EvaluationConfig.to_dict()` next
to its metrics so a table can always be traced back to its settings.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from eccr.data.candidate_lists import CandidateListConfig

PROTOCOLS = ("eccr", "retrieval", "sampled")


@dataclass
class BootstrapConfig:
    resamples: int = 1000     # percentile bootstrap resamples over queries
    confidence: float = 0.95  # two-sided confidence level of the intervals
    seed: int = 0             # resampling seed; the same seed gives the same intervals


@dataclass
class EccrProtocolConfig(CandidateListConfig):
    """The ECCR paper's protocol: a positive pair among 20 negatives, on the honest lists of
    eccr.data.candidate_lists (whose fields are inherited: negatives, max_cobought, max_same_leaf, max_pairs,
    history_length, seed)."""

    cutoff: int = 5                     # K of HR@K and NDCG@K (ECCR paper reports @5)


@dataclass
class RetrievalProtocolConfig:
    """Full-catalogue retrieval: every titled item except the query is a candidate."""

    recall_ks: tuple[int, ...] = (10, 50)  # K of Recall@K
    ndcg_k: int = 10                       # K of NDCG@K
    chunk_size: int = 8192                 # candidates per score_candidates call when scoring everything
    max_queries: int | None = None         # cap on queries (after a seeded shuffle); None = all
    history_length: int = 50               # most recent earlier items of the user passed as `history`
    seed: int = 0                          # query shuffle seed


@dataclass
class SampledProtocolConfig:
    """Lake et al. §5.3: held-out positives among N negatives drawn from P_gamma (Figures 2-4)."""

    gammas: tuple[float, ...] = (0.0, 0.75, 1.0)            # P_gamma ∝ count^gamma; 0 uniform, 1 empirical
    negative_counts: tuple[int, ...] = (10, 50, 100, 500)   # N; nested: the first 10 of the 50 are the 10, ...
    recall_ks: tuple[int, ...] = (1, 5, 10, 20)             # K of Recall@K (Figure 3)
    headline_gamma: float = 1.0           # the setting shown in the markdown table (the figures show all)
    headline_negatives: int = 100         # idem
    require_history: bool = False         # only queries whose user has earlier items (few in small data)
    max_queries: int | None = None        # cap on queries (after a seeded shuffle); None = all
    history_length: int = 50              # most recent earlier items of the user passed as `history`
    seed: int = 0                         # seeds the query shuffle and the alias samplers


@dataclass
class DelayReportConfig:
    """The report's "Delayed feedback" section (eccr/evaluate/delay.py): how late the complement of a purchase
    arrives on the evaluated data, and how many lists of each part have a label that can arrive late."""

    enabled: bool = True                # add the section (delay.json, delay.png; seconds); false skips it
    windows_days: tuple[float, ...] = (1.0, 7.0, 30.0, 90.0)  # share of complement pairs whose second item
    #                                                        arrives within each of these many days of the first
    horizon_days: float = 60.0          # a later complement counts within this many days (build_later_lists)
    negligible_share: float = 0.01      # below this share of complement pairs bought in another session, the
    #                                     section says the labels are complete (nothing to correct)

    def __post_init__(self) -> None:
        if not self.windows_days or any(d <= 0 for d in self.windows_days):
            raise ValueError("DelayReportConfig.windows_days needs at least one positive number of days")
        self.windows_days = tuple(sorted(float(d) for d in self.windows_days))
        if self.horizon_days <= 0 or not 0 <= self.negligible_share <= 1:
            raise ValueError("DelayReportConfig needs horizon_days > 0 and negligible_share in [0, 1]")


@dataclass
class EvaluationConfig:
    protocols: tuple[str, ...] = PROTOCOLS  # which protocols evaluate_systems runs
    part: str = "test"                  # "test" for reported numbers, "valid" for tuning (never tune on test)
    valid_fraction: float = 0.1         # temporal_split when a Dataset (not a split) is given
    test_fraction: float = 0.2          # idem
    main_system: str | None = None      # the model the report compares baselines against; None = first system
    candidates_path: str | None = None  # ECCR candidate lists JSON: loaded if it exists, else built and saved
    eccr: EccrProtocolConfig = field(default_factory=EccrProtocolConfig)
    retrieval: RetrievalProtocolConfig = field(default_factory=RetrievalProtocolConfig)
    sampled: SampledProtocolConfig = field(default_factory=SampledProtocolConfig)
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    delay: DelayReportConfig = field(default_factory=DelayReportConfig)  # `eccr evaluate`'s delay section

    def __post_init__(self) -> None:
        unknown = [p for p in self.protocols if p not in PROTOCOLS]
        if unknown:
            raise ValueError(f"unknown protocol(s) {unknown}; choose from {list(PROTOCOLS)}")
        if self.part not in ("test", "valid"):
            raise ValueError(f"part must be 'test' or 'valid', not {self.part!r}")

    def to_dict(self) -> dict:
        return asdict(self)
