"""The "Delayed feedback" section of `eccr evaluate`'s report (eccr/evaluate/delay.py): on synthetic data with a
planted delay it recovers the planted share of complements bought later and the exponential delay; on data without
delay it says the labels are complete; it writes delay.json, delay.png and its section of report.md; its settings
are a documented dataclass the CLI turns into flags."""
import json

import numpy as np
import pandas as pd
import pytest

from eccr.data.candidate_lists import build_candidate_lists
from eccr.data.delay import DAY
from eccr.data.splits import temporal_split
from eccr.data.synth import SyntheticConfig, generate_synthetic
from eccr.evaluate.config import DelayReportConfig, EccrProtocolConfig, EvaluationConfig
from eccr.evaluate.delay import (
    DEFINITIONS,
    bundle_list_count,
    censored_at_cutoffs,
    delay_markdown,
    delay_report,
    delay_shares,
    measure_delays,
    whole_dataset,
    write_delay_section,
)
from eccr.evaluate.harness import evaluate_systems
from eccr.evaluate.report import write_report

from .conftest import ConstantScorer

LEAVES = DEFINITIONS["leaves"]


def planted_dataset(rate: float, mean_days: float, seed: int = 0):
    """3,000 items, 2,000 users; `rate` of the complement slots bought in a later session of the same user after
    an exponential delay of mean `mean_days` (eccr/data/synth.py); bundles in 30% of sessions."""
    config = SyntheticConfig(interactions_per_user=3.0, n_types=20, delayed_complement_rate=rate,
                             mean_delay_days=mean_days, bundle_rate=0.3)
    return generate_synthetic(3000, 2000, seed=seed, config=config)


def planted_split(rate: float, mean_days: float, seed: int = 0):
    return temporal_split(planted_dataset(rate, mean_days, seed), 0.1, 0.2)


@pytest.fixture(scope="module")
def delayed():
    split = planted_split(0.4, 10.0)
    return split, delay_report(split)


@pytest.fixture(scope="module")
def undelayed():
    split = planted_split(0.0, 10.0)
    return split, delay_report(split)


def test_delay_shares_and_cutoffs_on_a_hand_made_frame():
    delays = pd.DataFrame({"user_id": ["u", "u", "v", "v", "w", "w"],
                           "item_id_a": ["a", "a", "b", "b", "c", "c"], "item_id_b": ["x", "y", "x", "y", "x", "y"],
                           "delay_days": [0.0, 0.5, 3.0, 40.0, 0.0, 100.0],
                           "same_session": [True, False, False, False, True, False]})
    row = delay_shares(delays, (1.0, 7.0, 30.0, 90.0))
    assert row["pairs"] == 6 and row["cross_session_pairs"] == 4
    assert row["same_session"] == pytest.approx(2 / 6)
    assert [row[f"within_{d}d"] for d in (1, 7, 30, 90)] == pytest.approx([3 / 6, 4 / 6, 4 / 6, 5 / 6])
    assert row["later_than_90d"] == pytest.approx(1 / 6)
    assert [row["late"][f"within_{d}d"] for d in (1, 7, 30, 90)] == pytest.approx([1 / 4, 2 / 4, 2 / 4, 3 / 4])
    assert row["late"]["mean_days"] == pytest.approx((0.5 + 3 + 40 + 100) / 4) and row["late"]["users"] == 3
    # first purchases at day 10 (u's a), 20 (v's b), 0 (w's c); cutoffs at day 22 and day 61
    events = pd.DataFrame({"user_id": ["u", "v", "w", "w"], "item_id": ["a", "b", "c", "c"],
                           "timestamp": [10 * DAY, 20 * DAY, 0, 5 * DAY]})
    cut = censored_at_cutoffs(delays, events, {"train": 22 * DAY, "valid": 61 * DAY})
    # before day 22: all six pairs start; v's pairs end at day 23 and 60, w's late one at day 100, u's at day 10.5
    assert cut["train"] == {"cutoff": 22 * DAY, "pairs_started_before": 6, "completed_after": 3}
    assert cut["valid"]["completed_after"] == 1                     # only w's pair ends after day 61
    empty = delay_shares(delays.iloc[:0], (1.0,))
    assert empty["pairs"] == 0 and np.isnan(empty["same_session"]) and np.isnan(empty["late"]["mean_days"])


@pytest.mark.parametrize("rate,mean_days", [(0.4, 10.0), (0.2, 30.0)])
def test_the_report_recovers_a_planted_delay(rate, mean_days, delayed):
    """The share of complement (leaf-category) pairs bought in another session is close to the planted rate, and
    the delays of those pairs follow the planted exponential: share within N days ~ 1 - exp(-N / mean)."""
    report = delayed[1] if rate == 0.4 else delay_report(planted_split(rate, mean_days))
    row = report["dataset"]["definitions"][LEAVES]
    assert row["pairs"] > 2000
    assert abs(row["cross_session_pairs"] / row["pairs"] - rate) < 0.05
    for days in (1, 7, 30, 90):
        assert abs(row["late"][f"within_{days}d"] - (1 - np.exp(-days / mean_days))) < 0.06, days
    assert abs(row["late"]["mean_days"] / mean_days - 1) < 0.15
    # the whole-pair shares are the same session plus the late ones that arrived by then
    share_late = row["cross_session_pairs"] / row["pairs"]
    assert row["within_7d"] == pytest.approx(row["same_session"] + share_late * row["late"]["within_7d"], abs=1e-9)
    # the split hides some late complements at its cutoffs, and the later lists carry them
    assert report["censored"][LEAVES]["train"]["completed_after"] > 0
    lists = report["later_lists"]
    assert all(lists[p]["later_lists"] > 0 for p in ("train", "valid", "test"))
    assert lists["train"]["later_lists_younger_than_horizon"] > 0
    assert report["verdict"].startswith("**The newest labels can be incomplete.**")
    assert f"{row['cross_session_pairs'] / row['pairs']:.2%} of complement pairs" in report["verdict"]


