"""The human-evaluation report: `import_human_eval` validates and un-blinds the answers, computes the statistics
and writes summary.json, summary.md, summary.png and answers.csv."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eccr.evaluate.human_eval.statistics import summarize
from eccr.evaluate.human_eval.validate import load_key, read_answers


def _fmt(stat: dict, digits: int = 3) -> str:
    if stat["value"] is None:
        return "-"
    return f"{stat['value']:.{digits}f} [{stat['ci_low']:.{digits}f}, {stat['ci_high']:.{digits}f}]"


def summary_markdown(summary: dict) -> str:
    lines = ["# Human evaluation", "",
             (f"{summary['n_queries']} queries, {summary['n_rows']} blinded rows, {summary['n_answers']} answers "
              f"from {summary['agreement']['n_raters']} rater(s). Values with bootstrap 95% CIs "
              f"({summary['bootstrap']['resamples']} resamples of queries, seed {summary['bootstrap']['seed']})."),
             "Coherent rate = share of pairs judged coherent by the raters' majority (ties count 1/2).", "",
             "| system | pairs | coherent rate | compatible rate | relevant rate | explanation score (1-5) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for system, s in summary["systems"].items():
        lines.append(f"| {system} | {s['n_pairs']} | {_fmt(s['coherent_rate'])} | {_fmt(s['compatible_rate'])} "
                     f"| {_fmt(s['relevant_rate'])} | {_fmt(s['explanation_score'], 2)} |")
    if summary["differences"]:
        lines += ["", "| paired difference | coherent rate [95% CI] | explanation score [95% CI] |",
                  "| --- | --- | --- |"]
        for d in summary["differences"]:
            score = (f"{d['explanation_score_difference']:+.2f} [{d['explanation_ci_low']:+.2f}, "
                     f"{d['explanation_ci_high']:+.2f}]" if "explanation_score_difference" in d else "–")
            lines.append(f"| {d['a']} - {d['b']} | {d['coherent_rate_difference']:+.3f} "
                         f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] | {score} |")
    ag = summary["agreement"]
    lines += ["", "Inter-rater agreement (Krippendorff's alpha; 1 = perfect, 0 = chance):", "",
              "| answer | level | alpha |", "| --- | --- | --- |",
              f"| coherent | nominal | {ag['coherent_alpha_nominal']} |",
              f"| compatible | nominal | {ag['compatible_alpha_nominal']} |",
              f"| relevant | nominal | {ag['relevant_alpha_nominal']} |",
              f"| explanation score | interval | {ag['explanation_score_alpha_interval']} |",
              f"| explanation score | ordinal | {ag['explanation_score_alpha_ordinal']} |", ""]
    checks = summary["checks"]
    lines.append(f"Checks: {checks['unrated_rows']} row(s) unrated, {checks['single_rated_rows']} rated by one "
                 f"rater only, {checks['inconsistent_answers']} answer(s) say coherent although both compatible "
                 f"and relevant are 'no'.")
    return "\n".join(lines) + "\n"


def plot_summary(summary: dict, path: str | Path) -> Path:
    """Bar chart: coherent rate and mean explanation score per system with 95% CI error bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    systems = list(summary["systems"])
    fig = Figure(figsize=(4 + 1.2 * len(systems), 3.8))
    FigureCanvasAgg(fig)
    panels = (("coherent_rate", "coherent rate", (0, 1)), ("explanation_score", "explanation score (1-5)", (0, 5)))
    for i, (metric, label, limits) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, 2, i)
        stats = [summary["systems"][s][metric] for s in systems]
        values = [s["value"] if s["value"] is not None else 0.0 for s in stats]
        errors = np.array([[v - (s["ci_low"] if s["ci_low"] is not None else v) for v, s in zip(values, stats)],
                           [(s["ci_high"] if s["ci_high"] is not None else v) - v for v, s in zip(values, stats)]])
        ax.bar(range(len(systems)), values, yerr=errors, capsize=4, color="tab:blue", alpha=0.8)
        ax.set_xticks(range(len(systems)), systems, rotation=20, ha="right")
        ax.set_ylim(*limits)
        ax.set_title(label)
    fig.suptitle("Human evaluation (95% bootstrap CI)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path


def import_human_eval(answer_files: list[str | Path], key_file: str | Path, out_dir: str | Path,
                      bootstrap_resamples: int = 2000, seed: int = 0) -> dict:
    """Validate and un-blind rater answers, then write summary.json, summary.md, summary.png and answers.csv
    (one un-blinded row per answer) to `out_dir`. Returns the summary dict (= summary.json)."""
    key = load_key(key_file)
    summary, answers = summarize(read_answers(answer_files, key), key, bootstrap_resamples, seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (out_dir / "summary.md").write_text(summary_markdown(summary), encoding="utf-8")
    plot_summary(summary, out_dir / "summary.png")
    answers.to_csv(out_dir / "answers.csv", index=False)
    return summary
