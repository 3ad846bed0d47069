"""Write an evaluation run to disk: metrics.json, report.md (systems x metrics, mean [95% CI], best in bold, an
explicit line for every baseline that beats the main model) and PNG plots (matplotlib, Agg backend):
one bar chart per protocol, NDCG / Recall vs number of negatives per gamma (Lake et al. Figs. 2-3 style) and
the depth ablation (Fig. 4 style).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from eccr.config import save_json
from eccr.data.candidate_lists import NEGATIVE_KINDS
from eccr.evaluate.harness import EvaluationResults
from eccr.evaluate.protocols import ProtocolResult

PROTOCOL_TITLES = {"eccr": "ECCR protocol (positive pair among 20 status-matched negatives)",
                   "retrieval": "Full-catalogue retrieval (status-stratified, other known complements removed)",
                   "sampled": "Sampled negatives (Lake et al. §5.3, status-matched)",
                   "depth": "Depth ablation (Lake et al. Fig. 4)"}


def write_report(results: EvaluationResults, out_dir: str | Path, include_per_query: bool = False) -> dict[str, Path]:
    """Writes metrics.json, report.md and the PNG plots into out_dir; returns {name: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": out / "metrics.json", "markdown": out / "report.md"}
    save_json(results.to_dict(include_per_query), paths["metrics"], indent=1)
    paths.update(_plots(results, out))
    paths["markdown"].write_text(markdown_report(results, {k: v.name for k, v in paths.items() if k.startswith("plot")}))
    return paths



# ----------------------------------------------------------------------------------------------- markdown
def _headline_groups(results: EvaluationResults) -> list[tuple[str, dict, list[ProtocolResult]]]:
    """One table per protocol setting, except the sampled/depth grids: only their headline setting."""
    sampled = results.info.get("config", {}).get("sampled", {})
    gamma, n = sampled.get("headline_gamma", 1.0), sampled.get("headline_negatives", 100)
    out = []
    for (protocol, setting), group in results.groups().items():
        s = dict(setting)
        if protocol == "sampled" and (s.get("gamma") != gamma or s.get("negatives") != n):
            continue
        if protocol == "depth" and s.get("negatives") != n:
            continue
        out.append((protocol, s, group))
    if not out:  # non-default grids without the headline setting: show everything
        out = [(p, dict(s), g) for (p, s), g in results.groups().items()]
    return out


SUMMARY_COLUMNS = (("eccr", "HR@5", "ECCR HR@5"), ("eccr", "NDCG@5", "ECCR NDCG@5"),
                   ("retrieval", "Recall@10", "full catalogue Recall@10"),
                   ("retrieval", "NDCG@10", "full catalogue NDCG@10"), ("sampled", "NDCG", "sampled NDCG"))


def summary_table(results: EvaluationResults) -> list[str]:
    """One row per system, the headline metric of each protocol (means; the sections below have the CIs)."""
    cells: dict[tuple[str, str], float] = {}
    systems: list[str] = []
    for protocol, setting, group in _headline_groups(results):
        if "pairs" in setting or protocol == "depth":
            continue  # capped LM subsets and the ablation are not comparable rows
        for r in group:
            systems += [r.system] if r.system not in systems else []
            for p, metric, _ in SUMMARY_COLUMNS:
                if p == protocol and metric in r.summary:
                    cells[(r.system, f"{p}:{metric}")] = r.summary[metric].mean
    columns = [c for c in SUMMARY_COLUMNS if any((s, f"{c[0]}:{c[1]}") in cells for s in systems)]
    if not columns:
        return []
    best = {c: max(cells.get((s, f"{c[0]}:{c[1]}"), -np.inf) for s in systems) for c in columns}
    lines = ["", "## Summary", "", "| system | " + " | ".join(c[2] for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for s in systems:
        row = []
        for c in columns:
            v = cells.get((s, f"{c[0]}:{c[1]}"))
            row.append("–" if v is None else f"**{v:.4f}**" if np.isclose(v, best[c]) else f"{v:.4f}")
        lines.append(f"| {s} | " + " | ".join(row) + " |")
    return lines


def _interval(mean: float, low: float, high: float) -> str:
    return f"{mean:.4f} [{low:.4f}, {high:.4f}]"


def _cell(result: ProtocolResult, metric: str, bold: bool) -> str:
    s = result.summary[metric]
    text = _interval(s.mean, s.ci_low, s.ci_high)
    return f"**{text}**" if bold else text


def _markdown_table(columns: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """A markdown table with a leading `system` column: one (system, cells) per row."""
    lines = ["| system | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    return lines + [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]


def _table(group: list[ProtocolResult], main: str) -> list[str]:
    metrics = list(group[0].summary)
    best = {m: max(r.summary[m].mean for r in group) for m in metrics}
    return _markdown_table(metrics, [(f"{r.system} (main)" if r.system == main else r.system,
                                      [_cell(r, m, np.isclose(r.summary[m].mean, best[m])) for m in metrics])
                                     for r in group])


def _verdict(protocol: str, setting: dict, group: list[ProtocolResult], results: EvaluationResults) -> list[str]:
    main = results.main_system
    metrics = list(group[0].summary)
    winners = []
    for m in metrics:
        top = max(r.summary[m].mean for r in group)
        winners.append(f"{m}: {', '.join(r.system for r in group if np.isclose(r.summary[m].mean, top))}")
    lines = ["", "Best per metric: " + "; ".join(winners) + "."]
    main_result = next((r for r in group if r.system == main), None)
    if main_result is None:
        return lines
    beats = []
    for r in group:
        for m in metrics:
            if r.system != main and r.summary[m].mean > main_result.summary[m].mean and not np.isclose(
                    r.summary[m].mean, main_result.summary[m].mean):
                cmp = next((c for c in results.comparisons if c["protocol"] == protocol and c["setting"] == setting
                            and c["metric"] == m and c["other"] == r.system), None)
                detail = (f"; main - baseline = {cmp['mean_difference']:.4f} [{cmp['ci_low']:.4f}, "
                          f"{cmp['ci_high']:.4f}], paired bootstrap p = {cmp['p_value']:.3f}") if cmp else ""
                beats.append(f"{r.system} on {m} ({r.summary[m].mean:.4f} vs {main_result.summary[m].mean:.4f}"
                             f"{detail})")
    if beats:
        lines.append(f"**Baselines that beat the main model `{main}`:** " + "; ".join(beats) + ".")
    else:
        lines.append(f"No baseline beats the main model `{main}` on any metric of this table.")
    return lines


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _eccr_breakdown(group: list[ProtocolResult]) -> list[str]:
    rows = [(r.system, [f"{r.extra['pairs_beaten_by'][k]:.3f} ({_share(r.extra['outranked_share'][k])})"
                        for k in NEGATIVE_KINDS]) for r in group]
    per_kind = group[0].extra["negatives_per_kind"]
    return (["", ("Share of pairs in which at least one negative of each kind scored at or above the positive "
                  "(share of that kind's negatives in parentheses):"), ""]
            + _markdown_table(NEGATIVE_KINDS, rows)
            + ["", "Negatives per pair by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in per_kind.items()) + "."])


def _status_table(group: list[ProtocolResult]) -> list[str]:
    """HR@K of lists whose positive was bought in the train part against lists whose positive is cold."""
    statuses = group[0].extra.get("by_positive_status") or {}
    counts = {s: v["n"] for s, v in statuses.items() if v}
    if not counts:
        return []
    rows = [(r.system, [_interval(v["mean"], v["ci_low"], v["ci_high"])
                        for v in (r.extra["by_positive_status"][s] for s in counts)]) for r in group]
    return (["", ("HR by the positive's status (its negatives share it): seen = bought in a train-part session, "
                  "cold = first bought later; " + ", ".join(f"{s} {n} pairs" for s, n in counts.items()) + "."),
             ""] + _markdown_table(list(counts), rows))


def _retrieval_shares(group: list[ProtocolResult]) -> list[str]:
    """What fills each system's top 10: items unseen in train, items of the query's own leaf (look-alikes)."""
    first = group[0].extra
    if first.get("positives_unseen_share") is None:
        return []
    rows = [(r.system, [_share(r.extra["top_unseen_share"]), _share(r.extra["top_same_leaf_share"])]) for r in group]
    return (["", (f"What fills the top {first['top_k']}: share unseen in train and share in the query's leaf "
                  f"(positives: {first['positives_unseen_share']:.3f} unseen, "
                  f"{first['positives_same_leaf_share']:.3f} same leaf). Each positive is ranked among the "
                  "candidates of its own seen status."), ""]
            + _markdown_table(["unseen", "same leaf"], rows))


def markdown_report(results: EvaluationResults, plot_files: dict[str, str] | None = None) -> str:
    info = results.info
    lines = [f"# Evaluation: {info.get('dataset', '?')} ({info.get('part', 'test')} part)", "",
             (f"Main model: `{results.main_system}`. Cells are macro means over queries with 95% percentile "
              "bootstrap intervals; ties are broken pessimistically (negatives first); best per column in bold.")]
    if "eccr_pairs" in info:
        lines.append(f"ECCR protocol: {info['eccr_pairs']} positive pairs from {info['eccr_queries']} queries.")
    lines += summary_table(results)
    for protocol, setting, group in _headline_groups(results):
        label = ", ".join(f"{k}={v}" for k, v in setting.items())
        lines += ["", f"## {PROTOCOL_TITLES.get(protocol, protocol)}" + (f" — {label}" if label else ""),
                  f"{len(group[0].query_ids)} ranked lists (one per query, or per positive pair for ECCR).", ""]
        lines += _table(group, results.main_system)
        lines += _verdict(protocol, setting, group, results)
        if protocol == "eccr":
            lines += _eccr_breakdown(group) + _status_table(group)
        if protocol == "retrieval":
            lines += _retrieval_shares(group)
    if plot_files:
        lines += ["", "## Figures", ""] + [f"![{name}]({file})" for name, file in plot_files.items()]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- plots
def _plots(results: EvaluationResults, out: Path) -> dict[str, Path]:
    paths = {}
    for protocol, setting, group in _headline_groups(results):
        if protocol == "depth":
            continue
        path = out / f"bars_{protocol}.png"
        _bar_chart(group, f"{PROTOCOL_TITLES.get(protocol, protocol)}", path)
        paths[f"plot_bars_{protocol}"] = path
    sampled = [r for r in results.results if r.protocol == "sampled"]
    if sampled:
        path = out / "sampled_vs_negatives.png"
        _curves_per_gamma(sampled, path)
        paths["plot_sampled"] = path
    depth = [r for r in results.results if r.protocol == "depth"]
    if depth:
        path = out / "depth_ablation.png"
        _depth_plot(depth, path, results.info.get("config", {}).get("sampled", {}).get("headline_negatives", 100))
        paths["plot_depth"] = path
    return paths


def _bar_chart(group: list[ProtocolResult], title: str, path: Path) -> None:
    metrics = list(group[0].summary)
    width = 0.8 / len(group)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(metrics) + 0.4 * len(group)), 3.6))
    x = np.arange(len(metrics))
    for i, r in enumerate(group):
        means = np.array([r.summary[m].mean for m in metrics])
        err = np.array([[means[j] - r.summary[m].ci_low, r.summary[m].ci_high - means[j]]
                        for j, m in enumerate(metrics)]).T
        ax.bar(x + (i - (len(group) - 1) / 2) * width, means, width, yerr=err, capsize=3, label=r.system,
               color=system_color(i))
    ax.set_xticks(x, metrics)
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def system_color(index: int):
    """Distinct colours for up to 20 systems (matplotlib's default cycle repeats after 10)."""
    index %= 20
    return plt.get_cmap("tab20")(2 * index % 20 + index // 10)  # ten hues first, then their light shades


def _curves_per_gamma(results: list[ProtocolResult], path: Path) -> None:
    """One row per metric (NDCG, Recall@K ...), one column per gamma; x = number of negatives (log scale)."""
    gammas = sorted({r.setting["gamma"] for r in results})
    metrics = list(results[0].summary)
    systems = list(dict.fromkeys(r.system for r in results))
    fig, axes = plt.subplots(len(metrics), len(gammas), figsize=(3.6 * len(gammas), 2.6 * len(metrics)),
                             sharex=True, squeeze=False)
    for row, metric in enumerate(metrics):
        for col, gamma in enumerate(gammas):
            ax = axes[row][col]
            for i, system in enumerate(systems):
                rows = sorted((r for r in results if r.system == system and r.setting["gamma"] == gamma),
                              key=lambda r: r.setting["negatives"])
                n = [r.setting["negatives"] for r in rows]
                color = system_color(i)
                ax.plot(n, [r.summary[metric].mean for r in rows], marker="o", label=system, color=color)
                ax.fill_between(n, [r.summary[metric].ci_low for r in rows],
                                [r.summary[metric].ci_high for r in rows], alpha=0.15, color=color)
            ax.set_xscale("log")
            if row == 0:
                ax.set_title(f"γ = {gamma:g}")
            if col == 0:
                ax.set_ylabel(metric)
            if row == len(metrics) - 1:
                ax.set_xlabel("number of negative candidates")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _depth_plot(results: list[ProtocolResult], path: Path, negatives: int) -> None:
    chosen = [r for r in results if r.setting["negatives"] == negatives] or results
    n = chosen[0].setting["negatives"]
    chosen = sorted((r for r in chosen if r.setting["negatives"] == n), key=lambda r: r.setting["hops"])
    metrics = list(chosen[0].summary)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    hops = [r.setting["hops"] for r in chosen]
    for metric in metrics:
        ax.errorbar(hops, [r.summary[metric].mean for r in chosen],
                    yerr=[[r.summary[metric].mean - r.summary[metric].ci_low for r in chosen],
                          [r.summary[metric].ci_high - r.summary[metric].mean for r in chosen]],
                    marker="o", capsize=3, label=metric)
    ax.set_xlabel("depth K (hops)")
    ax.set_xticks(hops)
    ax.set_title(f"Effect of depth (γ = 1, {n} negatives)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
