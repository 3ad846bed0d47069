"""`eccr train`: every stage from data to LoRA adapter, into one run directory.

    data ─ temporal split ─┬─ text vectors (MiniLM) ─┬─ directed source/target towers ─┐
                           └─ skip-gram behaviour ───┴──────────── fuse ──────────────┴─ attention-CF ranker
                                                                      ├─ baselines: DAN, CMA-ES weighted sum
                                                                      ├─ FAISS index over target vectors
                                                                      ├─ blends "coherent" + "bought_together"
                                                                      └─ residual VQ → semantic IDs → SFT tasks → LoRA LM
    text vectors ─┬─ complement scorer (listwise, honest lists)
                  └─ coherence judge: bootstrap ensemble of complement scorers, calibrated, one cut per uncertainty level

Each stage writes its output into the run directory and is skipped when that output exists, so a killed run
resumes with the same command (`--force` redoes everything). The ranker and the LM checkpoint while they train.
Only the train part of the temporal split is used for fitting; the valid part for early stopping; the test
part is left for `eccr evaluate`.

Imports are at the top but one: `datasets` (Hugging Face) loads only inside stage_lm, so a ranker-only run
(`--no-lm`) never imports it. The library modules defer transformers/peft/trl themselves.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from eccr.coherence import AttributeExtractor
from eccr.config import save_json
from eccr.data.candidate_lists import (
    CandidateListConfig,
    CandidateLists,
    load_or_build_candidate_lists,
    seen_items,
    titled_ids,
)
from eccr.data.lookup import read_catalog
from eccr.data.schema import Dataset
from eccr.data.splits import TemporalSplit, heldout_queries
from eccr.llm.models import load_causal_lm
from eccr.llm.sft import is_main_process, last_checkpoint, launched_processes, train_sft, wait_for_processes
from eccr.llm.tasks import TaskBuilder, save_templates
from eccr.llm.tokens import add_table_tokens
from eccr.quantize.history import attention_weigher
from eccr.quantize.semantic_ids import SemanticIDTable, build_semantic_ids
from eccr.rank.attention_cf import AttentionCF
from eccr.rank.attrformer import catalog_attributes, load_ranker_scorer, train_attrformer
from eccr.rank.baselines import DAN, WeightedSum
from eccr.rank.blend import FIT_VERSION, OPTIONAL_FEATURES, Blend
from eccr.rank.candidates import CandidateRanker
from eccr.rank.complement import fit_complement_scorer
from eccr.rank.retrieval import ItemIndex
from eccr.rank.train import RankerTrainer, train_attention_cf
from eccr.rank.uncertainty import RANKING_RULE_FILE, CoherenceJudge, fit_coherence_judge, fit_ranking_rule
from eccr.represent.behaviour import behaviour_vectors
from eccr.represent.complement_encoder import INFO_FILE as COMPLEMENT_ENCODER_INFO
from eccr.represent.complement_encoder import fit_complement_encoder, tuned_text_vectors
from eccr.represent.directed import DirectedModel, directed_vectors, fit_directed
from eccr.represent.fuse import DirectedVectors, content_vectors, fuse
from eccr.represent.text import text_vectors
from eccr.represent.vectors import ItemVectors
from eccr.run import STAGES, Run, RunConfig, split_dataset

log = logging.getLogger("eccr.jobs.train")

def _exists(path: Path) -> bool:
    return path.with_suffix(".safetensors").exists() or path.exists()


def ranker_sequences(part: Dataset) -> list[list[str]]:
    """Training instances for the ranker: each bundle's items and each multi-item session (unordered sets:
    items of one bundle/session share a timestamp)."""
    bundles = part.bundles.rows.groupby("bundle_id")["item_id"].agg(list).tolist()
    sessions = part.behaviour.sessions().tolist()
    return [list(dict.fromkeys(s)) for s in bundles + sessions if len(set(s)) >= 2]


def ranker_user_sequences(part: Dataset) -> list[list[str]]:
    """Each user's distinct items in time order (first purchase wins), users with two or more items."""
    ev = part.behaviour.events.sort_values(["timestamp", "session_id"], kind="stable")
    out = [list(dict.fromkeys(items)) for items in ev.groupby("user_id", sort=False)["item_id"].agg(list)]
    return [s for s in out if len(s) >= 2]


