"""Explanation quality: overlap with references (BLEU-4, ROUGE-1/2/L) and diversity, with the standard libraries
so the figures compare with papers.

- BLEU-4: **sacreBLEU** (Post, "A Call for Clarity in Reporting BLEU Scores", 2018) corpus BLEU with its defaults:
  tokenizer 13a, case-sensitive, up to 4-grams, brevity penalty over the corpus, 'exp' smoothing; signature
  `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.x`. `sentence_bleu4` is sacreBLEU's sentence BLEU
  (same tokenizer, effective order) for a single pair.
- ROUGE-1/2/L: Google's **rouge-score** package (the reference reimplementation of Lin 2004), F1 (`fmeasure`),
  **with Porter stemming** (`use_stemmer=True`, as most papers report it); its tokenizer lower-cases and splits on
  non-alphanumerics. ROUGE-L is the sentence-level LCS variant (`rougeL`, not `rougeLsum`). Per pair, then averaged.
- Scale: every score is on the 0-100 scale that sacreBLEU prints and papers report.

The grounding check (no hallucinated facts) lives in eccr.coherence.grounding: serving uses it too, and serving
never imports evaluation code.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import sacrebleu
from rouge_score import rouge_scorer

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@lru_cache(maxsize=1)
def _rouge() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def corpus_bleu4(hypotheses: Sequence[str], references: Sequence[str | Sequence[str]]) -> float:
    """sacreBLEU corpus BLEU-4 (0-100). `references[i]` is the reference of hypothesis i, or a list of its
    references (every hypothesis then needs the same number)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        return 0.0
    per_hypothesis = [[r] if isinstance(r, str) else list(r) for r in references]
    if len({len(r) for r in per_hypothesis}) != 1:
        raise ValueError("every hypothesis needs the same number of references")
    streams = [list(stream) for stream in zip(*per_hypothesis)]  # sacreBLEU takes one list per reference set
    return float(sacrebleu.corpus_bleu(list(hypotheses), streams).score)


def sentence_bleu4(hypothesis: str, references: Sequence[str]) -> float:
    """sacreBLEU sentence BLEU-4 (0-100) of one hypothesis against its references."""
    return float(sacrebleu.sentence_bleu(hypothesis, list(references)).score)


def rouge(hypothesis: str, reference: str) -> dict[str, float]:
    """rouge-score F1 (0-100, stemmed) as {"ROUGE-1", "ROUGE-2", "ROUGE-L"}."""
    scores = _rouge().score(reference, hypothesis)  # rouge-score takes (target, prediction)
    return {f"ROUGE-{t[5:].upper()}": 100.0 * scores[t].fmeasure for t in ROUGE_TYPES}


def explanation_metrics(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus BLEU-4 and mean ROUGE-1/2/L F1 (0-100) of hypotheses against one reference each (pairs with an
    empty reference are left out), plus the share of distinct sentences among all hypotheses."""
    pairs = [(h, r) for h, r in zip(hypotheses, references) if r]
    if not pairs:
        return {"n": 0}
    n = len(pairs)
    per_pair = [rouge(h, r) for h, r in pairs]
    return {"n": n,
            "BLEU-4": corpus_bleu4([h for h, _ in pairs], [r for _, r in pairs]),
            **{name: sum(p[name] for p in per_pair) / n for name in ("ROUGE-1", "ROUGE-2", "ROUGE-L")},
            "distinct": len(set(hypotheses)) / max(len(hypotheses), 1)}
