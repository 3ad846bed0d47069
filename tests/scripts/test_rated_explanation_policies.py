"""scripts/rated_explanation_policies.py: a policy is scored by the ratings of the sentences it would show."""
from __future__ import annotations

import csv
import json

from eccr.evaluate.human_eval import export_human_eval


def test_policies_get_the_mean_rating_of_the_sentences_they_show(tmp_path, monkeypatch, capsys, load_script):
    m = load_script("rated_explanation_policies")
    rated = {("pair000", "LM zero"): (2, 2), ("pair000", "T zero"): (4, 4), ("pair001", "LM one"): (3, 5),
             ("pair001", "T one"): (2, 2)}
    answers = {}  # the two rated sources as `eccr explain` answer files, exported blinded as the script expects
    for system, texts in (("lm", ["LM zero", "LM one"]), ("template", ["T zero", "T one"])):
        answers[system] = tmp_path / f"answers_{system}.jsonl"
        answers[system].write_text("".join(json.dumps({"query_id": f"pair00{i}", "query": {"title": f"Camera {i}"},
                                                       "recommendations": [{"item_id": f"b{i}", "title": f"Bag {i}",
                                                                            "explanation": text}]}) + "\n"
                                           for i, text in enumerate(texts)))
    export_human_eval(answers, tmp_path, n_queries=None)
    (tmp_path / "filled").mkdir()
    with (tmp_path / "for_raters" / "ratings_template.csv").open() as f:
        rows = list(csv.DictReader(f))
    for rater in (0, 1):
        with (tmp_path / "filled" / f"ratings_r{rater}.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, list(rows[0]))
            w.writeheader()
            for row in rows:
                w.writerow({**row, "coherent": "yes", "compatible": "yes", "relevant": "yes",
                            "explanation_score": rated[row["query_id"], row["explanation"]][rater]})
    reports = {}
    for name, shown in (("lm_first", ["LM zero", "LM one"]), ("mixed", ["T zero", "LM one"])):
        reports[name] = tmp_path / f"{name}.json"
        reports[name].write_text(json.dumps({"sentences": [{"shown": s, "template": t} for s, t in
                                                           zip(shown, ["T zero", "T one"])]}))
    monkeypatch.setattr("sys.argv", ["x", "--rating", str(tmp_path), "--resamples", "200",
                                     *[a for n, p in reports.items() for a in ("--policy", f"{n}={p}")]])
    assert m.main() == 0
    out = {line.split(":")[0].strip(): line for line in capsys.readouterr().out.splitlines() if ":" in line}
    assert out["lm_first"].split(":")[1].split()[0] == "3.00"   # (2 + 4) / 2 over the two pairs
    assert out["template"].split(":")[1].split()[0] == "3.00"   # (4 + 2) / 2
    assert out["mixed"].split(":")[1].split()[0] == "4.00"      # (4 + 4) / 2
    assert "- template +1.00" in out["mixed"]
