"""`eccr evaluate --run DIR`: every system of a run on the run's own temporal split, all three protocols; with
`--data OTHER`, on another dataset's split the run has never seen (its items enter as cold items)."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np

from eccr.coherence import grounded_explanation, grounding, pair_flags
from eccr.config import save_json
from eccr.data.candidate_lists import CandidateListConfig, build_candidate_lists
from eccr.data.load import load_dataset
from eccr.data.splits import temporal_split
from eccr.evaluate.config import (
    DelayReportConfig,
    EccrProtocolConfig,
    EvaluationConfig,
    SampledProtocolConfig,
)
from eccr.evaluate.delay import write_delay_section
from eccr.evaluate.explanations import explanation_metrics
from eccr.evaluate.faithfulness import (
    PairContext,
    catalog_type_words,
    faithfulness,
    faithfulness_markdown,
    titles_only,
)
from eccr.evaluate.harness import evaluate_systems
from eccr.evaluate.report import write_report
from eccr.evaluate.systems import build_systems
from eccr.evaluate.uncertainty import coherence_markdown, coherence_report, ranking_rule_report
from eccr.jobs.train import list_blend_features, list_member_scores, ranker_train_valid
from eccr.pipeline import Recommender
from eccr.rank.attention_cf import AttentionCFScorer
from eccr.rank.train import train_attention_cf
from eccr.run import Run, split_dataset


def evaluate_run(run_dir: str | Path, part: str = "test", protocols: tuple[str, ...] = ("eccr", "retrieval", "sampled"),
                 with_lm: bool = False, max_pairs: int | None = None, lm_max_pairs: int = 200,
                 depth_ablation: bool = False, depth_max_seconds: float | None = None, out: str | Path | None = None, explanations: int = 0,
                 max_queries: int | None = 400, data: str | None = None,
                 delay: DelayReportConfig | None = None) -> Path:
    """Writes the report folder (metrics.json, report.md, PNGs) and returns the path of report.md.

    `data`: evaluate on that dataset's temporal split instead of the run's own (cross-domain transfer): its
    items get ids `<dataset>:<id>` and are added to the run as cold items (vectors from their text), nothing is
    fitted on it, and its train part only decides which items count as seen.
    `delay`: the "Delayed feedback" section on the evaluated split (eccr/evaluate/delay.py; delay.json,
    delay.png); default DelayReportConfig(), `enabled=False` skips it."""
    run = Run(run_dir)
    rec = Recommender.from_run(run_dir, use_lm=with_lm)
    if data is None:
        _, split = split_dataset(rec.run_config)
        tag = part
    else:
        domain = Path(str(data)).name
        split, tag = _foreign_split(rec, data, domain), f"{part}-on-{domain}"
    systems = build_systems(rec, with_lm=with_lm)
    out_dir = Path(out) if out else run / f"report-{tag}"
    config = EvaluationConfig(protocols=protocols, part=part, main_system="eccr",
                              valid_fraction=rec.run_config.data.valid_fraction,
                              test_fraction=rec.run_config.data.test_fraction,
                              candidates_path=str(run / f"eccr_candidates_{tag}.json"),
                              eccr=EccrProtocolConfig(max_pairs=max_pairs, seed=rec.run_config.data.seed),
                              sampled=SampledProtocolConfig(max_queries=max_queries, seed=rec.run_config.data.seed),
                              delay=delay or DelayReportConfig())
    lm_systems = {k: v for k, v in systems.items() if k.endswith("+lm")}
    fast = {k: v for k, v in systems.items() if k not in lm_systems}
    results = evaluate_systems(split, fast, config=config,
                               depth_factory=_depth_factory(rec, split, depth_max_seconds) if depth_ablation else None)
    if lm_systems and "eccr" in protocols:  # the LM scores ~20 candidates per pair: a capped, seeded sample
        lm_config = dataclasses.replace(config, protocols=("eccr",), candidates_path=None,
                                        eccr=dataclasses.replace(config.eccr, max_pairs=lm_max_pairs))
        both = {"eccr": systems["eccr"], **lm_systems}
        lm_results = evaluate_systems(split, both, config=lm_config)
        for r in lm_results.results:
            r.setting = {**r.setting, "pairs": f"first {lm_max_pairs}"}
        results.results.extend(lm_results.results)
        results.comparisons.extend(lm_results.comparisons)
    results.info["run"] = str(run.root)
    paths = write_report(results, out_dir)
    if explanations:
        report = explanation_report(rec, split, explanations, seed=rec.run_config.data.seed)
        (out_dir / "explanations.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
        with Path(paths["markdown"]).open("a") as fh:
            fh.write("\n" + explanation_markdown(report))
    with Path(paths["markdown"]).open("a") as fh:
        fh.write("\n" + _coherence_section(rec, split, part, out_dir, foreign=data is not None))
    if config.delay.enabled:  # how late complements arrive on this split, and how many lists can miss one
        write_delay_section(paths["markdown"], split, config.delay, out_dir,
                            CandidateListConfig(seed=rec.run_config.data.seed))
    if part == "test" and out is None and data is None:  # the run's headline (shown by the demo) is the default full report
        shutil.copy(paths["metrics"], run / "metrics.json")
    return Path(paths["markdown"])


def _coherence_section(rec, split, part: str, out_dir: Path, foreign: bool) -> str:
    """The run's coherence judge on the part's honest lists (eccr/evaluate/uncertainty.py: decision table, positive
    rate per score bin x uncertainty level, reliability; coherence.json + two PNGs), or why it is not there."""
    title = "## Is it a coherent complement? (the run's coherence judge)\n\n"
    if rec.judge is None:
        return title + ("This run has no coherence judge (trained before the `coherence` stage): the "
                        "'complementary' flag is the ranker's sigmoid. Fit it with `eccr train --config RUN --out "
                        "RUN --stages coherence`.\n")
    if foreign:
        return title + "Measured on the run's own split only (its judge was calibrated there).\n"
    lists = CandidateListConfig(seed=rec.run_config.data.seed)
    report = coherence_report(rec.judge, split, part, lists, out_dir)
    if rec.judge.ranking_rule is not None and not report.get("skipped"):
        report["ranking_rule"] = badge_report(rec, build_candidate_lists(split, part, lists))
    save_json(report, out_dir / "coherence.json", indent=1)
    return coherence_markdown(report)


def badge_report(rec, lists) -> dict:
    """The served badge (the judge's ranking rule on the coherent blend's score) on `lists`, beside the judge's own."""
    columns, labels, sizes = list_blend_features(rec.candidates, lists)
    score = rec.candidates.blends["coherent"].score({k: np.asarray(v) for k, v in columns.items()})
    return ranking_rule_report(rec.judge, score, list_member_scores(rec.judge, rec.candidates, lists),
                               np.asarray(labels), sizes)