def ranker_training_data(part: Dataset, instances: str) -> tuple[list[list[str]], bool]:
    """(sequences, ordered) for RankerConfig.instances: "baskets" (sets) or "users" (time-ordered)."""
    if instances == "baskets":
        return ranker_sequences(part), False
    if instances == "users":
        return ranker_user_sequences(part), True
    raise ValueError(f"ranker.instances must be 'baskets' or 'users', got {instances!r}")


def ranker_train_valid(split: TemporalSplit, instances: str) -> tuple[list[list[str]], list[list[str]] | None, bool]:
    """(train sequences, valid sequences or None when there are none, ordered) for the ranker, DAN and the
    depth ablation alike."""
    train, ordered = ranker_training_data(split.train, instances)
    valid, _ = ranker_training_data(split.valid, instances)
    return train, valid or None, ordered


def save_run_data(run: Run, ds: Dataset, split: TemporalSplit) -> None:
    """What inference needs from the data, kept in the run so it works without the original files:
    the catalogue, and the train part's sequences (for the co-occurrence and popularity baselines)."""
    items = ds.catalog.items.copy()
    items["category"] = [list(c) for c in items["category"]]
    items.to_parquet(run.catalog, index=False)
    save_json({"name": ds.name, "source": ds.source, "sequences": ranker_sequences(split.train),
               "valid_start": split.valid_start, "test_start": split.test_start}, run.train_sequences)


def stage_represent(run: Run, config: RunConfig, ds: Dataset, split: TemporalSplit, force: bool) -> dict:
    info: dict = {}
    if force or not _exists(run.text):
        text = text_vectors(ds.catalog, config.text)
        text.save(run.text)
    text = ItemVectors.load(run.text)
    info["text_items"] = len(text)
    behaviour = None
    if force or not _exists(run.behaviour):
        try:
            behaviour_vectors(split.train.behaviour, config.behaviour, catalog_ids=text.ids).save(run.behaviour)
        except ValueError as err:  # no user with two events: the run goes on without behaviour vectors
            log.warning("behaviour vectors skipped: %s", err)
    if _exists(run.behaviour):
        behaviour = ItemVectors.load(run.behaviour)
        info["behaviour_coverage"] = behaviour.meta.get("coverage")
    if force or not (run.directed_model / "directed.json").exists():
        valid = heldout_queries(split.valid, seed=config.data.seed)
        model = fit_directed(split.train, text, config.directed, valid_queries=valid if len(valid) else None)
        model.save(run.directed_model)
    model = DirectedModel.load(run.directed_model)
    if force or not _exists(run.target):
        source, target = directed_vectors(model, ds.catalog, text)
        source.save(run.source)
        target.save(run.target)
    directed = DirectedVectors(ItemVectors.load(run.source), ItemVectors.load(run.target))
    if force or not _exists(run.fused):
        fuse(text, behaviour, directed, config.fusion).save(run.fused)
    info["fused_dim"] = ItemVectors.load(run.fused).dim
    return info


def stage_complement(run: Run, config: RunConfig, ds: Dataset, split: TemporalSplit, force: bool) -> dict:
    """The listwise complement scorer over frozen text vectors, fitted on honest train-part lists; with
    `complement_encoder.enabled`, also the text encoder fine-tuned on those lists and its vectors."""
    out: dict = {}
    if config.complement_encoder.enabled:
        out["complement_encoder"] = stage_complement_encoder(run, config, ds, split, force)
    if not force and (run.complement / "complement.json").exists():
        return {"complement": "kept", **out}
    scorer = fit_complement_scorer(ItemVectors.load(run.text), split, config.complement,
                                   CandidateListConfig(seed=config.data.seed))
    scorer.save_pretrained(run.complement)
    return {"complement": scorer.history[-1] if scorer.history else {}, "epochs": len(scorer.history),
            "best_valid_hr@5": max((h.get("valid_hr@5", 0.0) for h in scorer.history), default=None), **out}


