"""Human-evaluation round trip: blinded export -> simulated raters with known answers -> import -> statistics."""
from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from eccr.data.schema import DataError
from eccr.evaluate.human_eval import (
    ANSWER_FIELDS,
    bootstrap_ratio,
    export_human_eval,
    import_human_eval,
    krippendorff_alpha,
    load_system_answers,
)
from eccr.evaluate.human_eval.validate import _same_id

# Distinctive names so "no system name in rater files" cannot pass or fail by accident of ordinary words.
GOOD, BAD, MID = "sysgoodzq", "sysbadzq", "sysmidzq"
TRUE_RATE = {GOOD: 0.9, BAD: 0.2, MID: 0.5}


# ---------------------------------------------------------------------------------------------------------------
# Tiny system answer files built in code
# ---------------------------------------------------------------------------------------------------------------
def _write_system(path: Path, n_queries: int, offset: int, k: int = 3, extra_queries: int = 0,
                  empty_explanations: bool = False) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for q in range(n_queries + extra_queries):
            recs = [{"item_id": f"i{q}-{offset}-{r}", "title": f"Accessory {offset * 10 + r} for product {q}",
                     "score": 1.0 - 0.1 * r,
                     "flags": {"complementary": True, "relevant": True, "compatible": False},
                     "explanation": "" if empty_explanations and r == 0 else f"Works with product {q}."}
                    for r in range(k)]
            f.write(json.dumps({"query_id": f"q{q:03d}", "query": {"item_id": f"q{q:03d}", "title": f"Product {q}"},
                                "ranked": [x["item_id"] for x in recs], "recommendations": recs}) + "\n")
    return path


@pytest.fixture
def systems(tmp_path: Path) -> dict[str, Path]:
    return {GOOD: _write_system(tmp_path / "a.jsonl", 60, 1, extra_queries=3),
            BAD: _write_system(tmp_path / "b.jsonl", 60, 2),
            MID: _write_system(tmp_path / "c.jsonl", 60, 3, empty_explanations=True)}


# ---------------------------------------------------------------------------------------------------------------
# Simulated raters: the truth per row is fixed by the key; each rater flips answers with a known probability
# ---------------------------------------------------------------------------------------------------------------
def _truth(key: dict, seed: int = 1) -> dict[str, dict]:
    """Exactly round(p * n) rows of each system are truly coherent; scores 4-5 if coherent else 1-2."""
    rng = np.random.default_rng(seed)
    truth = {}
    for system, rate in TRUE_RATE.items():
        rows = sorted(r for r, v in key["rows"].items() if v["system"] == system)
        coherent = set(rng.permutation(rows)[: round(rate * len(rows))])
        for row_id in rows:
            ok = row_id in coherent
            truth[row_id] = {"coherent": ok, "score": int(rng.integers(4, 6) if ok else rng.integers(1, 3))}
    return truth


