"""scripts/export_template_revision.py: the rated pairs whose template changed, before against after, blinded."""
from __future__ import annotations

import csv
import json

import pytest


def _report(templates: list[str]) -> dict:
    return {"sentences": [{"title_a": f"Camera {i}", "title_b": f"Battery {i}", "template": t}
                          for i, t in enumerate(templates)]}


def _rated(tmp_path, name: str, templates: dict[int, str]):
    folder = tmp_path / name / "answers"
    folder.mkdir(parents=True)
    with (folder / "answers_template.jsonl").open("w") as f:
        for i, text in templates.items():
            f.write(json.dumps({"query_id": f"pair{i:03d}", "query": {"title": f"Camera {i}"},
                                "recommendations": [{"item_id": f"pair{i:03d}-partner", "title": f"Battery {i}",
                                                     "explanation": text}]}) + "\n")
    return tmp_path / name


def test_only_changed_templates_are_exported_before_against_after(tmp_path, monkeypatch, load_script):
    m = load_script("export_template_revision")
    now = ["Battery 0 powers Camera 0: it fits the C0.", "Battery 1 goes with Camera 1; both go with Canon devices.",
           "Battery 2 powers Camera 2.", "Battery 3 powers Camera 3: it fits the E mount."]
    dev = _rated(tmp_path, "dev", {0: "Battery 0 powers Camera 0: it fits the C0. Shoppers bought them together.",
                                   1: "Battery 1 goes with Camera 1: it is made for Canon."})
    check = _rated(tmp_path, "check", {2: "Battery 2 powers Camera 2.",
                                       3: "Battery 3 powers Camera 3: it is made for Sony."})
    report = tmp_path / "explanations.json"
    report.write_text(json.dumps(_report(now)))
    monkeypatch.setattr("sys.argv", ["x", "--rating", str(dev), str(check), "--report", str(report),
                                     "--out", str(tmp_path / "out")])
    assert m.main() == 0
    key = json.loads((tmp_path / "out" / "key.json").read_text())
    assert sorted(key["queries"]) == ["pair001", "pair003"]  # a changed tail ("Shoppers …") is not a change
    with (tmp_path / "out" / "for_raters" / "ratings_template.csv").open() as f:
        shown = {(r["query_id"], key["rows"][r["row_id"]]["system"]): r["explanation"] for r in csv.DictReader(f)}
    assert shown == {("pair001", "before"): "Battery 1 goes with Camera 1: it is made for Canon.",
                     ("pair001", "after"): now[1],
                     ("pair003", "before"): "Battery 3 powers Camera 3: it is made for Sony.",
                     ("pair003", "after"): now[3]}


def test_a_report_of_other_pairs_is_refused(tmp_path, load_script):
    m = load_script("export_template_revision")
    dev = _rated(tmp_path, "dev", {1: "Battery 1 goes with Camera 1."})
    report = _report(["a.", "b."])
    report["sentences"][1]["title_b"] = "Tripod 1"
    with pytest.raises(SystemExit, match=r"answers_template.jsonl:1: pair001 is another pair"):
        m.changed_pairs([dev / "answers" / "answers_template.jsonl"], report)
    with pytest.raises(SystemExit, match=r"pair005 is beyond the report's 2 pairs"):
        m.changed_pairs([_rated(tmp_path, "far", {5: "x."}) / "answers" / "answers_template.jsonl"], report)
