"""scripts/measure_badges.py: the served badge against the judge's own rule, on lists and on served answers."""
from __future__ import annotations

import json
import sys

from eccr.pipeline import Recommender


def test_served_badges_follow_the_ranking_and_count_partners(load_script, tiny_run, tmp_path, monkeypatch):
    m = load_script("measure_badges")
    rec = Recommender.from_pretrained(tiny_run, use_lm=False)
    query = rec.titled[0]
    top = [i.item_id for i in rec.recommend(query, k=3, explain=False).items]
    served = m.served_lists(rec, {query: {top[1]}}, k=3)
    rules = served["rules"]["score that ranks (served)"]
    assert rules["lists_with_a_rise"] == 0 and rules["coherent"] + rules["unsure"] == 3
    assert rules["coherent_partners"] + rules["unsure_partners"] == 1  # the one partner, wherever it is
    monkeypatch.setattr(sys, "argv", ["measure_badges.py", "--run", str(tiny_run), "--queries", "4",
                                      "--out", str(tmp_path)])
    m.main()
    report = json.loads((tmp_path / "badges.json").read_text())
    assert report["served"]["queries"] <= 4 and set(report["lists"]["rules"]) == set(served["rules"])