def _rater_answers(key: dict, truth: dict, flip: float, seed: int, random_rater: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    answers = {}
    for row_id in sorted(key["rows"]):
        if random_rater:
            coherent, score = bool(rng.integers(0, 2)), int(rng.integers(1, 6))
        else:
            coherent = truth[row_id]["coherent"] ^ bool(rng.random() < flip)
            score = int(np.clip(truth[row_id]["score"] + (rng.choice([-1, 1]) if rng.random() < flip else 0), 1, 5))
        has_expl = key["rows"][row_id]["has_explanation"]
        answers[row_id] = {"coherent": "yes" if coherent else "no",
                           "compatible": "yes" if coherent else rng.choice(["no", "unsure"]),
                           "relevant": "yes" if coherent else "no",
                           "explanation_score": str(score) if has_expl else ""}
    return answers


def _fill_csv(template: Path, answers: dict, out: Path) -> Path:
    with template.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            row.update(answers[row["row_id"]])
            writer.writerow(row)
    return out


def _label_studio_export(tasks_file: Path, answers: dict, out: Path, annotator: int = 7) -> Path:
    """What Label Studio's JSON export looks like: the imported tasks with ids and an `annotations` list."""
    tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    exported = []
    for i, task in enumerate(tasks, start=1):
        a = answers[task["data"]["row_id"]]
        result = [{"id": f"r{i}{name}", "from_name": name, "to_name": "item", "type": "choices",
                   "origin": "manual", "value": {"choices": [a[name]]}}
                  for name in ("coherent", "compatible", "relevant")]
        if a["explanation_score"]:
            result.append({"id": f"r{i}s", "from_name": "explanation_score", "to_name": "explanation",
                           "type": "rating", "origin": "manual", "value": {"rating": int(a["explanation_score"])}})
        exported.append({"id": 100 + i, "data": task["data"], "project": 3, "predictions": [],
                         "annotations": [{"id": 5000 + i, "completed_by": annotator, "result": result,
                                          "was_cancelled": False, "ground_truth": False, "lead_time": 3.2,
                                          "created_at": "2025-01-01T10:00:00Z", "task": 100 + i}]})
    out.write_text(json.dumps(exported, indent=1), encoding="utf-8")
    return out


def _to_json_min(full_export: Path, out: Path) -> Path:
    """Label Studio's JSON-MIN export: one flat record per annotation (choices as strings, rating as a list)."""
    records = []
    for task in json.loads(full_export.read_text(encoding="utf-8")):
        for ann in task["annotations"]:
            record = dict(task["data"], id=task["id"], annotator=ann["completed_by"], annotation_id=ann["id"])
            for r in ann["result"]:
                record[r["from_name"]] = r["value"]["choices"][0] if r["type"] == "choices" else [r["value"]]
            records.append(record)
    out.write_text(json.dumps(records), encoding="utf-8")
    return out


def _export(systems, tmp_path, **kw):
    kw.setdefault("n_queries", 40)
    kw.setdefault("top_k", 3)
    kw.setdefault("seed", 11)
    paths = export_human_eval(systems, tmp_path / "export", **kw)
    return paths, json.loads(paths.key.read_text())


def _known_raters(systems, tmp_path, flip=0.05, random_rater=False):
    paths, key = _export(systems, tmp_path)
    truth = _truth(key)
    files = [_fill_csv(paths.ratings_csv, _rater_answers(key, truth, flip, seed, random_rater),
                       tmp_path / f"ratings_r{seed}.csv") for seed in (1, 2)]
    files.append(_label_studio_export(paths.label_studio_tasks, _rater_answers(key, truth, flip, 3, random_rater),
                                      tmp_path / "labelstudio_r3.json"))
    return paths, key, truth, files


# ---------------------------------------------------------------------------------------------------------------
# Krippendorff's alpha and the bootstrap
# ---------------------------------------------------------------------------------------------------------------
def test_alpha_matches_hand_computed_binary_example():
    # Krippendorff (2011), two observers, ten units. Coincidences: o00 = 10, o01 = o10 = 4, o11 = 2; n = 20,
    # n0 = 14, n1 = 6. alpha = 1 - (n - 1) * o01 / (n0 * n1) = 1 - 19 * 4 / 84 = 0.0952.
    data = [[0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]]
    assert krippendorff_alpha(data, "nominal") == pytest.approx(1 - 19 * 4 / 84)


def test_alpha_matches_textbook_example_with_missing_values():
    # Krippendorff (2011), four observers, twelve units, values 1-5, missing entries; published alphas.
    n = np.nan
    data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
            [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n], [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n]]
    expected = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
    for level, alpha in expected.items():
        assert krippendorff_alpha(data, level) == pytest.approx(alpha, abs=5e-4), level


def test_alpha_edge_cases():
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 3]], "interval") == pytest.approx(1.0)
    assert np.isnan(krippendorff_alpha([[1, 1], [1, 1]]))          # no variation: undefined
    assert np.isnan(krippendorff_alpha([[1, np.nan], [np.nan, 2]]))  # nothing pairable
    with pytest.raises(ValueError, match="unknown level"):
        krippendorff_alpha([[1, 2], [1, 2]], "cosine")


