"""Explanation quality: grounding (no hallucinated facts), overlap with references (BLEU-4, ROUGE-1/2/L) and
diversity.

Grounding (our definition, used both to report the hallucination rate and to reject an LM sentence at
inference): an explanation is grounded when it names both items (shares a brand, a model token or a content
word of 4+ letters with each title) and mentions no brand, model name or number that is absent from both
titles, their category paths and the bundle intent (when one is given).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from eccr.coherence import _STOPWORDS, AttributeExtractor, model_tokens, words

_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


@dataclass
class Grounding:
    names_query: bool
    names_target: bool
    unsupported: list[str]

    @property
    def grounded(self) -> bool:
        return self.names_query and self.names_target and not self.unsupported


def _significant(text: str) -> set[str]:
    return {w.lower() for w in words(text) if len(w) >= 4 and w.lower() not in _STOPWORDS}


def grounding(explanation: str, query_title: str, target_title: str, extractor: AttributeExtractor | None = None,
              intent: str = "", context: str = "") -> Grounding:
    """`context`: other facts from the data the sentence may use (e.g. the two category paths)."""
    text_words = {w.lower() for w in words(explanation)}
    known = f"{query_title} {target_title} {intent} {context}"
    allowed = {w.lower() for w in words(known)}
    allowed_models = model_tokens(known)

    def names(title: str) -> bool:
        return bool(_significant(title) & _significant(explanation)) or bool(model_tokens(title) & model_tokens(explanation))

    unsupported = sorted(m for m in model_tokens(explanation) if m not in allowed_models)
    unsupported += sorted(w for w in text_words if _NUMBER.match(w) and w not in allowed)
    if extractor is not None:
        unsupported += sorted(b for b in extractor.brands_in(explanation) if b not in allowed)
    return Grounding(names(query_title), names(target_title), sorted(set(unsupported)))


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
