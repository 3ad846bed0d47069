"""scripts/export_explanation_rating.py: held-out pairs become blinded rows, one per pair and source."""
from __future__ import annotations

import csv
import json


def _report(n: int, with_lm: bool) -> dict:
    return {"sentences": [{"title_a": f"Camera {i}", "title_b": f"Battery {i}", "categories": "", "incompatible": False,
                           "bought_together": False, "shown": f"Battery {i} powers Camera {i}.",
                           "source": "template", "raw_lm": f"LM about Battery {i} and Camera {i}." if with_lm else "",
                           "template": f"Battery {i} powers Camera {i}."} for i in range(n)]}


def test_every_pair_is_one_row_per_source_under_shuffled_letters(tmp_path, monkeypatch, load_script):
    m = load_script("export_explanation_rating")
    report = tmp_path / "explanations.json"
    report.write_text(json.dumps(_report(12, with_lm=True)))
    monkeypatch.setattr("sys.argv", ["x", "--report", str(report), "--pairs", "5", "--out", str(tmp_path / "out")])
    assert m.main() == 0
    key = json.loads((tmp_path / "out" / "key.json").read_text())
    assert sorted(key["systems"]) == ["raw_lm", "shown", "template", "titles_only"]
    with (tmp_path / "out" / "for_raters" / "ratings_template.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 * 4
    by_system = {}
    for row in rows:
        system = key["rows"][row["row_id"]]["system"]
        by_system.setdefault(system, []).append(row["explanation"])
        assert row["explanation"].startswith({"titles_only": "Battery", "raw_lm": "LM", "shown": "Battery",
                                              "template": "Battery"}[system])
    assert all(text.endswith("goes with " + text.split(" goes with ")[1]) for text in by_system["titles_only"])
    letters = {tuple(sorted((key["rows"][r["row_id"]]["system"], r["option"]) for r in rows if r["query_id"] == q))
               for q in {r["query_id"] for r in rows}}
    assert len(letters) > 1  # the systems' letters change from pair to pair


def test_runs_without_an_lm_leave_the_raw_lm_source_out(tmp_path, load_script):
    m = load_script("export_explanation_rating")
    files = m.answer_files(_report(6, with_lm=False), 4, 0, tmp_path)
    assert sorted(files) == ["shown", "template", "titles_only"]
    assert all(len(path.read_text().splitlines()) == 4 for path in files.values())


def test_pairs_of_an_earlier_export_are_not_drawn_again(tmp_path, monkeypatch, load_script):
    m = load_script("export_explanation_rating")
    report = tmp_path / "explanations.json"
    report.write_text(json.dumps(_report(10, with_lm=False)))
    for name, extra in (("first", []), ("second", ["--exclude", str(tmp_path / "first" / "key.json")])):
        monkeypatch.setattr("sys.argv", ["x", "--report", str(report), "--pairs", "5", "--out", str(tmp_path / name),
                                         *extra])
        assert m.main() == 0
    first, second = (set(json.loads((tmp_path / n / "key.json").read_text())["queries"]) for n in ("first", "second"))
    assert len(first) == len(second) == 5 and not first & second
