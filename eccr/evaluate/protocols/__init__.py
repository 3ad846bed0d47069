"""The three evaluation protocols, one file each. Each ranks held-out complements of the TEST part (or the VALID
part, for tuning) of a temporal split; anything learned (popularity, seen status) comes from the TRAIN part only.

  lists.py      a. the ECCR protocol: each held-out pair among 20 fixed, status-matched negatives (HR@5, NDCG@5, MRR)
  retrieval.py  b. full catalogue: every titled item is a candidate (Recall@10/50, NDCG@10, top-10 shares)
  sampled.py    c. Lake et al. §5.3: the positives among N sampled negatives per gamma, and the depth ablation
  base.py       what they share: ProtocolResult, bootstrap summaries, checked scoring, the held-out query pool

Every protocol is built so that a system cannot score by a construction artefact (eccr.data.candidate_lists says
why each rule is there): negatives have the positive's seen/unseen status, substitutes are drawn from the
positive's leaf at random, never by a system's vectors, candidates are shuffled and ties count against the system.
tests/evaluate/test_real_data.py plants the artefacts (a scorer that only prefers unseen items, one that inverts
text cosine) and checks they get no credit on any protocol. Scorers implement eccr.rank.base.Scorer.
"""
from eccr.evaluate.protocols.base import ProtocolResult, query_pool, score_with, summarize
from eccr.evaluate.protocols.lists import run_eccr_protocol
from eccr.evaluate.protocols.retrieval import run_retrieval_protocol
from eccr.evaluate.protocols.sampled import depth_ablation, popularity_counts, run_sampled_protocol

__all__ = [
    "ProtocolResult",
    "depth_ablation",
    "popularity_counts",
    "query_pool",
    "run_eccr_protocol",
    "run_retrieval_protocol",
    "run_sampled_protocol",
    "score_with",
    "summarize",
]
