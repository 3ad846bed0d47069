import math

import pytest

from eccr.evaluate.explanations import corpus_bleu4, explanation_metrics, rouge, sentence_bleu4


def test_bleu_is_sacrebleu_with_its_published_example():
    # sacreBLEU's README example (two reference sets): "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ...)"
    hypotheses = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    references = [["The dog bit the man.", "The dog had bit the man."],
                  ["It was not unexpected.", "No one was surprised."],
                  ["The man bit him first.", "The man had bitten the dog."]]
    assert corpus_bleu4(hypotheses, references) == pytest.approx(48.53, abs=0.005)
    assert sentence_bleu4("the cat sat on the mat", ["the cat sat on the mat"]) == pytest.approx(100.0)
    # all n-gram precisions 1 (4/4, 3/3, 2/2, 1/1); brevity: 4 tokens against 6 -> 100 * exp(1 - 6/4)
    assert corpus_bleu4(["the cat sat on"], ["the cat sat on the mat"]) == pytest.approx(100 * math.exp(1 - 6 / 4))
    assert sentence_bleu4("the cat sat on", ["the cat sat on the mat"]) == pytest.approx(100 * math.exp(1 - 6 / 4))
    assert corpus_bleu4(["completely different words here"], ["the cat sat on the mat"]) == 0.0
    with pytest.raises(ValueError, match="references"):
        corpus_bleu4(["a", "b"], ["a"])


def test_rouge_is_rouge_score_f1_with_stemming():
    # target "The quick brown fox jumps over the lazy dog" (9 tokens), prediction 8 tokens: 6 shared unigrams
    # (the x2, quick, brown, dog, jumps): P 6/8, R 6/9; shared bigrams 2 (the quick, quick brown): P 2/7, R 2/8;
    # LCS "the quick brown jumps the" = 5: P 5/8, R 5/9.
    scores = rouge("The quick brown dog jumps on the log.", "The quick brown fox jumps over the lazy dog")
    def f1(p, r):
        return 200 * p * r / (p + r)

    assert scores["ROUGE-1"] == pytest.approx(f1(6 / 8, 6 / 9))
    assert scores["ROUGE-2"] == pytest.approx(f1(2 / 7, 2 / 8))
    assert scores["ROUGE-L"] == pytest.approx(f1(5 / 8, 5 / 9))
    # Porter stemming: "fits"/"fit" and "batteries"/"battery" match
    assert rouge("Batteries fit the camera", "battery fits the camera")["ROUGE-1"] == pytest.approx(100.0)


def test_explanation_metrics_skip_empty_references_and_count_distinct():
    m = explanation_metrics(["a b", "a b", "c"], ["a b", "a b", ""])
    assert m["n"] == 2 and m["ROUGE-1"] == pytest.approx(100.0) and m["distinct"] == pytest.approx(2 / 3)
    assert m["BLEU-4"] == pytest.approx(0.0)  # 2-token sentences have no 4-gram: corpus BLEU-4 is 0
    sentence = "the battery fits the Canon EOS camera"
    same = explanation_metrics([sentence] * 2, [sentence] * 2)
    assert same["BLEU-4"] == pytest.approx(100.0) and same["ROUGE-L"] == pytest.approx(100.0)
    assert explanation_metrics(["x"], [""]) == {"n": 0}
