"""The one reader of resumable JSON-lines outputs: a torn last line is dropped, a bad line before it is an error."""
import json

import pytest

from eccr.data.io import read_resumable_jsonl
from eccr.data.schema import DataError


def _line(i: int) -> str:
    return json.dumps({"query_id": f"q{i}", "text": "a\u2028b"}, ensure_ascii=False) + "\n"


def test_missing_file_is_empty_and_complete_lines_are_read_in_order(tmp_path):
    path = tmp_path / "out.jsonl"
    assert read_resumable_jsonl(path) == []
    path.write_text(_line(0) + "\n" + _line(1), encoding="utf-8")  # a blank line is skipped
    records = read_resumable_jsonl(path, required=("query_id",))
    assert [r["query_id"] for r in records] == ["q0", "q1"] and records[0]["text"] == "a\u2028b"


def test_torn_last_line_is_dropped_and_cut_off_only_when_repairing(tmp_path):
    path = tmp_path / "out.jsonl"
    intact = _line(0) + _line(1)
    path.write_text(intact + '{"query_id": "q2", "te', encoding="utf-8")
    assert [r["query_id"] for r in read_resumable_jsonl(path)] == ["q0", "q1"]
    assert path.read_text(encoding="utf-8").endswith('"te')  # a reader leaves the file alone
    assert len(read_resumable_jsonl(path, repair=True)) == 2
    assert path.read_text(encoding="utf-8") == intact         # the resuming writer appends after a clean line end
    # a last line cut just before its newline is torn too: valid JSON, but the write did not finish
    path.write_text(_line(0) + _line(1).rstrip("\n"), encoding="utf-8")
    assert len(read_resumable_jsonl(path, repair=True)) == 1 and path.read_text(encoding="utf-8") == _line(0)
    path.write_text('{"query_id": "q0"', encoding="utf-8")  # killed during the very first line
    assert read_resumable_jsonl(path, repair=True) == [] and path.read_bytes() == b""


@pytest.mark.parametrize("bad, message, field", [
    ('{"query_id": "q1", "te\n', "malformed JSON", None),
    ('["q1"]\n', "JSON object", None),
    ('{"text": "no id"}\n', "missing field", "query_id"),
])
def test_bad_middle_line_names_file_line_and_field(tmp_path, bad, message, field):
    path = tmp_path / "out.jsonl"
    path.write_text(_line(0) + bad + _line(2), encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(DataError, match=message) as err:
        read_resumable_jsonl(path, required=("query_id",), repair=True)
    assert (err.value.file, err.value.line, err.value.field) == (str(path), 2, field)
    assert path.read_bytes() == before  # nothing after the bad line is thrown away


def test_a_bad_complete_last_line_is_an_error_not_a_torn_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(_line(0) + "garbage\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"out\.jsonl:2: malformed JSON"):
        read_resumable_jsonl(path)


def test_every_resumable_output_follows_the_same_rule(tmp_path):
    """`eccr explain` shards, `eccr distill` (resume) and the SFT reader of distilled sentences agree."""
    from eccr.jobs.distill import read_done
    from eccr.jobs.explain import _read_done
    from eccr.llm.tasks import read_distilled

    def line(i):
        return json.dumps({"query_id": f"q{i}", "source": f"s{i}", "target": f"t{i}", "explanation": f"Fits t{i}.",
                           "grounded": True}) + "\n"

    readers = {"batch": lambda p: len(_read_done(p)), "distill": lambda p: len(read_done(p)),
               "sft": lambda p: len(read_distilled(p))}
    for name, count in readers.items():
        torn, bad = tmp_path / f"{name}-torn.jsonl", tmp_path / f"{name}-bad.jsonl"
        torn.write_text(line(0) + line(1) + line(2)[:20])
        bad.write_text(line(0) + "{oops\n" + line(2))
        assert count(torn) == 2, name
        with pytest.raises(DataError, match=rf"{name}-bad\.jsonl:2: malformed JSON"):
            count(bad)