def _progress(message: str) -> None:
    """A long stage's progress, printed beside the stage lines of `eccr train` (and logged at debug level, so
    the CLI's log handler does not print it twice)."""
    log.debug(message)
    print(f"[eccr train] {message}", flush=True)


def stage_complement_encoder(run: Run, config: RunConfig, ds: Dataset, split: TemporalSplit, force: bool) -> dict:
    """The text encoder fine-tuned for complements (eccr/represent/complement_encoder.py) into
    RUN/complement_encoder/, and its vectors of the catalogue (the "tuned_cosine" feature) into RUN/vectors/."""
    info = run.complement_encoder / COMPLEMENT_ENCODER_INFO
    if force or not info.exists():
        tuned = fit_complement_encoder(ds.catalog, split, config.complement_encoder, config.text,
                                       CandidateListConfig(seed=config.data.seed), log=_progress)
        shutil.rmtree(run.complement_encoder, ignore_errors=True)
        tuned.save_pretrained(run.complement_encoder)
        run.tuned_text.with_suffix(".safetensors").unlink(missing_ok=True)
    saved = json.loads(info.read_text())
    if saved["best_step"] == 0:  # never better than the frozen encoder on valid: the run ranks without it
        for path in (run.tuned_text.with_suffix(".safetensors"), run.tuned_text.with_suffix(".json"), run.tuned_index):
            path.unlink(missing_ok=True)
        return {"best_step": 0, "history": saved["history"],
                "used": False, "why": "no step beat the frozen encoder's valid HR@5; tuned_cosine left out"}
    if not _exists(run.tuned_text):
        tuned_text_vectors(ds.catalog, config.text, run.complement_encoder).save(run.tuned_text)
        run.tuned_index.unlink(missing_ok=True)
    if not run.tuned_index.exists():  # the in-domain "nearest texts" candidate source (eccr/rank/candidates.py)
        ItemIndex.build(ItemVectors.load(run.tuned_text), config.retrieval).save(run.tuned_index)
    return {"best_step": saved["best_step"], "history": saved["history"], "used": True}


def stage_coherence(run: Run, config: RunConfig, split: TemporalSplit, force: bool) -> dict:
    """"Is it a coherent complement?" (eccr/rank/uncertainty.py): `uncertainty.members` complement scorers on bootstrap
    resamples of the train lists, calibrated on the valid lists, one cut per uncertainty level for
    `uncertainty.target_precision`. The Recommender's probability, uncertainty and verdict per recommendation."""
    if not force and (run.coherence / "coherence_rule.json").exists():
        return {"coherence": "kept"}
    if not len(split.valid.bundles):
        return {"coherence": "skipped: the valid part has no bundles to calibrate on"}
    judge = fit_coherence_judge(ItemVectors.load(run.text), split, config.uncertainty, config.complement,
                                CandidateListConfig(seed=config.data.seed), log=log.info)
    judge.save_pretrained(run.coherence)
    rule = judge.rule
    return {"members": len(judge.ensemble.members), "target_precision": rule.target_precision,
            "probability_cut": round(rule.level_cut, 4),
            "level_thresholds": [round(t, 3) for t in rule.level_thresholds()],
            "global_threshold": round(rule.global_threshold(), 3)}


def sequential_ranker(fused: ItemVectors, split: TemporalSplit, config: RunConfig, kind: str,
                      checkpoint_dir: Path | None = None, resume: bool = True):
    """AttrFormer or its SASRec ablation (`kind`) on the ranker's sequences; the relations (brand, leaf, items
    bought together) come from the train part only."""
    train, valid, ordered = ranker_train_valid(split, config.ranker.instances)
    attributes = catalog_attributes(fused.ids, split.train.catalog.items, ranker_sequences(split.train),
                                    config.attrformer.neighbours)
    return train_attrformer(fused, attributes, train, config.ranker, config.attrformer, valid, ordered,
                            relations=() if kind == "sasrec" else None, checkpoint_dir=checkpoint_dir,
                            resume=resume)


