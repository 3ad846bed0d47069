"""The resumable batch job: kill it mid-run, restart, get every answer exactly once, in input order."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from eccr.data.schema import DataError
from eccr.jobs.explain import BatchConfig, BatchReport, read_queries, run_batch

WORKER = r'''
import sys, time
from eccr.jobs.explain import BatchConfig, run_batch

def recommend(batch):
    time.sleep(float(sys.argv[3]))
    return [{"query_id": q["query_id"], "ranked": [q["item_id"] + "-x"],
             "recommendations": [{"item_id": q["item_id"] + "-x", "title": "t", "score": 1.0, "flags": {},
                                  "explanation": "because"}]} for q in batch]

report = run_batch(recommend, sys.argv[1], sys.argv[2], BatchConfig(batch_size=2, flush_every=2, progress=False))
print(report.summary())
'''


def _write_queries(path, n):
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"query_id": f"q{i}", "item_id": str(i)}) + "\n")


def _echo(batch):
    return [{"query_id": q["query_id"], "ranked": [], "recommendations": []} for q in batch]


def test_killed_job_resumes_without_loss_or_duplicates(tmp_path):
    queries, out = tmp_path / "q.jsonl", tmp_path / "answers.jsonl"
    _write_queries(queries, 60)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, str(script), str(queries), str(out), "0.05"], env=env)
    part = out.parent / (out.name + ".partial") / "shard-00000-of-00001.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not part.exists() or part.read_text().count("\n") < 10):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = part.read_text().count("\n")
    assert 10 <= written < 60, "the job should have been killed midway"
    assert not out.exists()
    done = subprocess.run([sys.executable, str(script), str(queries), str(out), "0"], env=env,
                          capture_output=True, text=True, check=True)
    assert f"resumed past {written}" in done.stdout
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert [l["query_id"] for l in lines] == [f"q{i}" for i in range(60)]


def test_torn_last_line_is_dropped_and_redone(tmp_path):
    queries, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    _write_queries(queries, 5)
    parts = tmp_path / "a.jsonl.partial"
    parts.mkdir()
    (parts / "shard-00000-of-00001.jsonl").write_text(
        json.dumps({"query_id": "q0", "ranked": [], "recommendations": []}) + "\n" + '{"query_id": "q1", "ran')
    report = run_batch(_echo, queries, out, BatchConfig(progress=False))
    assert report.skipped_done == 1 and report.answered == 4
    assert [json.loads(l)["query_id"] for l in out.read_text().splitlines()] == [f"q{i}" for i in range(5)]


def test_bad_middle_line_of_a_shard_stops_the_job_and_keeps_the_answers(tmp_path):
    queries, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    _write_queries(queries, 5)
    parts = tmp_path / "a.jsonl.partial"
    parts.mkdir()
    shard = parts / "shard-00000-of-00001.jsonl"
    answer = json.dumps({"query_id": "q0", "ranked": [], "recommendations": []}) + "\n"
    shard.write_text(answer + "edited by hand\n" + answer.replace("q0", "q1"))
    with pytest.raises(DataError, match=f"{shard}:2: malformed JSON"):
        run_batch(_echo, queries, out, BatchConfig(progress=False))
    assert shard.read_text().count("\n") == 3 and not out.exists()


def test_malformed_lines_are_reported_with_line_numbers_and_skipped(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"query_id": "a", "item_id": "1"}\nnot json\n{"item_id": "2"}\n'
                    '{"query_id": "b", "title": "Canon EOS", "basket": "oops"}\n{"query_id": "a", "item_id": "3"}\n'
                    '{"query_id": "c", "title": "Nikon"}\n')
    report = BatchReport()
    queries = read_queries(path, report)
    assert [q["query_id"] for q in queries] == ["a", "c"]
    text = "\n".join(report.malformed)
    assert f"{path}:2: malformed JSON" in text
    assert f"{path}:3: missing field 'query_id'" in text
    assert "field 'basket' must be a list" in text and "duplicate query_id 'a'" in text


def test_shards_merge_in_input_order_and_csv_output(tmp_path, monkeypatch):
    queries, out = tmp_path / "q.jsonl", tmp_path / "a.csv"
    _write_queries(queries, 7)
    for rank in (1, 0):  # the last shard to finish merges
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        run_batch(_echo, queries, out, BatchConfig(progress=False))
        assert out.exists() == (rank == 0)
    frame = pd.read_csv(out)
    assert list(frame["query_id"]) == [f"q{i}" for i in range(7)]


def test_csv_input(tmp_path):
    path = tmp_path / "q.csv"
    pd.DataFrame({"query_id": ["a", "b"], "item_id": ["1", ""], "title": ["", "Canon"],
                  "basket": ['["x", "y"]', ""]}).to_csv(path, index=False)
    queries = read_queries(path, BatchReport())
    assert queries[0]["basket"] == ["x", "y"] and queries[1]["title"] == "Canon"
