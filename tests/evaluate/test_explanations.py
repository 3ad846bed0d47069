import math

import pytest

from eccr.evaluate.explanations import bleu4, explanation_metrics, rouge_l, rouge_n


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