def stage_rank(run: Run, config: RunConfig, split: TemporalSplit, force: bool) -> dict:
    if not force and (run.ranker / "config.json").exists():
        return {"ranker": "kept"}
    fused = ItemVectors.load(run.fused)
    if config.ranker.kind in ("attrformer", "sasrec"):
        # a folder per kind: switching kinds in one run never resumes one model from another's checkpoint
        trained = sequential_ranker(fused, split, config, config.ranker.kind, run.ranker_checkpoints / config.ranker.kind,
                                    resume=not force)
        trained.model.save_pretrained(run.ranker)
        return {"ranker": {"kind": config.ranker.kind, "seconds": round(trained.seconds, 1),
                           "stopped_because": trained.stopped_because, "history": trained.history[-3:]}}
    if config.ranker.kind != "attention_cf":
        raise ValueError(f"ranker.kind must be attention_cf, attrformer or sasrec, got {config.ranker.kind!r}")
    train, valid, ordered = ranker_train_valid(split, config.ranker.instances)
    result = train_attention_cf(fused, train, config.ranker, valid_sequences=valid, ordered=ordered,
                                checkpoint_dir=run.ranker_checkpoints, resume=not force)
    model: AttentionCF = result.model
    model.save_pretrained(run.ranker)
    state = dataclasses.asdict(result.state)
    state.pop("history", None)
    return {"ranker": state}


def stage_baselines(run: Run, config: RunConfig, split: TemporalSplit, force: bool) -> dict:
    """The paper's trained baselines (Lake et al. §5.2), so `eccr evaluate` compares with them too: DAN trained
    exactly like the ranker (same sequences, sampler, loss, early stopping), and the weighted sum's two
    parameters tuned by CMA-ES for mean AUC on ECCR-style lists of the VALID part."""
    out: dict = {}
    fused = ItemVectors.load(run.fused)
    if force or not (run.dan / "config.json").exists():
        torch.manual_seed(config.ranker.seed)
        train, valid, ordered = ranker_train_valid(split, config.ranker.instances)
        trainer = RankerTrainer(DAN.from_config(fused.dim, config.dan), fused, train, config.ranker,
                                valid, ordered=ordered, checkpoint_dir=run.dan_checkpoints)
        result = trainer.train(resume=not force)
        result.model.save_pretrained(run.dan)
        out["dan"] = {"step": result.state.step, "best_valid_loss": result.state.best_valid_loss,
                      "stopped_because": result.state.stopped_because}
    else:
        out["dan"] = "kept"
    if force or not run.weighted_sum.exists():
        cands = _valid_lists(run, config, split)
        instances = [([p.query], p.history, [p.positive], p.negatives) for p in cands.pairs]
        weighted = WeightedSum(fused)
        tuned = weighted.tune(instances, max_evaluations=config.weighted_sum_evaluations, seed=config.data.seed) \
            if instances else {"decay": 0.0, "query_boost": 1.0, "auc": None}
        save_json({**tuned, "valid_lists": len(instances)}, run.weighted_sum)
        out["weighted_sum"] = tuned
    else:
        out["weighted_sum"] = "kept"
    return out


def stage_index(run: Run, config: RunConfig, force: bool) -> dict:
    if force or not run.index.exists():
        ItemIndex.build(ItemVectors.load(run.target), config.retrieval).save(run.index)
    if force or not run.content_index.exists():  # a second candidate source: nearest items by content
        ItemIndex.build(content_vectors(ItemVectors.load(run.fused)), config.retrieval).save(run.content_index)
    if force or not run.text_index.exists():  # a third: nearest titles, re-ranked by the complement scorer
        ItemIndex.build(ItemVectors.load(run.text), config.retrieval).save(run.text_index)
    return {"index_items": len(ItemVectors.load(run.target))}


