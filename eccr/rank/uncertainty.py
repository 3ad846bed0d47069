"""Is this a coherent complement? A calibrated probability from the score that ranks, its uncertainty, and one
decision threshold per uncertainty level.

Rastogi's keynote ('Directed graphs, delayed feedback and prediction uncertainty', Amazon Science, part
"Prediction uncertainty"; ../shared/papers/directed-graphs-delayed-feedback-uncertainty.txt) reports that at equal
model score the empirical positive rate falls as the score's uncertainty grows, so one threshold per uncertainty
level gives more recall at a given precision than one global threshold. Here, for the complement scorer
(eccr/rank/complement.py), the score that ranks:

1. **Uncertainty.** `members` scorers, member k trained with seed + k on a bootstrap resample by query item of the
   train part's honest lists (a bootstrap ensemble; cf. Lakshminarayanan et al., 'Simple and scalable predictive
   uncertainty estimation using deep ensembles', NeurIPS 2017).
2. **One scale.** A listwise softmax fixes score differences within a list, not a scale shared by members, so each
   member's score s_k goes to a logit z_k = a_k s_k + b_k by its own Platt fit on the valid part's pairs (every
   positive against its 20 negatives: base rate 1/21). A pair's score is z = mean_k z_k, its uncertainty
   u = std_k z_k.
3. **Probability.** P(coherent | z) by a Platt fit of z on the same pairs. The uncertainty-aware one fits one Platt
   per level, P(coherent | z, level); levels are equal-count bins of u on the valid pairs.
4. **Decisions** for a target precision, both chosen on the valid pairs: *global* = one cut on P(coherent | z);
   *per level* = one cut on P(coherent | z, level), which is one threshold on z per level (ranking by the
   per-level probability is the Neyman-Pearson rule if the level curves are right, so a single cut on it is the
   most recall at that pooled precision).

The valid part also early-stops each member, so valid scores are a little optimistic; the test part is only
reported on (eccr/evaluate/uncertainty.py, scripts/measure_uncertainty.py).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from scipy.special import expit, logit

from eccr.data.candidate_lists import CandidateListConfig, CandidateLists, build_candidate_lists
from eccr.data.schema import Catalog
from eccr.data.splits import TemporalSplit
from eccr.rank.complement import ComplementScorer, _list_tensors, fit_complement_scorer
from eccr.rank.config import ComplementConfig, UncertaintyConfig
from eccr.represent.vectors import ItemVectors

RANKING_RULE_FILE = "ranking_rule.json"


# ---------------------------------------------------------------------------------------------------- ensemble
@dataclass
class ScorerEnsemble:
    """Complement scorers trained on bootstrap resamples; every method returns one row per member."""

    members: list[ComplementScorer]

    def with_items(self, vectors: ItemVectors, catalog: Catalog) -> ScorerEnsemble:
        """The same members reading `vectors`, which extend theirs with items added at run time."""
        return ScorerEnsemble([m.with_items(vectors, catalog) for m in self.members])

    def score_candidates(self, query, candidates, history=()) -> np.ndarray:
        """(members, candidates) raw scores of q -> each candidate."""
        return np.stack([m.score_candidates(query, candidates, history).scores for m in self.members])

    def list_scores(self, lists: CandidateLists, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """(raw scores (members, pairs), labels (pairs,)) over every candidate of every complete list, list by
        list: the positive first, then its negatives."""
        rows = []
        for member in self.members:
            queries, candidates = _list_tensors(lists, member.vectors)
            table, words = torch.from_numpy(member.vectors.vectors), torch.from_numpy(member.word_rows)
            member.net.eval()
            with torch.no_grad():
                rows.append(torch.cat([member.net(table[q], table[c], words[q], words[c])
                                       for q, c in zip(queries.split(batch), candidates.split(batch))]).numpy())
        width = rows[0].shape[1] if len(rows[0]) else 0
        labels = np.zeros((len(rows[0]), width), dtype=np.int8)
        labels[:, 0] = 1
        return np.stack([r.reshape(-1) for r in rows]), labels.reshape(-1)

    def list_queries(self, lists: CandidateLists) -> np.ndarray:
        """The query item of each complete list, in the order of `list_scores`."""
        queries, _ = _list_tensors(lists, self.members[0].vectors)
        return np.asarray(self.members[0].vectors.ids, dtype=object)[queries.numpy()]

    def save_pretrained(self, folder: str | Path) -> None:
        for k, member in enumerate(self.members):
            member.save_pretrained(Path(folder) / f"member_{k}")

    @classmethod
    def from_pretrained(cls, folder: str | Path, vectors: ItemVectors, catalog) -> ScorerEnsemble:
        folders = sorted(Path(folder).glob("member_*"), key=lambda p: int(p.name.split("_")[1]))
        if not folders:
            raise FileNotFoundError(f"{folder}: no member_* folders of a scorer ensemble")
        return cls([ComplementScorer.from_pretrained(f, vectors, catalog) for f in folders])


def fit_scorer_ensemble(text: ItemVectors, split: TemporalSplit, config: UncertaintyConfig | None = None,
                        complement: ComplementConfig | None = None, lists: CandidateListConfig | None = None,
                        log=None) -> ScorerEnsemble:
    """`config.members` complement scorers, member k with seed + k on bootstrap resample seed + k."""
    config = config or UncertaintyConfig()
    complement = complement or ComplementConfig()
    members = []
    for k in range(config.members):
        member_config = replace(complement, seed=config.seed + k, max_epochs=config.max_epochs)
        members.append(fit_complement_scorer(text, split, member_config, lists, bootstrap_seed=config.seed + k))
        if log:
            log(f"member {k + 1}/{config.members}: {members[-1].history[-1] if members[-1].history else {}}")
    return ScorerEnsemble(members)


# ------------------------------------------------------------------------------------------------- calibration
def uncertainty_levels(edges: Sequence[float], spread: np.ndarray) -> np.ndarray:
    """The level of each spread between the cut points `edges` (0 = least uncertain)."""
    return np.searchsorted(np.asarray(edges), spread, side="right")


def per_level_probability(platts: Sequence[Platt], score: np.ndarray, level: np.ndarray) -> np.ndarray:
    """P(coherent | score, level): each pair's score through its level's Platt map."""
    out = np.empty(len(score))
    for k, platt in enumerate(platts):
        out[level == k] = platt(score[level == k])
    return out


def fit_level_probability(score: np.ndarray, labels: np.ndarray, edges: Sequence[float],
                          spread: np.ndarray) -> list[Platt]:
    """One Platt map of the label on the score per uncertainty level (levels cut from `spread` at `edges`)."""
    level = uncertainty_levels(edges, spread)
    return [Platt.fit(score[level == k], labels[level == k]) for k in range(len(edges) + 1)]


def _save_json(rule, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(rule), indent=1))
    return path


@dataclass
class Platt:
    """P(y = 1 | x) = sigmoid(a x + b) by logistic regression (Platt, 'Probabilistic outputs for support vector
    machines', 1999)."""

    a: float = 1.0
    b: float = 0.0

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> Platt:
        from sklearn.linear_model import LogisticRegression

        if len(set(np.asarray(y).tolist())) < 2:  # nothing to separate: the base rate, whatever the score
            rate = float(np.clip(np.mean(y), 1e-4, 1 - 1e-4)) if len(y) else 0.5
            return cls(0.0, float(logit(rate)))
        model = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(x, dtype=np.float64).reshape(-1, 1), y)
        return cls(float(model.coef_[0, 0]), float(model.intercept_[0]))

    def logit(self, x) -> np.ndarray:
        return self.a * np.asarray(x, dtype=np.float64) + self.b

    def __call__(self, x) -> np.ndarray:
        return expit(self.logit(x))

    def inverse(self, p: float) -> float:
        """The x where the probability reaches p (inf when it never does: a flat or falling curve)."""
        if not np.isfinite(p) or p >= 1:
            return float("inf")
        if self.a <= 0:
            return float("-inf") if self(0.0) >= p else float("inf")
        return float((logit(p) - self.b) / self.a)


