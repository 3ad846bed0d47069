"""Explanation quality: overlap with references (BLEU-4, ROUGE-1/2/L) and diversity.

The grounding check (no hallucinated facts) lives in eccr.coherence.grounding: serving uses it too, and serving
never imports evaluation code.
"""
from __future__ import annotations

import math
from collections import Counter

from eccr.coherence import words


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _tokens(text: str) -> list[str]:
    return [w.lower() for w in words(text)]


def bleu4(hypothesis: str, references: list[str]) -> float:
    """Sentence BLEU-4 with add-one smoothing of the higher n-gram precisions (Lin & Och 2004) and the brevity
    penalty against the closest reference length."""
    hyp = _tokens(hypothesis)
    refs = [_tokens(r) for r in references if r]
    if not hyp or not refs:
        return 0.0
    log_precision = 0.0
    for n in range(1, 5):
        counts = _ngrams(hyp, n)
        max_ref = Counter()
        for r in refs:
            max_ref |= _ngrams(r, n)
        clipped = sum(min(c, max_ref[g]) for g, c in counts.items())
        total = max(sum(counts.values()), 0)
        if n == 1:
            if clipped == 0:
                return 0.0
            precision = clipped / total
        else:
            precision = (clipped + 1) / (total + 1)
        log_precision += math.log(precision) / 4
    closest = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
    brevity = 1.0 if len(hyp) > closest else math.exp(1 - closest / len(hyp))
    return brevity * math.exp(log_precision)


def _f1(overlap: int, hyp_total: int, ref_total: int) -> float:
    if overlap == 0 or hyp_total == 0 or ref_total == 0:
        return 0.0
    p, r = overlap / hyp_total, overlap / ref_total
    return 2 * p * r / (p + r)


def rouge_n(hypothesis: str, reference: str, n: int) -> float:
    h, r = _ngrams(_tokens(hypothesis), n), _ngrams(_tokens(reference), n)
    return _f1(sum((h & r).values()), sum(h.values()), sum(r.values()))


def rouge_l(hypothesis: str, reference: str) -> float:
    h, r = _tokens(hypothesis), _tokens(reference)
    if not h or not r:
        return 0.0
    prev = [0] * (len(r) + 1)
    for a in h:
        cur = [0]
        for j, b in enumerate(r):
            cur.append(prev[j] + 1 if a == b else max(prev[j + 1], cur[j]))
        prev = cur
    return _f1(prev[-1], len(h), len(r))


def explanation_metrics(hypotheses: list[str], references: list[str]) -> dict:
    """Mean BLEU-4 and ROUGE-1/2/L F1 of hypotheses against one reference each, plus distinct-sentence share."""
    pairs = [(h, r) for h, r in zip(hypotheses, references) if r]
    if not pairs:
        return {"n": 0}
    n = len(pairs)
    return {"n": n,
            "BLEU-4": sum(bleu4(h, [r]) for h, r in pairs) / n,
            "ROUGE-1": sum(rouge_n(h, r, 1) for h, r in pairs) / n,
            "ROUGE-2": sum(rouge_n(h, r, 2) for h, r in pairs) / n,
            "ROUGE-L": sum(rouge_l(h, r) for h, r in pairs) / n,
            "distinct": len(set(hypotheses)) / max(len(hypotheses), 1)}