def stage_blend(run: Run, config: RunConfig, split: TemporalSplit, force: bool) -> dict:
    """Fit the final-score blends on the VALID part (see eccr/rank/blend.py): "coherent" on ECCR-style lists
    (a bundle partner among co-bought, substitute and random items) and "bought_together" on retrieval lists (the
    bundle partners among what the run's candidate ranker retrieves for the query). The features come from
    eccr.rank.candidates.CandidateRanker, the object the Recommender ranks with, so serving sees the same ones."""
    todo = [(key, path) for key, path in (("blend", run.blend), ("blend_bought_together", run.retrieval_blend))
            if force or not path.exists() or _stale(Blend.load(path), run, config)
            or (key == "blend" and _lacks_ranking_rule(run))]
    out: dict = {"blend": "kept", "blend_bought_together": "kept"}
    if todo:  # loaded once for both blends
        catalog = read_catalog(run.catalog)
        metric = _blend_personal_metric(run, config, split) if config.personal_metric.blend_feature else None
        candidates = CandidateRanker.from_run(run, catalog, AttributeExtractor(catalog),
                                              max_memory=config.ranker.max_memory, personal_metric=metric,
                                              tuned_text="tuned_cosine" in _configured_features(run, config))
        if metric is not None:
            out["personal_metric"] = {"population_weights": dict(zip(metric.sources.names,
                                                                      np.round(metric.population, 4).tolist())),
                                      "users": len(metric.user_weights)}
        for key, path in todo:
            if key == "blend":  # "coherent": the honest valid lists, also what the ranking rule is fitted on
                valid = _valid_lists(run, config, split)
                columns, labels, sizes = list_blend_features(candidates, valid)
            else:
                columns, labels, sizes = _retrieval_blend_lists(run, candidates, config, split)
            blend, out[key] = _fit_blend(path, columns, labels, sizes, config.data.seed)
            if key == "blend" and blend is not None:
                out["ranking_rule"] = _fit_ranking_rule(run, candidates, blend, columns, labels, valid, catalog)
    return out


def _lacks_ranking_rule(run: Run) -> bool:
    """A run whose coherence judge has no rule fitted on the coherent blend (trained before there was one)."""
    return (run.coherence / "coherence_rule.json").exists() and not (run.coherence / RANKING_RULE_FILE).exists()


def _stale(blend: Blend, run: Run, config: RunConfig) -> bool:
    """A saved blend is refitted when its optional features differ from the run's or an older fit made it."""
    return set(blend.weights) & set(OPTIONAL_FEATURES) != _configured_features(run, config) \
        or blend.info.get("version") != FIT_VERSION


def _configured_features(run: Run, config: RunConfig) -> set[str]:
    """The optional blend features (eccr.rank.blend.OPTIONAL_FEATURES) this run's config asks for (the tuned encoder's
    only when it beat the frozen one and its vectors were written): a saved blend fitted with others is refitted."""
    tuned = config.complement_encoder.enabled and _exists(run.tuned_text)
    return ({"personal_metric"} if config.personal_metric.blend_feature else set()) | \
        ({"tuned_cosine"} if tuned else set())


def _blend_personal_metric(run: Run, config: RunConfig, split: TemporalSplit):
    """The metric behind the blend's "personal_metric" feature: RUN/personal_metric/ when it was fitted with this
    run's settings (e.g. by `eccr evaluate`), else fitted on the train part now and saved there."""
    from eccr.rank.personal_metric import RUN_FOLDER, metric_for_run

    metric = metric_for_run(run.root, config.personal_metric, log=log.info, split=split)
    ignore = ("sources", "blend_feature")  # sources: those the run has; blend_feature changes nothing in the fit
    saved = {k: v for k, v in metric.config.to_dict().items() if k not in ignore}
    wanted = {k: v for k, v in config.personal_metric.to_dict().items() if k not in ignore}
    if saved != wanted:
        log.info("refitting %s: fitted with other settings", run / RUN_FOLDER)
        shutil.rmtree(run / RUN_FOLDER)
        metric = metric_for_run(run.root, config.personal_metric, log=log.info, split=split)
    return metric


