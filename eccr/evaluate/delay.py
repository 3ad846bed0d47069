"""Delayed feedback in `eccr evaluate`'s report: how late does the complement of a purchase arrive, and can the
newest part's labels be incomplete? (issue #12, part B; Rastogi's keynote, part "Delayed feedback",
../shared/papers/directed-graphs-delayed-feedback-uncertainty.txt.)

- `measure_delays`: on a dataset, the directed complement pairs (a, b) one user bought, a first, under two
  definitions — items of one bundle, and the leaf categories of a bundle's items (a != b) — and per definition
  `delay_shares`: how many pairs, how many arrive in another session, and the share arriving in the same session
  and within each window (days). scripts/measure_delay.py prints the same table for the real domains.
- `censored_at_cutoffs`: of those pairs, how many start before a cutoff of the temporal split and complete after
  it: labels a model trained at that cutoff cannot see yet.
- `later_list_counts`: per part, the bundle lists against the later-complement lists (eccr/data/later_lists.py),
  the only lists whose label can arrive late, and how many of those are younger than the horizon.
- `delay_report` puts it together for a split (delay.png), `delay_markdown` writes the section with one sentence
  derived from the numbers: whether the labels are practically complete or can be missing late complements;
  `write_delay_section` is what `eccr evaluate` calls (delay.json, delay.png, the section appended to report.md).
Settings: `DelayReportConfig` (eccr/evaluate/config.py; `eccr evaluate --delay.enabled false` skips it).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from eccr.config import save_json
from eccr.data.candidate_lists import PARTS, CandidateListConfig
from eccr.data.categories import leaf_category
from eccr.data.delay import DAY, complement_delays
from eccr.data.later_lists import build_later_lists
from eccr.data.schema import Behaviour, Bundles, Dataset
from eccr.data.splits import TemporalSplit, heldout_queries
from eccr.evaluate.config import DelayReportConfig
from eccr.evaluate.figures import save_figure

WINDOWS_DAYS = DelayReportConfig.windows_days
DEFINITIONS = {"items": "item pairs from bundles", "leaves": "leaf-category pairs from bundles"}


def _days(days: float) -> str:
    return f"{days:g}"


def delay_shares(delays: pd.DataFrame, windows=WINDOWS_DAYS) -> dict:
    """One row of the delay table from `complement_delays`' frame: pairs, pairs in another session, the share in
    the same session and within each window (`within_{d}d`), later than the last window; and for the pairs in
    another session alone (the late ones) their share within each window, their mean and median delay and how
    many users they come from."""
    n = len(delays)
    other = delays.loc[~delays["same_session"].astype(bool)] if n else delays.iloc[:0]
    late = other["delay_days"]
    nan = float("nan")
    row = {"pairs": n, "cross_session_pairs": len(late),
           "same_session": float(delays["same_session"].mean()) if n else nan}
    for days in windows:
        row[f"within_{_days(days)}d"] = float((delays["delay_days"] <= days).mean()) if n else nan
    row[f"later_than_{_days(windows[-1])}d"] = float((delays["delay_days"] > windows[-1]).mean()) if n else nan
    row["late"] = {**{f"within_{_days(d)}d": float((late <= d).mean()) if len(late) else nan for d in windows},
                   "mean_days": float(late.mean()) if len(late) else nan,
                   "median_days": float(late.median()) if len(late) else nan,
                   "users": int(other["user_id"].nunique())}
    return row


def leaf_pairs(dataset: Dataset) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """(source, target) leaf categories of the dataset's bundle pairs (two different, known leaves), and the
    item -> leaf map that keys them."""
    pairs = dataset.bundles.directed_pairs()
    leaf = {str(i): leaf_category(c) or None for i, c in zip(dataset.catalog.items["item_id"],
                                                             dataset.catalog.items["category"])}
    out = pd.DataFrame({"source": pairs["source"].map(leaf), "target": pairs["target"].map(leaf)}).dropna()
    return out[out["source"] != out["target"]], leaf


def complement_delay_frames(dataset: Dataset) -> dict[str, pd.DataFrame]:
    """`complement_delays` under each definition of DEFINITIONS (keyed by its long name)."""
    events = dataset.behaviour.events
    pairs, leaf = leaf_pairs(dataset)
    return {DEFINITIONS["items"]: complement_delays(events, dataset.bundles.directed_pairs()),
            DEFINITIONS["leaves"]: complement_delays(events, pairs, leaf)}


def measure_delays(dataset: Dataset, windows=WINDOWS_DAYS, frames: dict[str, pd.DataFrame] | None = None) -> dict:
    """The delay table of one dataset (`delay_shares` per definition) and who could show a delay at all: users,
    users with two or more dated sessions, sessions, the share of undated events."""
    events = dataset.behaviour.events
    frames = frames if frames is not None else complement_delay_frames(dataset)
    sessions = events[events["timestamp"] >= 0].groupby("user_id")["session_id"].nunique()
    return {"name": dataset.name, "users": int(events["user_id"].nunique()),
            "users_with_2plus_sessions": int((sessions >= 2).sum()),
            "sessions": int(events["session_id"].nunique()),
            "undated_events": float((events["timestamp"] < 0).mean()) if len(events) else 0.0,
            "definitions": {name: delay_shares(frame, windows) for name, frame in frames.items()}}


def whole_dataset(split: TemporalSplit) -> Dataset:
    """The split's parts back together (every session is in exactly one part)."""
    parts = (split.train, split.valid, split.test)
    name = split.train.name.rsplit(":", 1)[0]
    return Dataset(name, split.train.catalog,
                   Behaviour(pd.concat([p.behaviour.events for p in parts], ignore_index=True)),
                   Bundles(pd.concat([p.bundles.rows for p in parts], ignore_index=True)),
                   source=split.train.source)