def cut_for_precision(score: np.ndarray, labels: np.ndarray, precision: float) -> float:
    """The lowest cut c with precision(score >= c) >= `precision` (the most recall at that precision);
    inf when no cut reaches it."""
    order = np.argsort(-score, kind="stable")
    s, y = score[order], labels[order]
    if not len(s):
        return float("inf")
    tp = np.cumsum(y)
    distinct = np.r_[s[1:] != s[:-1], True]  # cut only between distinct values: ties are flagged together
    ok = distinct & (tp / np.arange(1, len(s) + 1) >= precision) & (tp > 0)
    return float(s[np.flatnonzero(ok)[-1]]) if ok.any() else float("inf")


@dataclass
class CoherenceCalibration:
    """Member scales, the probability of the mean logit, the uncertainty levels and the per-level probability."""

    members: list[Platt]
    probability: Platt
    level_edges: list[float]     # spread cut points between levels (levels - 1 of them)
    level_probability: list[Platt]

    def combine(self, member_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(members, n) raw scores -> (mean logit z, spread u)."""
        z = np.stack([m.logit(s) for m, s in zip(self.members, member_scores)])
        return z.mean(0), z.std(0, ddof=1) if len(z) > 1 else np.zeros(z.shape[1])

    def level(self, spread: np.ndarray) -> np.ndarray:
        return uncertainty_levels(self.level_edges, spread)

    def level_prob(self, z: np.ndarray, level: np.ndarray) -> np.ndarray:
        return per_level_probability(self.level_probability, z, level)

    def assess(self, member_scores: np.ndarray) -> dict[str, np.ndarray]:
        """Per pair: score z, uncertainty u, level, probability (from z), level_probability (from z and level)."""
        z, u = self.combine(member_scores)
        level = self.level(u)
        return {"score": z, "uncertainty": u, "level": level, "probability": self.probability(z),
                "level_probability": self.level_prob(z, level)}


def fit_calibration(member_scores: np.ndarray, labels: np.ndarray, levels: int = 3) -> CoherenceCalibration:
    """Fit every piece of CoherenceCalibration on (valid) pairs: (members, n) raw scores and 0/1 labels."""
    members = [Platt.fit(s, labels) for s in member_scores]
    partial = CoherenceCalibration(members, Platt(), [], [])
    z, u = partial.combine(member_scores)
    edges = np.unique(np.quantile(u, np.arange(1, levels) / levels)).tolist() if levels > 1 else []
    return CoherenceCalibration(members, Platt.fit(z, labels), edges, fit_level_probability(z, labels, edges, u))


# --------------------------------------------------------------------------------------------------- decisions
@dataclass
class CoherenceRule:
    """The fitted decision: a calibration and, for one target precision, the cuts chosen on valid pairs."""

    calibration: CoherenceCalibration
    target_precision: float
    global_cut: float          # on `probability`
    level_cut: float           # on `level_probability`

    def level_thresholds(self) -> list[float]:
        """The per-level rule as thresholds on the mean logit z, one per uncertainty level (lowest level first)."""
        return [p.inverse(self.level_cut) for p in self.calibration.level_probability]

    def global_threshold(self) -> float:
        return self.calibration.probability.inverse(self.global_cut)

    def decide(self, member_scores: np.ndarray) -> dict[str, np.ndarray]:
        """`assess` plus `coherent` (the per-level rule) and `coherent_global` (one threshold)."""
        out = self.calibration.assess(member_scores)
        out["coherent"] = out["level_probability"] >= self.level_cut
        out["coherent_global"] = out["probability"] >= self.global_cut
        return out

    def save(self, path: str | Path) -> Path:
        return _save_json(self, path)

    @classmethod
    def load(cls, path: str | Path) -> CoherenceRule:
        raw = json.loads(Path(path).read_text())
        c = raw["calibration"]
        calibration = CoherenceCalibration([Platt(**p) for p in c["members"]], Platt(**c["probability"]),
                                           [float(e) for e in c["level_edges"]],
                                           [Platt(**p) for p in c["level_probability"]])
        return cls(calibration, float(raw["target_precision"]), float(raw["global_cut"]), float(raw["level_cut"]))


def fit_rule(calibration: CoherenceCalibration, member_scores: np.ndarray, labels: np.ndarray,
             target_precision: float) -> CoherenceRule:
    """Both cuts for `target_precision`, chosen on the given (valid) pairs."""
    a = calibration.assess(member_scores)
    return CoherenceRule(calibration, target_precision, cut_for_precision(a["probability"], labels, target_precision),
                         cut_for_precision(a["level_probability"], labels, target_precision))


# ------------------------------------------------------------------------------------ from the score that ranks
@dataclass
class RankingRule:
    """The verdict from the score that ranks (the coherent blend, eccr/rank/blend.py) rather than the ensemble's
    mean: P(coherent | blend score, uncertainty level) by one Platt map per level of the ensemble's spread (the
    judge's level edges), fitted on the blend's honest valid lists, and the cut for the judge's target precision
    chosen on the same pairs. A blend's listwise fit only fixes score differences within a list, so the Platt maps
    give it a scale; within a level the probability follows the ranking."""

    probability: Platt
    level_edges: list[float]
    level_probability: list[Platt]
    target_precision: float
    global_cut: float          # on `probability`
    level_cut: float           # on `level_probability`
    score_range: tuple[float, float] = (-np.inf, np.inf)  # of the pairs it was fitted on: scores are clipped to it

    def decide(self, score: np.ndarray, spread: np.ndarray) -> dict[str, np.ndarray]:
        """Per pair: score (clipped), uncertainty, level, probability, level_probability, coherent (the per-level
        rule), coherent_global. A served pool holds candidates scored beyond anything in the lists (a brand-mate
        co-bought with the query in hundreds of sessions): the Platt maps are not extrapolated past the scores they
        were fitted on, and such a pair is not called coherent, as nothing the cut was chosen on looked like it."""
        raw = np.asarray(score, dtype=np.float64)
        score = np.clip(raw, *self.score_range)
        within = (raw >= self.score_range[0]) & (raw <= self.score_range[1])
        level = uncertainty_levels(self.level_edges, spread)
        per_level = per_level_probability(self.level_probability, score, level)
        probability = self.probability(score)
        return {"score": score, "uncertainty": np.asarray(spread), "level": level, "probability": probability,
                "level_probability": per_level, "coherent": (per_level >= self.level_cut) & within,
                "coherent_global": (probability >= self.global_cut) & within}

    def save(self, path: str | Path) -> Path:
        return _save_json(self, path)

    @classmethod
    def load(cls, path: str | Path) -> RankingRule:
        raw = json.loads(Path(path).read_text())
        return cls(Platt(**raw["probability"]), [float(e) for e in raw["level_edges"]],
                   [Platt(**p) for p in raw["level_probability"]], float(raw["target_precision"]),
                   float(raw["global_cut"]), float(raw["level_cut"]),
                   tuple(map(float, raw.get("score_range", (-np.inf, np.inf)))))


def fit_ranking_rule(score: np.ndarray, spread: np.ndarray, labels: np.ndarray, level_edges: Sequence[float],
                     target_precision: float) -> RankingRule:
    """Fit a RankingRule on (valid) pairs: the blend's scores, the ensemble's spreads and 0/1 labels."""
    score, labels = np.asarray(score, dtype=np.float64), np.asarray(labels)
    per_level = fit_level_probability(score, labels, level_edges, spread)
    partial = RankingRule(Platt.fit(score, labels), list(map(float, level_edges)), per_level, target_precision,
                          0.0, 0.0, (float(score.min()), float(score.max())) if len(score) else (-np.inf, np.inf))
    decided = partial.decide(score, spread)
    return replace(partial, global_cut=cut_for_precision(decided["probability"], labels, target_precision),
                   level_cut=cut_for_precision(decided["level_probability"], labels, target_precision))


# ------------------------------------------------------------------------------------------- what a user sees
@dataclass
class CoherenceJudge:
    """The ensemble and its fitted rule: for q and its recommendations, P(coherent complement), the uncertainty
    and the verdict. What the demo's badge, `eccr recommend` and batch output (a `coherent` field,
    `--min-confidence P`) read; saved as ensemble/member_k/ + coherence_rule.json in one folder."""

    ensemble: ScorerEnsemble
    rule: CoherenceRule
    ranking_rule: RankingRule | None = None  # fitted by `eccr train`'s blend stage; None in runs trained before it

    def with_items(self, vectors: ItemVectors, catalog: Catalog) -> CoherenceJudge:
        """The same judge for a catalogue extended with items added at run time (see ComplementScorer.with_items)."""
        return CoherenceJudge(self.ensemble.with_items(vectors, catalog), self.rule, self.ranking_rule)

    def judge(self, query, candidates, scores: Sequence[float] | None = None,
              incompatible: Sequence[bool] | None = None) -> list[dict]:
        """One dict per candidate: probability (score and uncertainty level taken into account), uncertainty
        (spread of the members' logits), level (0 = least uncertain), coherent (the per-level rule at the target
        precision). With `scores` (the coherent blend's, in candidate order) and a ranking rule, they come from
        the score that ranks: the probability is P(coherent | score), so it falls down the ranking, and the verdict
        is the per-level rule (an uncertain pair needs a higher score); otherwise both come from the ensemble's
        mean (probability P(coherent | mean, level)). `incompatible` (per candidate, eccr.coherence.PairFlags):
        a pair the compatibility evidence contradicts is never called coherent, whatever its probability."""
        member_scores = self.ensemble.score_candidates(query, list(candidates))
        if scores is not None and self.ranking_rule is not None:
            decided = self.ranking_rule.decide(np.asarray(scores, dtype=np.float64),
                                               self.rule.calibration.combine(member_scores)[1])
            shown = decided["probability"]
        else:
            decided = self.rule.decide(member_scores)
            shown = decided["level_probability"]
        coherent = decided["coherent"] & ~np.asarray(incompatible if incompatible is not None
                                                     else np.zeros(len(shown)), dtype=bool)
        return [{"probability": round(float(p), 4), "uncertainty": round(float(u), 4), "level": int(lv),
                 "coherent": bool(c)}
                for p, u, lv, c in zip(shown, decided["uncertainty"], decided["level"], coherent)]

    def save_pretrained(self, folder: str | Path) -> None:
        self.ensemble.save_pretrained(Path(folder) / "ensemble")
        self.rule.save(Path(folder) / "coherence_rule.json")
        if self.ranking_rule is not None:
            self.ranking_rule.save(Path(folder) / RANKING_RULE_FILE)

    @classmethod
    def from_pretrained(cls, folder: str | Path, vectors: ItemVectors, catalog) -> CoherenceJudge:
        ranking = Path(folder) / RANKING_RULE_FILE
        return cls(ScorerEnsemble.from_pretrained(Path(folder) / "ensemble", vectors, catalog),
                   CoherenceRule.load(Path(folder) / "coherence_rule.json"),
                   RankingRule.load(ranking) if ranking.exists() else None)


def fit_coherence_judge(text: ItemVectors, split: TemporalSplit, config: UncertaintyConfig | None = None,
                        complement: ComplementConfig | None = None, lists: CandidateListConfig | None = None,
                        log=None) -> CoherenceJudge:
    """Train the ensemble on the train part, calibrate it and choose the cuts on the valid part's lists."""
    config = config or UncertaintyConfig()
    ensemble = fit_scorer_ensemble(text, split, config, complement, lists, log)
    scores, labels = ensemble.list_scores(build_candidate_lists(split, "valid", lists))
    calibration = fit_calibration(scores, labels, config.levels)
    return CoherenceJudge(ensemble, fit_rule(calibration, scores, labels, config.target_precision))