def _fit_blend(path: Path, columns: dict[str, list], labels: list[int], list_sizes: list[int],
               seed: int) -> tuple[Blend | None, dict | str]:
    """(the blend fitted and saved to `path`, its summary); (None, why) when there is nothing to fit it on."""
    if not labels or sum(labels) == 0:
        return None, "default (no valid pairs)"
    groups = np.repeat(np.arange(len(list_sizes)), list_sizes)  # each row's list, for the listwise fit
    blend = Blend.fit({k: np.asarray(v) for k, v in columns.items()}, np.asarray(labels), groups, seed=seed)
    blend.save(path)
    return blend, {"weights": {k: round(v, 3) for k, v in blend.weights.items()}, **blend.info}


def _add_features(columns: dict[str, list], feats: dict) -> None:
    for name, values in feats.items():
        columns.setdefault(name, []).extend(values.tolist())


def _valid_lists(run: Run, config: RunConfig, split: TemporalSplit):
    """The honest candidate lists of the VALID part that the weighted sum and the coherent blend are fitted on
    (built once per run and kept in it)."""
    return load_or_build_candidate_lists(split, "valid", CandidateListConfig(max_pairs=config.blend_max_pairs,
                                                                             seed=config.data.seed),
                                         run.valid_lists)


def list_blend_features(candidates, lists: CandidateLists) -> tuple[dict[str, list], list[int], list[int]]:
    """Every blend feature (`CandidateRanker.features`) of each list whose items all have titles, the positive
    first: the feature columns, the labels (1 for the positive) and the list sizes."""
    columns: dict[str, list] = {}
    labels: list[int] = []
    sizes: list[int] = []
    for query, history, pool in _known_lists(candidates, lists):
        _add_features(columns, candidates.features(query, history, pool)[0])
        labels.extend([1] + [0] * (len(pool) - 1))
        sizes.append(len(pool))
    return columns, labels, sizes


def known_pairs(candidates, lists: CandidateLists) -> list:
    """The pairs of `lists` whose items all have titles: the lists `list_blend_features` reads, in its order."""
    known = candidates.items.is_titled
    return [pair for pair in lists.pairs if all(known(i) for i in (pair.query, pair.positive, *pair.negatives))]


def _known_lists(candidates, lists: CandidateLists):
    """(query, history, pool with the positive first) of each list whose items all have titles."""
    known = candidates.items.is_titled
    for pair in known_pairs(candidates, lists):
        yield pair.query, [h for h in pair.history if known(h)], [pair.positive, *pair.negatives]


def list_member_scores(judge: CoherenceJudge, candidates, lists: CandidateLists) -> np.ndarray:
    """The coherence judge's ensemble scores (members, rows) of every row of `list_blend_features`, in its order,
    asked as the Recommender asks it (the query alone)."""
    rows = [judge.ensemble.score_candidates([query], pool) for query, _, pool in _known_lists(candidates, lists)]
    return np.concatenate(rows, axis=1) if rows else np.zeros((len(judge.ensemble.members), 0))


def _fit_ranking_rule(run: Run, candidates, blend: Blend, columns: dict[str, list], labels: list[int],
                      lists: CandidateLists, catalog) -> dict | str:
    """The coherence judge's verdict from the score that ranks (eccr.rank.uncertainty.RankingRule), fitted on the
    coherent blend's valid lists (`lists`, whose `list_blend_features` are `columns` and `labels`); saved beside
    the judge's rule."""
    if not (run.coherence / "coherence_rule.json").exists():
        return "no coherence judge"
    judge = CoherenceJudge.from_pretrained(run.coherence, candidates.text, catalog)
    score = blend.score({k: np.asarray(v) for k, v in columns.items()})
    spread = judge.rule.calibration.combine(list_member_scores(judge, candidates, lists))[1]
    rule = fit_ranking_rule(score, spread, np.asarray(labels),
                            judge.rule.calibration.level_edges, judge.rule.target_precision)
    rule.save(run.coherence / RANKING_RULE_FILE)
    return {"target_precision": rule.target_precision, "level_cut": round(rule.level_cut, 4),
            "global_cut": round(rule.global_cut, 4)}