def test_bootstrap_ratio_ci_brackets_value_and_shrinks_with_data():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 2, 20).astype(float)
    big = rng.integers(0, 2, 2000).astype(float)
    ci = {}
    for name, x in (("small", small), ("big", big)):
        ci[name] = bootstrap_ratio(x, np.ones_like(x), resamples=1000, seed=1)
        assert ci[name]["ci_low"] <= ci[name]["value"] <= ci[name]["ci_high"]
    assert (ci["big"]["ci_high"] - ci["big"]["ci_low"]) < (ci["small"]["ci_high"] - ci["small"]["ci_low"]) / 3


# ---------------------------------------------------------------------------------------------------------------
# Export: blinding, formats, determinism
# ---------------------------------------------------------------------------------------------------------------
def test_export_blinds_and_shuffles_per_query(systems, tmp_path):
    paths, key = _export(systems, tmp_path)
    mappings = {}
    for row in key["rows"].values():
        mappings.setdefault(row["query_id"], {})[row["option"]] = row["system"]
    assert len(mappings) == 40 and len(key["rows"]) == 40 * 3 * 3
    distinct = {tuple(sorted(m.items())) for m in mappings.values()}
    assert len(distinct) >= 4  # 6 possible permutations of 3 systems; one fixed mapping would be 1
    for letter in "ABC":
        assert {m[letter] for m in mappings.values()} == {GOOD, BAD, MID}
    # Nothing given to raters names a system, in contents or file names (nor the systems' file paths).
    rater_files = list(paths.ratings_csv.parent.iterdir())
    assert len(rater_files) == 4
    for f in rater_files:
        text = f.read_text(encoding="utf-8")
        for secret in (GOOD, BAD, MID, "a.jsonl", "b.jsonl", "c.jsonl"):
            assert secret not in text and secret not in f.name, (secret, f.name)
    assert "system" not in paths.ratings_csv.read_text().splitlines()[0]


def test_export_csv_and_label_studio_files_are_consistent(systems, tmp_path):
    paths, key = _export(systems, tmp_path, top_k=1, n_queries=10)
    with paths.ratings_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["row_id"] for r in rows] == list(key["rows"]) and len(rows) == 10 * 3
    assert all(r[a] == "" for r in rows for a in ANSWER_FIELDS)   # answers left for the rater
    assert {r["rank"] for r in rows} == {"1"}
    assert any(r["explanation"] == "(no explanation given)" for r in rows)  # MID's first rec has none
    tasks = json.loads(paths.label_studio_tasks.read_text())
    assert [t["data"]["row_id"] for t in tasks] == [r["row_id"] for r in rows]
    # Label Studio config: well-formed XML, controls named like the answer columns, $variables exist in tasks.
    config = paths.label_studio_config.read_text()
    root = ET.fromstring(config)
    objects = {e.get("name") for e in root.iter("Text")}
    controls = {e.get("name"): e for e in root if e.tag in ("Choices", "Rating")}
    assert set(controls) == set(ANSWER_FIELDS)
    assert all(c.get("toName") in objects for c in controls.values())
    assert controls["explanation_score"].tag == "Rating" and controls["explanation_score"].get("maxRating") == "5"
    assert [c.get("value") for c in controls["compatible"]] == ["yes", "no", "unsure"]
    # Label Studio substitutes $variables only as a tag's whole value; each must be a key of the task data.
    variables = re.findall(r'value="\$(\w+)"', config)
    assert config.count("$") == len(variables) and set(variables) <= set(tasks[0]["data"])
    assert "position" in variables and tasks[0]["data"]["position"].startswith(f"Row {rows[0]['row_id']}")
    assert "coherent" in paths.instructions.read_text() and "complementary AND (relevant OR compatible)" in \
        paths.instructions.read_text()


def test_export_is_deterministic_per_seed(systems, tmp_path):
    a = export_human_eval(systems, tmp_path / "one", n_queries=20, top_k=3, seed=5)
    b = export_human_eval(systems, tmp_path / "two", n_queries=20, top_k=3, seed=5)
    c = export_human_eval(systems, tmp_path / "three", n_queries=20, top_k=3, seed=6)
    for field in ("ratings_csv", "label_studio_tasks", "key"):
        assert getattr(a, field).read_bytes() == getattr(b, field).read_bytes()
    assert json.loads(a.key.read_text())["rows"] != json.loads(c.key.read_text())["rows"]


