import json

import pytest

from eccr.evaluate.config import EvaluationConfig, SampledProtocolConfig
from eccr.evaluate.harness import evaluate_systems
from eccr.evaluate.report import markdown_report, write_report

from .conftest import ConstantScorer, OracleScorer, RandomScorer, bundle_mates

SMALL = SampledProtocolConfig(negative_counts=(5, 10), recall_ks=(1, 5), headline_negatives=10)


@pytest.fixture
def results(tiny_split):
    truth = bundle_mates(tiny_split.test)
    return evaluate_systems(tiny_split, {"model": RandomScorer(), "oracle": OracleScorer(truth),
                                         "constant": ConstantScorer()},
                            config=EvaluationConfig(sampled=SMALL),
                            depth_factory=lambda h: OracleScorer(truth) if h > 1 else ConstantScorer(),
                            depth_hops=(1, 2))


def test_report_files_are_written(results, tmp_path):
    paths = write_report(results, tmp_path / "out")
    for name in ("metrics", "markdown", "plot_bars_eccr", "plot_bars_retrieval", "plot_bars_sampled",
                 "plot_sampled", "plot_depth"):
        assert paths[name].exists() and paths[name].stat().st_size > 0, name
    assert paths["plot_bars_eccr"].read_bytes()[:4] == b"\x89PNG"
    data = json.loads(paths["metrics"].read_text())
    assert data["main_system"] == "model"
    eccr = next(r for r in data["results"] if r["protocol"] == "eccr" and r["system"] == "oracle")
    assert eccr["summary"]["HR@5"]["mean"] == 1.0 and eccr["n_queries"] == 8
    text = paths["markdown"].read_text()
    assert "bars_eccr.png" in text and "depth_ablation.png" in text


def test_markdown_names_winner_and_baselines_that_beat_the_main_model(results):
    text = markdown_report(results)
    assert "Best per metric: HR@5: oracle; NDCG@5: oracle; MRR: oracle." in text
    assert "**Baselines that beat the main model `model`:** oracle on HR@5" in text
    assert "| oracle | **1.0000 [1.0000, 1.0000]** |" in text
    assert "| model (main) |" in text
    assert "gamma=1.0, negatives=10" in text and "negatives=5" not in text.split("## Figures")[0]
    assert "co_bought" in text  # the ECCR negative-kind breakdown
    assert "HR by the positive's status" in text and "| oracle | 1.0000 [1.0000, 1.0000] |" in text


def test_markdown_says_when_no_baseline_beats_the_main_model(tiny_split):
    truth = bundle_mates(tiny_split.test)
    res = evaluate_systems(tiny_split, {"oracle": OracleScorer(truth), "constant": ConstantScorer()},
                           protocols=("eccr",))
    text = markdown_report(res)
    assert "No baseline beats the main model `oracle` on any metric of this table." in text
    assert "Baselines that beat" not in text


def test_summary_table_has_one_row_per_system_and_the_headline_of_each_protocol(results):
    text = markdown_report(results)
    summary = text.split("## Summary")[1].split("\n## ")[0]
    header = "| system | ECCR HR@5 | ECCR NDCG@5 | full catalogue Recall@10 | full catalogue NDCG@10 | sampled NDCG |"
    assert header in summary
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "system" not in line]
    assert [r.split(" | ")[0][2:] for r in rows] == ["model", "oracle", "constant"]
    oracle = next(r for r in rows if r.startswith("| oracle"))
    assert oracle.count("**1.0000**") == 5  # the oracle is best everywhere


def test_depth_ablation_is_one_table_with_a_row_per_depth(results):
    text = markdown_report(results)
    assert text.count("## Depth ablation") == 1
    depth = text.split("## Depth ablation")[1].split("\n## ")[0]
    assert "| K=1 |" in depth and "| K=2 |" in depth