def _retrieval_blend_lists(run: Run, candidates, config: RunConfig,
                           split: TemporalSplit) -> tuple[dict[str, list], list[int], list[int]]:
    """Each valid query's retrieved pool, one per seen status that holds a positive (retrieved from the items of
    that status only, as the full-catalogue protocol asks): a positive's list holds items of its own status, so the
    blend cannot learn "prefer items nobody bought in the train part"."""
    seen = seen_items(split.train)
    titled = set(titled_ids(split.valid))
    strata = {True: frozenset(titled & seen), False: frozenset(titled - seen)}
    queries = heldout_queries(split.valid, seed=config.data.seed, max_queries=config.blend_max_pairs // 4)
    columns: dict[str, list] = {}
    labels: list[int] = []
    sizes: list[int] = []
    for row in queries.itertuples(index=False):
        if not candidates.items.is_titled(row.query):
            continue
        positives = set(row.positives)
        for status in sorted({p in seen for p in positives}):
            matched = candidates.retrieve([row.query], among=strata[status])
            if not any(c in positives for c in matched):
                continue
            _add_features(columns, candidates.features(row.query, [], matched)[0])
            labels.extend(int(c in positives) for c in matched)
            sizes.append(len(matched))
    return columns, labels, sizes


def stage_semantic_ids(run: Run, config: RunConfig, force: bool) -> dict:
    if not force and run.semantic_ids.exists():
        return {"semantic_ids": "kept"}
    table, quantizer, report = build_semantic_ids(ItemVectors.load(run.fused), config.quantizer)
    table.save(run.semantic_ids)
    quantizer.save(run.quantizer)
    save_json(report.to_dict(), run / "semantic_ids_report.json")
    return {"semantic_ids": report.to_dict()}


def _lm_steps_done(run: Run) -> int:
    """Optimiser steps behind the run's adapter (its newest checkpoint's trainer state), so a rerun with a
    larger --sft.max_steps trains on from there instead of keeping the adapter."""
    checkpoint = last_checkpoint(run.lm_checkpoints)
    state = Path(checkpoint) / "trainer_state.json" if checkpoint else None
    return int(json.loads(state.read_text()).get("global_step", 0)) if state and state.exists() else 0


def _run_attention_weigher(run: Run, config: RunConfig):
    """The trained ranker's attention orders baskets in recommend prompts (the same weigher the Recommender
    uses at inference, so prompts look alike)."""
    scorer = load_ranker_scorer(run.ranker, ItemVectors.load(run.fused), max_memory=config.ranker.max_memory)
    return attention_weigher(scorer)


def stage_lm(run: Run, config: RunConfig, split: TemporalSplit, force: bool) -> dict:
    from datasets import Dataset as HFDataset

    if not force and (run.adapter / "adapter_config.json").exists():
        done = _lm_steps_done(run)
        if config.sft.max_steps <= 0 or done >= config.sft.max_steps:
            return {"lm": "kept"}
        log.info("LM adapter has %d of %d steps; resuming from the newest checkpoint", done, config.sft.max_steps)
    table = SemanticIDTable.load(run.semantic_ids)
    id_strings = {item: table.id_string(item) for item in table.item_ids}
    if (force or not run.sft_data.exists()) and is_main_process():
        examples = TaskBuilder(split.train, id_strings, config.tasks, basket_weigher=_run_attention_weigher(run, config)).build()
        with run.sft_data.open("w", encoding="utf-8") as fh:
            for e in examples:
                fh.write(json.dumps(e, ensure_ascii=False) + "\n")
    wait_for_processes()
    examples = [json.loads(line) for line in run.sft_data.read_text(encoding="utf-8").splitlines()]
    model, tokenizer = load_causal_lm(config.model.spec, dtype=config.model.dtype, device=config.model.device,
                                      quantization=config.model.quantization, cache_dir=config.model.cache_dir)
    new_ids = add_table_tokens(model, tokenizer, table, split.train.catalog.items)
    sft_config = dataclasses.replace(config.sft, output_dir=str(run.lm_checkpoints))
    result = train_sft(model, tokenizer, HFDataset.from_list(examples), sft_config, new_token_ids=new_ids,
                       base_spec=config.model.spec, resume=not force)
    if is_main_process():
        if run.adapter.exists():
            shutil.rmtree(run.adapter)
        shutil.copytree(result.adapter_dir, run.adapter)
        save_templates(config.tasks.prompts_dir, run.prompts)
    wait_for_processes()
    return {"lm": {"global_step": result.global_step, "train_loss": result.train_loss,
                   "seconds": round(result.seconds, 1), "examples_per_task": result.examples_per_task,
                   "truncation": result.truncation}}


def train_run(config: RunConfig, out_dir: str | Path, force: bool = False) -> dict:
    """Run the configured stages into `out_dir`; returns (and saves) a summary with timings."""
    unknown = set(config.stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; choose from {STAGES}")
    if launched_processes() > 1 and set(config.stages) != {"lm"}:
        raise ValueError(f"{launched_processes()} processes were launched: only the lm stage trains across "
                         f"processes. Run the other stages once (eccr train ... --no-lm), then launch "
                         f"`eccr train --config {out_dir} --out {out_dir} --stages lm`")
    run = Run(out_dir)
    main = is_main_process()
    run.root.mkdir(parents=True, exist_ok=True)
    previous = run / "config.json"
    if previous.exists() and not force:
        old = json.loads(previous.read_text())
        new = json.loads(json.dumps(dataclasses.asdict(config), default=str))
        if old.get("data") != new.get("data"):
            raise ValueError(f"{run.root} was trained on other data ({old.get('data')}); use another --out or "
                             "--force")
    if force and main:  # lists kept from an earlier run may come from other data
        run.valid_lists.unlink(missing_ok=True)
    summary: dict = {"run": str(run.root), "stages": {}, "seconds": {}}
    start = time.perf_counter()
    ds, split = split_dataset(config)
    if main:
        save_json(dataclasses.asdict(config), previous)
        save_run_data(run, ds, split)
    wait_for_processes()
    summary["split"] = {"valid_start": split.valid_start, "test_start": split.test_start,
                        "train_sessions": int(split.train.behaviour.events["session_id"].nunique()),
                        "test_bundles": len(split.test.bundles)}
    steps = {
        "represent": lambda: stage_represent(run, config, ds, split, force),
        "complement": lambda: stage_complement(run, config, ds, split, force),
        "coherence": lambda: stage_coherence(run, config, split, force),
        "rank": lambda: stage_rank(run, config, split, force),
        "baselines": lambda: stage_baselines(run, config, split, force),
        "index": lambda: stage_index(run, config, force),
        "blend": lambda: stage_blend(run, config, split, force),
        "semantic_ids": lambda: stage_semantic_ids(run, config, force),
        "lm": lambda: stage_lm(run, config, split, force),
    }
    for name in STAGES:
        if name not in config.stages:
            continue
        t = time.perf_counter()
        log.debug("stage %s ...", name)
        print(f"[eccr train] {name} ...", flush=True)
        summary["stages"][name] = steps[name]()
        summary["seconds"][name] = round(time.perf_counter() - t, 1)
        print(f"[eccr train] {name} done in {summary['seconds'][name]} s", flush=True)
    summary["seconds"]["total"] = round(time.perf_counter() - start, 1)
    if main:
        save_json(summary, run.summary)
    return summary