def test_export_samples_only_queries_answered_by_all_systems(systems, tmp_path):
    _, key = _export(systems, tmp_path, n_queries=None)
    assert len(key["queries"]) == 60  # GOOD's 3 extra queries are left out
    with pytest.raises(ValueError, match="61.*60 queries"):
        _export(systems, tmp_path, n_queries=61)


def test_system_file_errors_name_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query_id": "q1", "query": {"title": "x"}, "recommendations": []}\n'
                   '{"query_id": 5, "query": {}, "recommendations": []}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: .*\(field 'query_id'\)"):
        load_system_answers(bad)
    bad.write_text('{"query_id": "q1", "query": {"title": "x"}, "recommendations": []}\n{oops\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: malformed JSON"):
        load_system_answers(bad)


# ---------------------------------------------------------------------------------------------------------------
# Round trip with known raters
# ---------------------------------------------------------------------------------------------------------------
def test_round_trip_recovers_known_coherent_rates(systems, tmp_path):
    paths, key, truth, files = _known_raters(systems, tmp_path)
    summary = import_human_eval(files, paths.key, tmp_path / "report", bootstrap_resamples=1000, seed=0)
    assert set(summary["raters"]) == {"ratings_r1", "ratings_r2", "labelstudio_r3"}
    assert all(n == 360 for n in summary["raters"].values())
    for system, rate in TRUE_RATE.items():
        rows = [r for r, v in key["rows"].items() if v["system"] == system]
        assert np.mean([truth[r]["coherent"] for r in rows]) == pytest.approx(rate, abs=0.005)  # simulation
        assert summary["systems"][system]["n_pairs"] == len(rows) == 120
        stat = summary["systems"][system]["coherent_rate"]
        assert stat["ci_low"] <= rate <= stat["ci_high"], (system, stat)
        assert abs(stat["value"] - rate) < 0.05
        assert stat["ci_high"] - stat["ci_low"] < 0.3
    good, bad = summary["systems"][GOOD], summary["systems"][BAD]
    assert good["explanation_score"]["value"] > 3.8 and bad["explanation_score"]["value"] < 2.2
    assert good["relevant_rate"]["value"] > 0.8 and bad["relevant_rate"]["value"] < 0.3
    # MID's first recommendation had no explanation: those rows carry no score.
    assert summary["systems"][MID]["explanation_score"]["n"] < summary["systems"][GOOD]["explanation_score"]["n"]
    diff = next(d for d in summary["differences"] if {d["a"], d["b"]} == {GOOD, BAD})
    sign = 1 if diff["a"] == GOOD else -1
    assert sign * diff["ci_low"] > 0.5 or sign * diff["ci_high"] < -0.5  # CI far from 0, right direction
    score_gap = sign * np.array([diff["explanation_score_difference"], diff["explanation_ci_low"],
                                 diff["explanation_ci_high"]])
    assert score_gap[0] > 1.5 and min(score_gap[1:]) > 1.0  # paired interval of the score gap, right direction
    ag = summary["agreement"]
    assert ag["coherent_alpha_nominal"] > 0.7 and ag["explanation_score_alpha_interval"] > 0.8
    report = tmp_path / "report"
    assert json.loads((report / "summary.json").read_text()) == json.loads(json.dumps(summary))
    md = (report / "summary.md").read_text()
    assert "| system | pairs | coherent rate" in md and GOOD in md
    assert (report / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    unblinded = (report / "answers.csv").read_text()
    assert unblinded.count("\n") == 3 * 360 + 1 and BAD in unblinded


def test_random_raters_have_alpha_near_zero(systems, tmp_path):
    paths, _, _, files = _known_raters(systems, tmp_path, random_rater=True)
    summary = import_human_eval(files, paths.key, tmp_path / "report", bootstrap_resamples=200)
    ag = summary["agreement"]
    assert abs(ag["coherent_alpha_nominal"]) < 0.1 and abs(ag["explanation_score_alpha_interval"]) < 0.1
    for system in TRUE_RATE:
        assert 0.35 < summary["systems"][system]["coherent_rate_mean_rating"]["value"] < 0.65


def test_label_studio_json_min_gives_same_answers_as_full_export(systems, tmp_path):
    paths, _, _, files = _known_raters(systems, tmp_path)
    json_min = _to_json_min(files[2], tmp_path / "labelstudio_r3_min.json")
    full = import_human_eval(files[2:], paths.key, tmp_path / "full", bootstrap_resamples=100)
    minimal = import_human_eval([json_min], paths.key, tmp_path / "min", bootstrap_resamples=100)
    assert full["systems"] == minimal["systems"]
    assert full["agreement"]["n_raters"] == 1 and full["agreement"]["coherent_alpha_nominal"] is None


def test_import_is_deterministic_per_seed(systems, tmp_path):
    paths, _, _, files = _known_raters(systems, tmp_path)
    a = import_human_eval(files, paths.key, tmp_path / "a", bootstrap_resamples=300, seed=3)
    b = import_human_eval(files, paths.key, tmp_path / "b", bootstrap_resamples=300, seed=3)
    c = import_human_eval(files, paths.key, tmp_path / "c", bootstrap_resamples=300, seed=4)
    assert a == b and a["systems"] != c["systems"]


# ---------------------------------------------------------------------------------------------------------------
# Validation errors name the file, the line or task, and the field
# ---------------------------------------------------------------------------------------------------------------
def _filled(systems, tmp_path, edit=None, name="ratings_ann.csv", sep=","):
    paths, key = _export(systems, tmp_path, n_queries=5, top_k=1)
    answers = _rater_answers(key, _truth(key), 0.0, 1)
    out = _fill_csv(paths.ratings_csv, answers, tmp_path / name)
    if edit or sep != ",":
        with out.open() as f:
            rows = list(csv.DictReader(f))
        if edit:
            edit(rows)
        with out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=sep)
            writer.writeheader()
            writer.writerows(rows)
    return paths, out


@pytest.mark.parametrize("edit, pattern", [
    (lambda rows: rows[2].update(coherent=""), r"ratings_ann\.csv:4: missing answer .*\(field 'coherent'\)"),
    (lambda rows: rows[0].update(explanation_score="7"), r"ratings_ann\.csv:2: .*out of range.*explanation_score"),
    (lambda rows: rows[1].update(explanation_score="great"), r"ratings_ann\.csv:3: 'great' is not a number"),
    (lambda rows: rows[0].update(relevant="maybe"), r"ratings_ann\.csv:2: 'maybe' is not one of yes/no/unsure"),
    (lambda rows: rows[3].update(row_id="9999-Z1"), r"ratings_ann\.csv:5: unknown row_id '9999-Z1'"),
    (lambda rows: rows.append(dict(rows[0])), r"ratings_ann\.csv:\d+: row \S+ answered twice .*ratings_ann\.csv:2"),
    (lambda rows: rows[0].update(query_id="q999"), r"ratings_ann\.csv:2: .*key says.*\(field 'query_id'\)"),
])
def test_csv_validation_errors(systems, tmp_path, edit, pattern):
    paths, filled = _filled(systems, tmp_path, edit)
    with pytest.raises(DataError, match=pattern):
        import_human_eval([filled], paths.key, tmp_path / "report", bootstrap_resamples=100)


def test_all_problems_reported_at_once_and_blank_score_allowed_without_explanation(systems, tmp_path):
    def edit(rows):
        rows[0]["coherent"] = ""
        rows[1]["explanation_score"] = "0"
    paths, filled = _filled(systems, tmp_path, edit)
    with pytest.raises(DataError, match=r"2 problem\(s\)(.|\n)*:2:(.|\n)*:3:"):
        import_human_eval([filled], paths.key, tmp_path / "report", bootstrap_resamples=100)
    paths, filled = _filled(systems, tmp_path)  # MID rows without explanation have a blank score: valid
    assert "" in [r["explanation_score"] for r in csv.DictReader(filled.open())]
    import_human_eval([filled], paths.key, tmp_path / "report", bootstrap_resamples=100)


def test_same_rater_in_two_files_is_a_duplicate(systems, tmp_path):
    def name_rater(rows):
        for r in rows:
            r["rater"] = "alice"
    paths, one = _filled(systems, tmp_path, name_rater, name="monday.csv")
    _, two = _filled(systems, tmp_path, name_rater, name="tuesday.csv")
    with pytest.raises(DataError, match=r"answered twice by rater 'alice' \(first at monday\.csv:2\)"):
        import_human_eval([one, two], paths.key, tmp_path / "report", bootstrap_resamples=100)


def test_semicolon_csv_from_a_spreadsheet_is_accepted(systems, tmp_path):
    paths, filled = _filled(systems, tmp_path, sep=";")
    summary = import_human_eval([filled], paths.key, tmp_path / "report", bootstrap_resamples=100)
    assert summary["n_answers"] == 15


def test_label_studio_validation_errors_name_task_and_field(systems, tmp_path):
    paths, key = _export(systems, tmp_path, n_queries=5, top_k=1)
    answers = _rater_answers(key, _truth(key), 0.0, 1)
    export = _label_studio_export(paths.label_studio_tasks, answers, tmp_path / "ls.json")
    tasks = json.loads(export.read_text())
    tasks[3]["annotations"][0]["result"] = [r for r in tasks[3]["annotations"][0]["result"]
                                            if r["from_name"] != "relevant"]
    tasks[4]["annotations"].append(dict(tasks[4]["annotations"][0], id=9))  # same annotator twice
    tasks[5]["annotations"].append(dict(tasks[5]["annotations"][0], completed_by=8, was_cancelled=True))
    export.write_text(json.dumps(tasks))
    with pytest.raises(DataError) as err:
        import_human_eval([export], paths.key, tmp_path / "report", bootstrap_resamples=100)
    message = str(err.value)
    assert "2 problem(s)" in message  # the cancelled annotation is ignored, not an error
    assert re.search(r"ls\.json: task 3 \(id 104\): missing answer .*\(field 'relevant'\)", message)
    assert re.search(r"ls\.json: task 4 \(id 105\): row \S+ answered twice by rater 'ls'", message)


def test_import_rejects_wrong_key_and_unknown_file_types(systems, tmp_path):
    paths, filled = _filled(systems, tmp_path)
    not_key = tmp_path / "k.json"
    not_key.write_text("{}")
    with pytest.raises(DataError, match="not a human-evaluation key"):
        import_human_eval([filled], not_key, tmp_path / "r")
    other = tmp_path / "answers.xlsx"
    other.write_bytes(b"PK")
    with pytest.raises(DataError, match="unsupported answer file"):
        import_human_eval([other], paths.key, tmp_path / "r")


def test_rater_column_and_scores_without_explanation(systems, tmp_path):
    def edit(rows):
        for r in rows:
            r["rater"] = "alice" if r["row_id"] < "0003" else "bob"
            if r["explanation"] == "(no explanation given)":
                r["explanation_score"] = "5"  # ignored: nothing was shown to score
    paths, filled = _filled(systems, tmp_path, edit)
    summary = import_human_eval([filled], paths.key, tmp_path / "report", bootstrap_resamples=100)
    assert summary["raters"] == {"alice": 6, "bob": 9}
    key = json.loads(paths.key.read_text())
    explained = sum(r["has_explanation"] for r in key["rows"].values() if r["system"] == MID)
    assert summary["systems"][MID]["explanation_score"]["n"] == explained < 5
    assert list(summary["systems"]) == [GOOD, BAD, MID]  # the caller's order, not alphabetical


def test_ids_retyped_by_a_spreadsheet_are_tolerated_only_when_numeric():
    assert _same_id("123", "000123") and _same_id("1.23E+09", "1230000001")
    assert not _same_id("1.23E+09", "B00X4WHP5E") and not _same_id("q001", "q002")
