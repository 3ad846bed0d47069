"""scripts/reproduce_results.py: --later-period runs the README's later-period commands in order."""
from __future__ import annotations

from pathlib import Path


def test_later_period_truncates_once_trains_both_runs_and_scores_them_with_the_shipped_run(load_script, tmp_path,
                                                                                              monkeypatch):
    m = load_script("reproduce_results")
    calls = []
    monkeypatch.setattr(m, "run", calls.append)
    runs = tmp_path / "runs"
    m.later_period(["eccr"], Path("data/electronic"), runs, runs / "electronic", tmp_path / "out", "electronic")
    assert calls[0][-3:] == ["truncate", "data/electronic", str(runs / "later" / "electronic-data")]
    split, recent = calls[1], calls[2]
    assert split[:2] == ["eccr", "train"] and "--data.test_fraction" not in split
    assert recent[-2:] == ["--data.test_fraction", "0.002"]
    for train in (split, recent):
        assert train[train.index("--data") + 1] == str(runs / "later" / "electronic-data")
        assert train[train.index("--complement_encoder.enabled") + 1] == "false"
    evaluate = calls[3]
    assert evaluate[2:4] == ["evaluate", "data/electronic"]
    assert evaluate[4:7] == [str(runs / "later" / "electronic-split"), str(runs / "later" / "electronic-recent"),
                             str(runs / "electronic")]
    assert evaluate[-2:] == ["--out", str(tmp_path / "out" / "later_period-electronic")]
    # then the run whose catalogue lacks the later items, scored beside the split run
    known_data = str(runs / "later" / "electronic-known-data")
    assert calls[4][-4:] == ["truncate", "data/electronic", known_data, "--known-items-only"]
    assert calls[5][calls[5].index("--data") + 1] == known_data
    assert calls[6][4:6] == [str(runs / "later" / "electronic-known"), str(runs / "later" / "electronic-split")]
    assert calls[6][-1] == str(tmp_path / "out" / "later_period_known-electronic")

    for copy in ("electronic-data", "electronic-known-data"):
        (runs / "later" / copy).mkdir(parents=True)
        (runs / "later" / copy / "TRUNCATED.json").write_text("{}")
    calls.clear()
    m.later_period(["eccr"], Path("data/electronic"), runs, runs / "electronic", tmp_path / "out", "electronic")
    assert [c[1] if c[0] == "eccr" else c[2] for c in calls] == ["train", "train", "evaluate", "train",
                                                                   "evaluate"]  # kept the copies