def _foreign_split(rec, data: str, domain: str):
    """Another dataset's temporal split (the run's fractions), its items added to the recommender as cold items
    with ids `<domain>:<id>`."""
    other = load_dataset(data).with_item_prefix(f"{domain}:")
    added = rec.add_items(other.catalog)
    if not added:
        raise ValueError(f"{data}: no titled item to add; is it the run's own dataset?")
    return temporal_split(other, rec.run_config.data.valid_fraction, rec.run_config.data.test_fraction)


def explanation_markdown(report: dict) -> str:
    rows = [("shown", report["shown"])] + ([("raw LM", report["raw_lm"])] if report.get("raw_lm") else [])
    lines = [f"## Explanations ({report['pairs']} test bundle pairs with an intent)", "",
             ("BLEU-4: sacreBLEU corpus BLEU (13a tokenizer, case-sensitive); ROUGE: rouge-score F1 with Porter "
              "stemming, mean over pairs; both 0-100. The grounded reference is the template the LM is trained "
              "on, so scores against it measure how closely the LM copies it. grounded / hallucination: the "
              "serving filter's own check (eccr.coherence.grounding), which picks the LM sentences that are shown, "
              "so for those they hold by construction (templates are not put through it); the raw LM rows are "
              "the LM's rate by that check. The independent measure is the faithfulness table."), "",
             "| output | reference | BLEU-4 | ROUGE-1 | ROUGE-2 | ROUGE-L | distinct | grounded | hallucination |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, part in rows:
        for ref in ("vs_intent", "vs_grounded_reference"):
            m, g = part[ref], part["grounding"]
            if not m.get("n"):
                continue
            lines.append(f"| {name} | {ref[3:].replace('_', ' ')} | {m['BLEU-4']:.2f} | {m['ROUGE-1']:.2f} | "
                         f"{m['ROUGE-2']:.2f} | {m['ROUGE-L']:.2f} | {m['distinct']:.3f} | {g['grounded']:.3f} | "
                         f"{g['hallucination_rate']:.3f} |")
    lines.append(f"\nShown explanations by source: {report['shown']['sources']}.")
    if report.get("faithfulness"):
        lines += ["", ("Faithfulness and specificity (eccr/evaluate/faithfulness.py, independent of the grounding "
                       "filter): names both items; hallucinated = share of sentences with a figure, model or "
                       "capitalised brand-like word in neither title nor category, a fit claim the flags "
                       "contradict, or 'shoppers bought' for a pair the train part never saw bought; masked "
                       "distinct = share of distinct sentences after masking the words of both titles; words per "
                       "sentence."), "",
                  faithfulness_markdown(report["faithfulness"]).rstrip("\n")]
    return "\n".join(lines) + "\n"


def explanation_report(rec, split, n_pairs: int = 200, seed: int = 0) -> dict:
    """Explanations for test bundle pairs: BLEU-4/ROUGE against the crowd intents and against the grounded
    references, the grounding (hallucination) rate of the raw LM sentences and of what is shown, diversity; and
    `faithfulness` (eccr/evaluate/faithfulness.py, not the serving filter): names both items, hallucinated
    claims, masked distinctness and length of what is shown, the raw LM, the template and "B goes with A."."""
    pairs = split.test.bundles.directed_pairs().drop_duplicates(["source", "target"])
    pairs = pairs[[rec.is_titled(a) and rec.is_titled(b) for a, b in zip(pairs["source"], pairs["target"])]]
    pairs = pairs[pairs["intent"].str.strip().str.len() > 0]
    pairs = pairs.sample(min(n_pairs, len(pairs)), random_state=seed) if len(pairs) else pairs
    qp = list(zip(pairs["source"], pairs["target"]))
    intents = list(pairs["intent"])
    shown = rec.explain_pairs(qp, raw_for_all=True)
    references = []
    for (q, p), intent in zip(qp, intents):
        flags = pair_flags(rec.item_row(q), rec.item_row(p), rec.extractor, complementary=True)
        references.append(grounded_explanation(rec.item_row(q), rec.item_row(p), flags, intent,
                                                       extractor=rec.extractor))
    texts = [t for t, _, _ in shown]
    raw = [r for _, _, r in shown]
    # what serving knows of each pair: its flags and whether the train part saw it bought together
    flags = [pair_flags(rec.item_row(q), rec.item_row(p), rec.extractor, complementary=True) for q, p in qp]
    bought = [rec.bought_together(q, p) for q, p in qp]
    templates = [grounded_explanation(rec.item_row(q), rec.item_row(p), f, bought_together=b)
                 for (q, p), f, b in zip(qp, flags, bought)]
    contexts = [PairContext(rec.item_row(q)["title"], rec.item_row(p)["title"], rec.category_text(q, p),
                            f.incompatible, b) for (q, p), f, b in zip(qp, flags, bought)]
    refs = [titles_only(c.title_a, c.title_b) for c in contexts]
    types = catalog_type_words(rec.catalog)

    def grounded_share(sentences):
        checked = [grounding(s, rec.item_row(q)["title"], rec.item_row(p)["title"], rec.extractor, i,
                             flags=f, bought_together=b, categories=(rec.category_text(q), rec.category_text(p)))
                   for s, (q, p), i, f, b in zip(sentences, qp, intents, flags, bought) if s]
        return {"n": len(checked), "grounded": float(np.mean([g.grounded for g in checked])) if checked else None,
                "hallucination_rate": float(np.mean([bool(g.unsupported or g.contradicted) for g in checked]))
                if checked else None}

    return {"pairs": len(qp),
            "shown": {"vs_intent": explanation_metrics(texts, intents),
                      "vs_grounded_reference": explanation_metrics(texts, references),
                      "grounding": grounded_share(texts),
                      "sources": {s: sum(1 for _, src, _ in shown if src == s) for s in ("lm", "template")}},
            "raw_lm": ({"vs_intent": explanation_metrics(raw, intents),
                        "vs_grounded_reference": explanation_metrics(raw, references),
                        "grounding": grounded_share(raw)} if any(raw) else None),
            "faithfulness": {name: faithfulness(sentences, contexts, types).as_dict() for name, sentences in
                             (("shown", texts), ("raw LM", raw), ("template", templates), ("titles only", refs))},
            "type_words": sorted(types),
            "sentences": [{**dataclasses.asdict(c), "shown": t, "source": src, "raw_lm": r, "template": tm}
                          for c, (t, src, r), tm in zip(contexts, shown, templates)],
            "examples": [{"query": rec.item_row(q)["title"], "item": rec.item_row(p)["title"], "intent": i,
                          "explanation": t, "raw_lm": r} for (q, p), i, t, r in list(zip(qp, intents, texts, raw))[:8]]}


def _depth_factory(rec, split, max_seconds: float | None = None):
    def build(hops: int):
        cfg = dataclasses.replace(rec.run_config.ranker, hops=hops, progress=False,
                                  max_seconds=max_seconds or rec.run_config.ranker.max_seconds)
        train, valid, ordered = ranker_train_valid(split, cfg.instances)
        result = train_attention_cf(rec.fused, train, cfg, valid_sequences=valid, ordered=ordered)
        return AttentionCFScorer(result.model, rec.fused, name=f"attention_cf_K{hops}")

    return build
