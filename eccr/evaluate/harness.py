"""`evaluate_systems`: the one entry point the CLI calls (split -> protocols -> paired comparisons)."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from eccr.data.candidate_lists import load_or_build_candidate_lists
from eccr.data.schema import Dataset
from eccr.data.splits import TemporalSplit, temporal_split
from eccr.evaluate.config import EvaluationConfig
from eccr.evaluate.metrics import paired_bootstrap
from eccr.evaluate.protocols import (
    ProtocolResult,
    depth_ablation,
    run_eccr_protocol,
    run_retrieval_protocol,
    run_sampled_protocol,
)
from eccr.rank.base import Scorer


@dataclass
class EvaluationResults:
    results: list[ProtocolResult]
    main_system: str
    comparisons: list[dict] = field(default_factory=list)  # main minus each other system, per setting and metric
    info: dict = field(default_factory=dict)               # dataset, part, counts, config

    def groups(self) -> dict[tuple[str, tuple], list[ProtocolResult]]:
        """Results grouped by (protocol, setting), in first-seen order. The depth ablation's models differ in
        `hops` (their names say K=...), so they share one group: one table, one row per depth."""
        out: dict[tuple[str, tuple], list[ProtocolResult]] = {}
        for r in self.results:
            setting = {k: v for k, v in r.setting.items() if not (r.protocol == "depth" and k == "hops")}
            out.setdefault((r.protocol, tuple(sorted(setting.items()))), []).append(r)
        return out

    def to_dict(self, include_per_query: bool = False) -> dict:
        return {"main_system": self.main_system, "info": self.info, "comparisons": self.comparisons,
                "results": [r.to_dict(include_per_query) for r in self.results]}


def compare_to_main(results: Sequence[ProtocolResult], main_system: str, config: EvaluationConfig) -> list[dict]:
    """Paired bootstrap of the main system against every other system on the same queries."""
    out = []
    groups: dict[tuple, list[ProtocolResult]] = {}
    for r in results:
        groups.setdefault((r.protocol, tuple(sorted(r.setting.items()))), []).append(r)
    b = config.bootstrap
    for (protocol, setting), group in groups.items():
        main = next((r for r in group if r.system == main_system), None)
        if main is None:
            continue
        for other in group:
            if other.system == main_system:
                continue
            for metric, values in main.per_query.items():
                cmp = paired_bootstrap(values, other.per_query[metric], b.resamples, b.confidence, b.seed)
                out.append({"protocol": protocol, "setting": dict(setting), "metric": metric, "main": main_system,
                            "other": other.system, **cmp.as_dict()})
    return out


def evaluate_systems(dataset_or_split: Dataset | TemporalSplit, systems: Mapping[str, Scorer],
                     protocols: Sequence[str] | None = None, config: EvaluationConfig | None = None,
                     depth_factory: Callable[[int], Scorer] | None = None,
                     depth_hops: Sequence[int] = (1, 2, 4, 10)) -> EvaluationResults:
    """Run the chosen protocols (default: config.protocols) for every system on config.part of the split.

    A Dataset is split with temporal_split(config.valid_fraction, config.test_fraction). With `depth_factory`
    (hops -> Scorer) the Figure-4 depth ablation is added.
    """
    config = config or EvaluationConfig()
    if not systems:
        raise ValueError("evaluate_systems needs at least one system")
    protocols = tuple(protocols or config.protocols)
    config = replace(config, protocols=protocols)  # __post_init__ validates the names
    split = dataset_or_split if isinstance(dataset_or_split, TemporalSplit) else temporal_split(
        dataset_or_split, config.valid_fraction, config.test_fraction)
    main = config.main_system or next(iter(systems))
    if main not in systems:
        raise ValueError(f"main_system {main!r} is not among the systems {list(systems)}")
    part = getattr(split, config.part)
    results: list[ProtocolResult] = []
    info = {"dataset": part.name, "part": config.part, "config": config.to_dict(), "systems": list(systems)}
    if "eccr" in protocols:
        cands = load_or_build_candidate_lists(split, config.part, config.eccr, config.candidates_path)
        results += run_eccr_protocol(cands, systems, config.eccr, config.bootstrap).values()
        info["eccr_pairs"] = len(cands.pairs)
        info["eccr_queries"] = len({p.query for p in cands.pairs})
    if "retrieval" in protocols:
        results += run_retrieval_protocol(split, systems, config.retrieval, config.bootstrap, config.part).values()
    if "sampled" in protocols:
        results += run_sampled_protocol(split, systems, config.sampled, config.bootstrap, config.part)
    if depth_factory is not None:
        results += depth_ablation(split, depth_factory, depth_hops, config.sampled, config.bootstrap, config.part)
    return EvaluationResults(results, main, compare_to_main(results, main, config), info)