def censored_at_cutoffs(delays: pd.DataFrame, events: pd.DataFrame, cutoffs: dict[str, int]) -> dict[str, dict]:
    """Per cutoff (unix seconds): the pairs whose first item was bought before it, and how many of those complete
    in another session at or after it (the label a model trained at the cutoff cannot see yet; a session lies in
    one part, so a pair within one session is never cut)."""
    ev = events[events["timestamp"] >= 0].sort_values("timestamp", kind="stable")
    first = ev.drop_duplicates(["user_id", "item_id"]).set_index(["user_id", "item_id"])["timestamp"]
    start = first.reindex(pd.MultiIndex.from_arrays([delays["user_id"], delays["item_id_a"]])).to_numpy(float)
    end = start + delays["delay_days"].to_numpy(float) * DAY
    later = ~delays["same_session"].to_numpy(bool)
    return {name: {"cutoff": int(cut), "pairs_started_before": int((start < cut).sum()),
                   "completed_after": int(((start < cut) & (end >= cut) & later).sum())}
            for name, cut in cutoffs.items()}


def bundle_list_count(dataset: Dataset) -> int:
    """The bundle lists `build_candidate_lists` makes for this part (one per ordered titled pair of a bundle),
    counted without drawing their negatives."""
    queries = heldout_queries(dataset)
    return int(queries["positives"].map(len).sum()) if len(queries) else 0


def later_list_counts(split: TemporalSplit, horizon_days: float, lists: CandidateListConfig | None = None
                      ) -> dict[str, dict]:
    """Per part: bundle lists, later-complement lists (eccr/data/later_lists.py, observed at the part's end),
    the queries they come from, those with a later complement, and the later lists younger than the horizon."""
    out = {}
    for part in PARTS:
        later = build_later_lists(split, part, lists or CandidateListConfig(), horizon_days)
        out[part] = {"bundle_lists": bundle_list_count(getattr(split, part)),
                     "later_lists": len(later.lists.pairs), "queries": len(later.queries),
                     "queries_with_later_complement": int(np.isfinite(later.queries["delay_days"]).sum()),
                     "later_lists_younger_than_horizon": int((later.age_days < horizon_days).sum())}
    return out


def delay_verdict(report: dict) -> str:
    """One sentence from the numbers: are the newest labels practically complete, or can late complements be
    missing from them?"""
    config = report["config"]
    rows = report["dataset"]["definitions"]
    measured = {name: r for name, r in rows.items() if r["pairs"]}
    if not measured:
        return ("No complement pair was bought by one user in this data, so the delay cannot be measured; the "
                "labels are bundles, labelled within their session.")
    name, row = max(measured.items(), key=lambda kv: (kv[1]["cross_session_pairs"] / kv[1]["pairs"], kv[1]["pairs"]))
    share = row["cross_session_pairs"] / row["pairs"]
    censored = report["censored"].get(name, {}).get("train", {})
    lists = report["later_lists"]
    later = sum(p["later_lists"] for p in lists.values())
    bundles = sum(p["bundle_lists"] for p in lists.values())
    what = (f"{share:.2%} of complement pairs bought by one user ({row['cross_session_pairs']:,} of "
            f"{row['pairs']:,} {name}, from {row['late']['users']:,} users) arrive in another session")
    hidden = (f"{censored.get('completed_after', 0):,} of the {censored.get('pairs_started_before', 0):,} pairs "
              f"begun before the train cutoff complete only after it")
    if share < config["negligible_share"]:
        return (f"**The labels are practically complete: no delay to correct.** {what} (below "
                f"{config['negligible_share']:.0%}); {hidden}, and the parts hold {later:,} later-complement lists "
                f"against {bundles:,} bundle lists.")
    last = _days(config["windows_days"][-1])
    late = row["late"]
    return (f"**The newest labels can be incomplete.** {what}, after {late['mean_days']:.1f} days on average "
            f"({1 - late[f'within_{last}d']:.1%} of them later than {last} days); {hidden}. The parts hold "
            f"{later:,} later-complement lists against {bundles:,} bundle lists; training on them "
            f"(`ComplementConfig.training_lists`) can weigh the newest with `delay_weighting=pq`.")


