"""What a recommendation looks like to every surface (CLI, batch job, Gradio demo, human-eval export)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class RecommendedItem:
    item_id: str
    title: str
    category: list[str]
    semantic_id: str                 # e.g. "<a_12><b_7><c_201>"; "" when the run has no semantic IDs
    score: float                     # the final score the list is sorted by (see Recommender docs for the mix)
    ranker_score: float              # attention-CF (or baseline) score
    lm_score: float | None           # LM log-probability of the item's ID given the prompt; None without an LM
    flags: dict                      # complementary / relevant / compatible / substitute / coherent / evidence
    explanation: str                 # one or two grounded sentences ("" when explanations are off)
    attention: dict[str, float] = field(default_factory=dict)  # basket/history item id -> weight that drove it
    explanation_source: str = ""     # "lm" (the LM's sentence passed the grounding check) or "template" (composed
    #                                  from titles, categories and flags); "" without an explanation
    # "is it a coherent complement?" from the run's coherence judge (eccr/rank/uncertainty.py); all None when the run
    # has none (runs trained before the `coherence` stage): flags["complementary"] is then the ranker's sigmoid >= 0.5
    coherent_probability: float | None = None  # calibrated P(coherent complement | score, uncertainty level)
    uncertainty: float | None = None  # spread (std) of the ensemble members' logits; higher = less sure
    uncertainty_level: int | None = None  # 0 = least uncertain; equal-count bins of the spread on the valid pairs
    coherent: bool | None = None      # the verdict: probability >= the cut for the run's target precision (chosen
    #                                  on valid pairs); flags["complementary"] is this verdict when it is not None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Recommendation:
    query: dict                      # the catalogue row of the query item (item_id, title, category, brand)
    basket: list[dict]               # catalogue rows of the basket / history items
    items: list[RecommendedItem]
    system: str = "eccr"             # which system produced it ("eccr", "text-cosine", "co-occurrence", ...)
    timings: dict = field(default_factory=dict)  # seconds per stage: retrieve, rank, lm, explain

    def as_answer(self, query_id: str) -> dict:
        """The JSON-lines answer format of `eccr explain`."""
        return {"query_id": query_id, "query": {"item_id": self.query.get("item_id"), "title": self.query.get("title")},
                "system": self.system, "ranked": [i.item_id for i in self.items],
                "recommendations": [{"item_id": i.item_id, "title": i.title, "score": round(float(i.score), 6),
                                     "flags": i.flags, "explanation": i.explanation,
                                     "explanation_source": i.explanation_source,
                                     "coherent_probability": i.coherent_probability,
                                     "uncertainty": i.uncertainty, "coherent": i.coherent,
                                     "semantic_id": i.semantic_id} for i in self.items]}
