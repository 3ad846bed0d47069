import json
import logging

import pytest

from eccr.cli import _recommender, _show_logs, build_parser, main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("data", "train", "evaluate", "recommend", "explain", "human-eval", "demo"):
        assert cmd in out


def test_data_stats_demo(capsys):
    assert main(["data", "stats", "--data", "demo", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["items"] >= 300 and stats["bundles"] > 100


def test_data_stats_real_electronic(electronic_dir, capsys):
    assert main(["data", "stats", "--data", str(electronic_dir)]) == 0
    out = capsys.readouterr().out
    for number in ("4,299", "3,076", "960", "967", "1,496", "15,876"):
        assert number in out


def test_missing_data_is_a_clear_error(capsys, tmp_path):
    assert main(["data", "stats", "--data", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_recommend_and_evaluate_on_tiny_run(tiny_run, capsys, tmp_path):
    assert main(["recommend", "--run", str(tiny_run), "--item", "Canon EOS Rebel T7", "-k", "3", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert len(answer["recommendations"]) == 3 and all(r["explanation"] for r in answer["recommendations"])
    assert all(0 <= r["coherent_probability"] <= 1 and r["coherent"] == r["flags"]["complementary"]
               for r in answer["recommendations"])  # the badge comes from the run's coherence judge
    assert main(["recommend", "--run", str(tiny_run), "--item", "D0001", "-k", "2", "--no-explain"]) == 0
    assert "coherent complement: " in capsys.readouterr().out
    assert main(["evaluate", "--run", str(tiny_run), "--protocols", "eccr", "retrieval", "--max-pairs", "60",
                 "--out", str(tmp_path / "report")]) == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert not (tiny_run / "metrics.json").exists()  # a report written elsewhere leaves the run's headline alone
    systems = {r["system"] for r in metrics["results"]}
    assert {"eccr", "attention_cf", "directed", "text_cosine", "category_prior", "co_occurrence", "dan",
            "weighted_sum", "last_item_cosine", "popularity", "eccr_bought_together"} <= systems
    assert "Baselines that beat" in (tmp_path / "report" / "report.md").read_text() or \
        "No baseline beats" in (tmp_path / "report" / "report.md").read_text()
    # the coherence judge's section: decision table, positive rate per score bin x uncertainty level, reliability
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Is it a coherent complement?" in report and "| per level |" in report and "level 2" in report
    coherence = json.loads((tmp_path / "report" / "coherence.json").read_text())
    assert coherence["part"] == "test" and {d["target"] for d in coherence["decisions"]} >= {0.8, 0.9}
    # the badge as served (the ranking rule on the blend's score) beside the judge's own rule, on the same pairs
    assert "| score that ranks (served) |" in report and "| ensemble mean (the judge's own rule) |" in report
    served = coherence["ranking_rule"]["rules"]["score that ranks (served)"]
    assert 0.5 < served["order_agreement"] <= 1.0 and 0.0 <= served["ece"] < 1.0
    assert (tmp_path / "report" / "positive_rate.png").exists() and (tmp_path / "report" / "reliability.png").exists()


def test_every_serving_setting_is_a_flag(tiny_run, capsys):
    """`--serve.<field>` for every RecommenderConfig field, generated from the dataclass; the short flags
    (`--max-per-type`, `--ranking`, `--no-lm`) still win."""
    for command in ("recommend", "explain"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "--serve.type_margin" in out and "--serve.type_floor" in out and "--serve.retrieve_text_k" in out
    args = build_parser().parse_args(["recommend", "--run", str(tiny_run), "--item", "D0001", "--max-per-type", "2",
                                      "--serve.type_margin", "inf", "--serve.type_floor=-inf", "--serve.max_per_type",
                                      "9", "--serve.retrieve_text_k", "0", "--no-lm"])
    rec = _recommender(args)
    config = rec.config
    assert config.type_margin == float("inf") and config.type_floor == float("-inf")
    assert config.max_per_type == 2 and config.retrieve_text_k == 0 and not config.use_lm
    assert main(["recommend", "--run", str(tiny_run), "--item", "D0001", "-k", "3", "--no-explain", "--json",
                 "--serve.max_per_type", "1", "--serve.type_margin", "inf", "--serve.type_floor=-inf"]) == 0
    leaves = [rec.items.leaf(r["item_id"]) for r in json.loads(capsys.readouterr().out)["recommendations"]]
    assert len(set(leaves)) == len(leaves), leaves  # the cap of one per type, with variety always winning


def test_evaluate_on_a_domain_the_run_never_saw(tiny_run, tmp_path):
    assert main(["data", "synth", "--items", "400", "--users", "300", "--out", str(tmp_path / "other")]) == 0
    out = tmp_path / "cross"
    assert main(["evaluate", "--run", str(tiny_run), "--data", str(tmp_path / "other"), "--protocols", "eccr",
                 "retrieval", "--max-pairs", "60", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["info"]["dataset"].startswith("synth") and 0 < metrics["info"]["eccr_pairs"] <= 60
    lists = json.loads((tiny_run / "eccr_candidates_test-on-other.json").read_text())
    assert all(p["query"].startswith("other:") for p in lists["pairs"])  # foreign ids never collide with the run's
    assert not (tiny_run / "metrics.json").exists()


def test_explain_batch_with_cold_catalog(tiny_run, tmp_path, capsys):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query_id": "a", "title": "iPhone 15 Pro"}\nnot json\n'
                       '{"query_id": "b", "item_id": "D0001", "candidates": ["X1", "D0363"]}\n'
                       '{"query_id": "c", "title": "no such product qqq"}\n'
                       '{"query_id": "d", "item_id": "D0001", "basket": ["nope"]}\n'
                       '{"query_id": "e", "item_id": "D0001", "candidates": ["nope1", "nope2"]}\n'
                       '{"query_id": "f", "item_id": "no-such-id"}\n')
    extra = tmp_path / "extra.csv"
    extra.write_text("item_id,title,category\nX1,Wasabi LP-E10 Battery for Canon EOS Rebel T7,Electronics > Batteries\n")
    out = tmp_path / "answers.jsonl"
    assert main(["explain", "--run", str(tiny_run), "--input", str(queries), "--out", str(out), "--catalog",
                 str(extra), "-k", "2", "--no-lm"]) == 0
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert [l["query_id"] for l in lines] == ["a", "b", "c", "d", "e", "f"]
    assert set(lines[1]["ranked"]) == {"X1", "D0363"}
    # a title that matches nothing is answered as a new cold item from its text
    assert "error" not in lines[2] and len(lines[2]["ranked"]) == 2
    # an unknown basket item, all-unknown candidates, an unknown id: one error line each, the batch goes on
    assert "basket item(s) not in the catalogue: ['nope']" in lines[3]["error"] and lines[3]["ranked"] == []
    assert "none of the 2 candidates" in lines[4]["error"]
    assert "no catalogue item matches 'no-such-id'" in lines[5]["error"]
    assert "malformed input lines skipped: 1" in capsys.readouterr().out


def test_explain_min_confidence_filters_on_the_judges_probability(tiny_run, tmp_path, capsys):
    import shutil

    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"query_id": q, "item_id": q}) + "\n" for q in ("D0001", "D0002", "D0363")))
    out = tmp_path / "all.jsonl"
    assert main(["explain", "--run", str(tiny_run), "--input", str(queries), "--out", str(out), "-k", "8",
                 "--no-lm"]) == 0
    everything = [json.loads(line) for line in out.read_text().splitlines()]
    probabilities = sorted(r["coherent_probability"] for a in everything for r in a["recommendations"])
    assert all(r["uncertainty"] >= 0 and isinstance(r["coherent"], bool)
               for a in everything for r in a["recommendations"])
    bar = probabilities[len(probabilities) // 2]
    out = tmp_path / "confident.jsonl"
    assert main(["explain", "--run", str(tiny_run), "--input", str(queries), "--out", str(out), "-k", "8",
                 "--no-lm", "--min-confidence", str(bar)]) == 0
    confident = [json.loads(line) for line in out.read_text().splitlines()]
    kept = [r for a in confident for r in a["recommendations"]]
    assert kept and all(r["coherent_probability"] >= bar for r in kept)
    assert all(a["ranked"] == [r["item_id"] for r in a["recommendations"]] for a in confident)
    capsys.readouterr()
    # a run trained before the coherence stage cannot filter, and says how to fit the judge
    old = tmp_path / "old_run"
    shutil.copytree(tiny_run, old, ignore=shutil.ignore_patterns("checkpoints", "coherence"))
    assert main(["explain", "--run", str(old), "--input", str(queries), "--out", str(tmp_path / "x.jsonl"),
                 "--no-lm", "--min-confidence", "0.5"]) == 2
    assert "--stages coherence" in capsys.readouterr().err
    assert main(["recommend", "--run", str(old), "--item", "D0001", "-k", "1", "--no-explain"]) == 0
    assert "no judge in this run" in capsys.readouterr().out


def test_explain_saves_the_model_with_the_items_it_added(tiny_run, tmp_path, capsys):
    from eccr.jobs.explain import cold_item_id
    from eccr.pipeline import Recommender

    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query_id": "a", "title": "Zorblax Hyperwidget 3000"}\n{"query_id": "b", "item_id": "X1"}\n')
    extra = tmp_path / "extra.csv"
    extra.write_text("item_id,title,category\nX1,Wasabi LP-E10 Battery for Canon EOS Rebel T7,Electronics > Batteries\n")
    saved = tmp_path / "saved"
    args = ["explain", "--run", str(tiny_run), "--input", str(queries), "--catalog", str(extra), "-k", "2", "--no-lm"]
    assert main([*args, "--out", str(tmp_path / "a.jsonl"), "--save-model", str(saved)]) == 0
    assert f"saved to {saved}" in capsys.readouterr().out
    cold = cold_item_id("Zorblax Hyperwidget 3000")
    rec = Recommender.from_pretrained(saved, use_lm=False)
    assert rec.is_titled("X1") and rec.is_titled(cold)
    assert not Recommender.from_pretrained(tiny_run, use_lm=False).is_titled(cold)  # the run itself is unchanged
    answers = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert all("error" not in a and len(a["ranked"]) == 2 for a in answers)
    # the saved folder answers the same queries without --catalog, and a non-empty folder is refused up front
    assert main(["explain", "--run", str(saved), "--input", str(queries), "--out", str(tmp_path / "b.jsonl"), "-k",
                 "2", "--no-lm"]) == 0
    assert [a["ranked"] for a in map(json.loads, (tmp_path / "b.jsonl").read_text().splitlines())] == \
        [a["ranked"] for a in answers]
    assert main([*args, "--out", str(tmp_path / "c.jsonl"), "--save-model", str(saved)]) == 2
    assert "not empty" in capsys.readouterr().err and not (tmp_path / "c.jsonl").exists()


@pytest.mark.slow
def test_explain_shards_across_real_processes_and_merges_in_order(tiny_run, tmp_path):
    """Two real processes (torchrun sets RANK/WORLD_SIZE as accelerate launch does): each answers its shard,
    the last one merges every answer once, in input order."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"query_id": f"q{i}", "item_id": f"D{i + 1:04d}"}) + "\n" for i in range(9)))
    out = tmp_path / "a.jsonl"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node", "2", "-m", "eccr.cli", "--", "explain", "--run", str(tiny_run),
           "--input", str(queries), "--out", str(out), "-k", "2", "--no-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "a.jsonl.partial").glob("*.jsonl")) == [
        "shard-00000-of-00002.jsonl", "shard-00001-of-00002.jsonl"]
    assert [json.loads(l)["query_id"] for l in out.read_text().splitlines()] == [f"q{i}" for i in range(9)]


def test_the_cli_shows_the_library_log_lines_once(capsys):
    """Info lines of the library (a resumed LM checkpoint, the llama.cpp export) reach the user of `eccr`, on the
    stderr of the moment, each once however often `main` runs in one process."""
    assert main(["data", "stats", "--data", "demo"]) == 0
    _show_logs()
    logging.getLogger("eccr.jobs.train").info("LM adapter has %d of %d steps; resuming", 50, 200)
    err = capsys.readouterr().err
    assert err.count("eccr: LM adapter has 50 of 200 steps; resuming") == 1