def test_without_delay_the_report_says_the_labels_are_complete(undelayed):
    report = undelayed[1]
    for row in report["dataset"]["definitions"].values():
        assert row["pairs"] > 1000 and row["cross_session_pairs"] == 0 and row["same_session"] == 1.0
        assert all(row[f"within_{d}d"] == 1.0 for d in (1, 7, 30, 90))
    assert all(c["completed_after"] == 0 for cuts in report["censored"].values() for c in cuts.values())
    assert all(p["later_lists"] == 0 and p["bundle_lists"] > 0 for p in report["later_lists"].values())
    assert report["verdict"].startswith("**The labels are practically complete: no delay to correct.** 0.00% ")
    text = delay_markdown(report)
    assert "The pairs in another session alone" not in text and report["verdict"] in text


def test_the_section_is_written_into_the_report_folder(delayed, tmp_path):
    """What `eccr evaluate` does after its protocol tables: delay.json, delay.png and the section at the end of
    report.md, with the configured windows; the numbers in the markdown are those of the JSON."""
    split, _ = delayed
    results = evaluate_systems(split, {"constant": ConstantScorer()},
                               config=EvaluationConfig(protocols=("eccr",), eccr=EccrProtocolConfig(max_pairs=20)))
    paths = write_report(results, tmp_path / "report")
    config = DelayReportConfig(windows_days=(30, 1, 7), horizon_days=45)
    report = write_delay_section(paths["markdown"], split, config)
    text = paths["markdown"].read_text()
    assert text.index("## Delayed feedback") > text.index("ECCR protocol")
    section = text.split("## Delayed feedback")[1]
    assert "| ≤ 1 d | ≤ 7 d | ≤ 30 d |" in section and "90 d" not in section
    assert "later lists younger than 45 d" in section and "![delay](delay.png)" in section
    saved = json.loads((tmp_path / "report" / "delay.json").read_text())
    assert saved["config"]["windows_days"] == [1.0, 7.0, 30.0] and saved["verdict"] == report["verdict"]
    row = saved["dataset"]["definitions"][LEAVES]
    assert f"| {LEAVES} | {row['pairs']:,} | {row['cross_session_pairs']:,} | {row['same_session']:.2%} |" in section
    train = saved["later_lists"]["train"]
    assert f"| train | {train['bundle_lists']:,} | {train['later_lists']:,} |" in section
    png = tmp_path / "report" / "delay.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000


def test_the_report_measures_the_same_pairs_as_the_whole_dataset_and_counts_the_bundle_lists(delayed):
    """The split's parts put back together give the table scripts/measure_delay.py prints for the dataset, and the
    bundle lists are counted as build_candidate_lists makes them."""
    split, report = delayed
    ds = planted_dataset(0.4, 10.0)
    assert measure_delays(ds)["definitions"] == report["dataset"]["definitions"]
    assert len(whole_dataset(split).behaviour.events) == len(ds.behaviour.events)
    assert bundle_list_count(split.test) == len(build_candidate_lists(split, "test").pairs) > 100


def test_the_settings_are_a_documented_dataclass_and_cli_flags():
    from eccr.cli import build_parser
    from eccr.config import field_help

    assert EvaluationConfig().delay == DelayReportConfig() and DelayReportConfig().enabled
    assert all(field_help(DelayReportConfig, f) for f in ("enabled", "windows_days", "horizon_days",
                                                          "negligible_share"))
    parser = build_parser()
    args = parser.parse_args(["evaluate", "--run", "r", "--delay.windows_days", "30", "1",
                              "--delay.horizon_days", "20"])
    assert args.sections.delay == DelayReportConfig(windows_days=(1.0, 30.0), horizon_days=20.0)
    assert parser.parse_args(["evaluate", "--run", "r"]).sections.delay == DelayReportConfig()
    assert parser.parse_args(["evaluate", "--run", "r", "--delay.enabled", "false"]).sections.delay.enabled is False
    # simple-parsing's modes are globals: the evaluate parser must leave `eccr train`'s flags as they are
    train = parser.parse_args(["train", "--out", "x", "--ranker.max_seconds", "300", "--ranker.progress", "false"])
    assert train.run_config.ranker.max_seconds == 300.0 and train.run_config.ranker.progress is False
    with pytest.raises(ValueError):
        DelayReportConfig(windows_days=(0.0, 7.0))


def test_the_delay_curve_is_drawn_to_its_longest_delay(monkeypatch, tmp_path):
    """The right panel stopped at 1.1 x the last window (99 days): a curve with later complements ended below 1."""
    from eccr.evaluate import delay

    drawn = {}
    monkeypatch.setattr(delay, "save_figure", lambda fig, path: drawn.setdefault("fig", fig))
    frame = pd.DataFrame({"same_session": [False, False, True], "delay_days": [3.0, 200.0, 0.0]})
    row = {"pairs": 3, "cross_session_pairs": 2, "within_1d": 1 / 3, "within_90d": 2 / 3}
    delay.plot_delays({"pairs": frame}, {"pairs": row}, (1, 90), tmp_path / "d.png")
    right = drawn["fig"].axes[1]
    assert right.get_xlim()[1] >= 200
