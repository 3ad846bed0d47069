import math

import pandas as pd
import pytest

from eccr.coherence import AttributeExtractor
from eccr.data.schema import Catalog
from eccr.evaluate.explanations import bleu4, explanation_metrics, grounding, rouge_l, rouge_n

CAM = "Canon EOS Rebel T7 DSLR Camera"
BAT = "Wasabi Power LP-E10 Battery for Canon EOS Rebel T7"


def _extractor():
    rows = [("a", CAM), ("b", BAT), ("c", "Nikon D7100 DSLR"), ("d", "Nikon EN-EL15 Battery"), ("e", "Sony A7 IV")]
    return AttributeExtractor(Catalog(pd.DataFrame([{"item_id": i, "title": t, "category": [], "brand": "", "text": ""}
                                                    for i, t in rows])))


def test_bleu_and_rouge_against_hand_computed_values():
    assert bleu4("the cat sat on the mat", ["the cat sat on the mat"]) == pytest.approx(1.0)
    assert bleu4("completely different words here", ["the cat sat on the mat"]) == 0.0
    # unigram precision 4/4, bigrams 3/3 -> smoothed (3+1)/(3+1); trigrams (2+1)/(2+1); 4-grams (1+1)/(1+1);
    # brevity: hyp 4 tokens vs ref 6 -> exp(1 - 6/4)
    assert bleu4("the cat sat on", ["the cat sat on the mat"]) == pytest.approx(math.exp(1 - 6 / 4))
    assert rouge_n("a b c", "a b d", 1) == pytest.approx(2 / 3)
    assert rouge_n("a b c", "a b d", 2) == pytest.approx(1 / 2)
    assert rouge_l("a x b y c", "a b c") == pytest.approx(2 * 0.6 * 1.0 / 1.6)
    m = explanation_metrics(["a b", "a b", "c"], ["a b", "a b", ""])
    assert m["n"] == 2 and m["ROUGE-1"] == pytest.approx(1.0) and m["distinct"] == pytest.approx(2 / 3)


def test_grounding_flags_facts_absent_from_both_titles():
    ex = _extractor()
    good = grounding("The Wasabi LP-E10 battery fits the Canon EOS Rebel T7.", CAM, BAT, ex)
    assert good.grounded
    wrong_model = grounding("The Wasabi battery fits the Canon Rebel T8i and lasts 1200 shots.", CAM, BAT, ex)
    assert not wrong_model.grounded and {"T8I", "1200"} <= set(wrong_model.unsupported)
    wrong_brand = grounding("The Wasabi battery also fits Nikon cameras like the Canon T7.", CAM, BAT, ex)
    assert "nikon" in wrong_brand.unsupported
    one_item = grounding("A great battery pack from Wasabi.", CAM, BAT, ex)
    assert one_item.names_target and not one_item.names_query and not one_item.grounded
    from_category = grounding("The Wasabi battery (usb 3.0 gear) goes with the Canon T7.", CAM, BAT, ex,
                              context="Electronics USB 3.0 gear")
    assert from_category.grounded