def delay_report(split: TemporalSplit, config: DelayReportConfig | None = None, out_dir: str | Path | None = None,
                 lists: CandidateListConfig | None = None) -> dict:
    """The delay table of the split's data, pairs hidden at the train and valid cutoffs, later-complement lists
    per part and the verdict; with `out_dir`, writes delay.png there (the caller writes the JSON)."""
    config = config or DelayReportConfig()
    windows = config.windows_days
    dataset = whole_dataset(split)
    frames = complement_delay_frames(dataset)
    cutoffs = {"train": split.valid_start, "valid": split.test_start}
    report = {"config": asdict(config), "dataset": measure_delays(dataset, windows, frames),
              "censored": {name: censored_at_cutoffs(frame, dataset.behaviour.events, cutoffs)
                           for name, frame in frames.items()},
              "later_lists": later_list_counts(split, config.horizon_days, lists)}
    report["verdict"] = delay_verdict(report)
    if out_dir is not None:
        path = plot_delays({name: frame for name, frame in frames.items()}, report["dataset"]["definitions"],
                           windows, Path(out_dir) / "delay.png", dataset.name)
        report["plots"] = {"delay": path.name}
    return report


def plot_delays(frames: dict[str, pd.DataFrame], rows: dict[str, dict], windows, path: str | Path,
                title: str = "") -> Path:
    """Left: per definition, the share of complement pairs still to come — bought in another session, later than
    each window — on a log axis (0 written on the bar). Right: the delay's CDF of the pairs in another session."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1.3, 1]})
    labels = ["another\nsession"] + [f"> {_days(d)} d" for d in windows]
    width = 0.8 / max(len(rows), 1)
    positive = []
    for k, (name, row) in enumerate(rows.items()):
        if not row["pairs"]:
            continue
        values = [row["cross_session_pairs"] / row["pairs"]] + [1 - row[f"within_{_days(d)}d"] for d in windows]
        x = np.arange(len(labels)) + k * width
        shown = [v if v > 0 else np.nan for v in values]
        left.bar(x, shown, width, label=f"{name} (n={row['pairs']:,})", color=f"C{k}")
        positive += [v for v in values if v > 0]
        for xi, v in zip(x, values):  # the value on each bar; "0" at the bottom where there is no bar
            if v > 0:
                left.annotate(f"{v:.2%}", (xi, v), ha="center", va="bottom", fontsize=6, rotation=90,
                              xytext=(0, 2), textcoords="offset points")
            else:
                left.annotate("0", (xi, 0), xycoords=("data", "axes fraction"), ha="center", va="bottom",
                              fontsize=7, xytext=(0, 2), textcoords="offset points")
    left.set_yscale("log")
    left.set_ylim(min(positive, default=1e-3) / 3, 3.0)
    left.set_xlim(-width, len(labels) - 0.2)
    left.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels)
    if not positive:
        left.text(0.5, 0.5, "every complement arrives in the first item's session", ha="center", va="center",
                  transform=left.transAxes)
    left.set_ylabel("share of complement pairs still to come")
    left.legend(fontsize=7, loc="upper right")
    left.set_title("complement bought later than the first item", fontsize=9)
    any_late, longest = False, 0.0
    for k, (name, frame) in enumerate(frames.items()):
        late = np.sort(frame.loc[~frame["same_session"].astype(bool), "delay_days"].to_numpy(float))
        if not len(late):
            continue
        any_late, longest = True, max(longest, float(late[-1]))
        right.step(np.concatenate([[0.0], late]), np.arange(len(late) + 1) / len(late), where="post",
                   color=f"C{k}", label=f"{name} (n={len(late):,})")
    for d in windows:
        right.axvline(d, color="grey", lw=0.6, ls=":")
    right.set_xlim(0, max(windows[-1], longest) * 1.1)  # every curve reaches 1
    right.set_ylim(0, 1.02)
    right.set_xlabel("days from the first item to its complement")
    right.set_ylabel("share of pairs in another session")
    right.set_title("delay of the complements bought in another session", fontsize=9)
    if any_late:
        right.legend(fontsize=7, loc="lower right")
    else:
        right.text(0.5, 0.5, "no complement pair in another session", ha="center", va="center",
                   transform=right.transAxes)
    fig.suptitle(f"Delayed feedback: when does the complement arrive? {title}".strip(), fontsize=10)
    return save_figure(fig, path)


def _share(value: float) -> str:
    return "-" if value is None or np.isnan(value) else f"{value:.2%}"


def delay_markdown(report: dict) -> str:
    """The report section for `delay_report`'s result."""
    config, data = report["config"], report["dataset"]
    windows = config["windows_days"]
    lines = ["## Delayed feedback", "",
             ("A recent \"negative\" is only wrong if its complement is bought later (Rastogi's keynote, part "
              "\"Delayed feedback\"; eccr/evaluate/delay.py). Directed complement pairs (a, b) bought by one user, "
              "b no earlier than a, over every part of the split; pairs defined by the items of one bundle or by "
              "the leaf categories of a bundle's items. Share of the pairs whose b arrives in the same session and "
              "within each window of a:"), "",
             "| complement pairs | pairs | in another session | same session | "
             + " | ".join(f"≤ {_days(d)} d" for d in windows) + " |",
             "|---|---|---|---|" + "---|" * len(windows)]
    for name, row in data["definitions"].items():
        lines.append(f"| {name} | {row['pairs']:,} | {row['cross_session_pairs']:,} | {_share(row['same_session'])} | "
                     + " | ".join(_share(row[f"within_{_days(d)}d"]) for d in windows) + " |")
    lines += ["", (f"{data['users']:,} users, {data['users_with_2plus_sessions']:,} with two or more dated sessions; "
                   f"{data['sessions']:,} sessions; {data['undated_events']:.1%} undated events.")]
    late = [(name, row) for name, row in data["definitions"].items() if row["cross_session_pairs"]]
    if late:
        lines += ["", "The pairs in another session alone (their delay):", "",
                  "| complement pairs | pairs | users | mean days | median days | "
                  + " | ".join(f"≤ {_days(d)} d" for d in windows) + " |",
                  "|---|---|---|---|---|" + "---|" * len(windows)]
        for name, row in late:
            r = row["late"]
            lines.append(f"| {name} | {row['cross_session_pairs']:,} | {r['users']:,} | {r['mean_days']:.1f} | "
                         f"{r['median_days']:.1f} "
                         "| " + " | ".join(_share(r[f"within_{_days(d)}d"]) for d in windows) + " |")
    lines += ["", ("Pairs begun before a cutoff of the split whose complement arrives only after it (hidden from a "
                   "model trained at that cutoff):"), "",
              "| complement pairs | at the train cutoff | at the valid cutoff |", "|---|---|---|"]
    for name, cuts in report["censored"].items():
        lines.append(f"| {name} | " + " | ".join(f"{c['completed_after']:,} of {c['pairs_started_before']:,}"
                                                 for c in cuts.values()) + " |")
    lines += ["", (f"Lists per part: bundle lists (labelled within their session, complete at every age) and "
                   f"later-complement lists (eccr/data/later_lists.py: a complement the same user bought in a later "
                   f"session within {_days(config['horizon_days'])} days; the only labels that can arrive late):"),
              "", ("| part | bundle lists | later lists | queries | with a later complement | later lists younger "
                   f"than {_days(config['horizon_days'])} d |"), "|---|---|---|---|---|---|"]
    for part, c in report["later_lists"].items():
        lines.append(f"| {part} | {c['bundle_lists']:,} | {c['later_lists']:,} | {c['queries']:,} | "
                     f"{c['queries_with_later_complement']:,} | {c['later_lists_younger_than_horizon']:,} |")
    lines += ["", report["verdict"]]
    if report.get("plots"):
        lines += ["", f"![delay]({report['plots']['delay']})"]
    return "\n".join(lines) + "\n"


def write_delay_section(markdown_path: str | Path, split: TemporalSplit, config: DelayReportConfig | None = None,
                        out_dir: str | Path | None = None, lists: CandidateListConfig | None = None) -> dict:
    """What `eccr evaluate` adds to its report: `delay_report` on the split, delay.json and delay.png in `out_dir`
    (default: the report's folder) and the section appended to report.md. Returns the report."""
    markdown_path = Path(markdown_path)
    out = Path(out_dir) if out_dir is not None else markdown_path.parent
    out.mkdir(parents=True, exist_ok=True)
    report = delay_report(split, config, out, lists)
    save_json(report, out / "delay.json", indent=1)
    with markdown_path.open("a") as fh:
        fh.write("\n" + delay_markdown(report))
    return report

