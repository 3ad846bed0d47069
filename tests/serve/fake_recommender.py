"""A tiny in-test stand-in with exactly the Recommender API the demo uses (eccr.pipeline.Recommender).

Deterministic: 'eccr' returns accessories that fit the query camera, 'co-occurrence' returns popular items in a
fixed order, so a test can tell the two lists apart. Titles include HTML-special characters on purpose.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from eccr.recommendation import Recommendation, RecommendedItem

CATALOG = [  # item_id, title, category, kind
    ("C1", "Canon EOS Rebel T7 DSLR", ["Electronics", "Cameras"], "camera"),
    ("C2", "Nikon D3500 DSLR", ["Electronics", "Cameras"], "camera"),
    ("A1", "LP-E10 Battery for Canon EOS Rebel T7", ["Electronics", "Camera Batteries"], "accessory"),
    ("A2", "SanDisk 64GB SD Card", ["Electronics", "Memory Cards"], "accessory"),
    ("A3", "Camera Bag <Large> & Strap", ["Electronics", "Bags"], "accessory"),
    ("A4", "EN-EL14a Battery for Nikon D3500", ["Electronics", "Camera Batteries"], "accessory"),
    ("A5", "Lens Cleaning Kit \"Pro\"", ["Electronics", "Cleaning"], "accessory"),
    ("P1", "USB-C Cable 2m", ["Electronics", "Cables"], "accessory"),
]
BY_ID = {item_id: (item_id, title, cat, kind) for item_id, title, cat, kind in CATALOG}


class FakeRecommender:
    systems: ClassVar[list[str]] = ["eccr", "text-cosine", "co-occurrence"]

    def __init__(self, fail_with: BaseException | None = None, lm: bool = False):
        self.fail_with = fail_with
        self.calls: list[dict] = []
        self.explains_with_lm = lm  # True: the page shows templates first, then `explain_with_lm`'s sentences

    def explain_with_lm(self, results: list[Recommendation]) -> list[Recommendation]:
        self.calls.append({"explain_with_lm": len(results)})
        for rec in results:
            for item in rec.items:
                item.explanation = f"The LM says {item.title} suits {rec.query['title']}."
                item.explanation_source = "lm"
        return results

    @classmethod
    def from_run(cls, run_dir: str | Path) -> FakeRecommender:
        return cls()

    @property
    def catalog_size(self) -> int:
        return len(CATALOG)

    @property
    def run_info(self) -> dict:
        return {"dataset": "fake <demo>", "ranker": "attention-cf", "metrics": {"hit@10": 0.5}}

    def search_items(self, text: str, limit: int = 20) -> list[tuple[str, str]]:
        words = text.lower().split()
        hits = [(i, t) for i, t, _, _ in CATALOG if all(w in t.lower() for w in words)]
        return hits[:limit]

    def _resolve(self, item: str) -> tuple:
        if item in BY_ID:
            return BY_ID[item]
        for row in CATALOG:
            if row[1].lower() == item.lower():
                return row
        raise ValueError(f"unknown item {item!r}: not an item id or a title in the catalogue")

    def recommend(self, item: str, basket: Sequence[str] = (), k: int = 5, system: str = "eccr",
                  explain: bool = True) -> Recommendation:
        self.calls.append({"item": item, "basket": list(basket), "k": k, "system": system, "explain": explain})
        if self.fail_with is not None:
            raise self.fail_with
        if system not in self.systems:
            raise ValueError(f"unknown system {system!r}; choose one of {self.systems}")
        query = self._resolve(item)
        basket_rows = [self._resolve(b) for b in basket]
        seen = {query[0], *(b[0] for b in basket_rows)}
        if system == "eccr":
            order = ["A1", "A2", "A3", "A5", "P1", "A4", "C2"]
        elif system == "text-cosine":
            order = ["C2", "A1", "A4", "A2", "A3", "A5", "P1"]
        else:
            order = ["P1", "A2", "C2", "A5", "A3", "A1", "A4"]
        history = [query[0], *(b[0] for b in basket_rows)]
        items = []
        for rank, item_id in enumerate([i for i in order if i not in seen][:k]):
            _, title, cat, kind = BY_ID[item_id]
            complementary = kind != query[3]
            fits = "Canon" in title and "Canon" in query[1]
            weights = [1.0 / (j + 1 + rank) for j in range(len(history))]
            total = sum(weights)
            items.append(RecommendedItem(
                item_id=item_id, title=title, category=cat, semantic_id=f"<a_{rank}><b_{len(title) % 7}>",
                score=1.0 - 0.1 * rank, ranker_score=0.9 - 0.1 * rank, lm_score=-1.5 - rank if system == "eccr" else None,
                flags={"complementary": complementary, "relevant": fits, "compatible": fits,
                       "substitute": not complementary, "coherent": complementary and fits,
                       "evidence": ["fits Canon EOS Rebel T7"] if fits else []},
                explanation=(f"{title} goes with {query[1]}." if explain else ""),
                attention={h: w / total for h, w in zip(history, weights)},
                explanation_source="template" if explain else ""))
        return Recommendation(query={"item_id": query[0], "title": query[1], "category": query[2]},
                              basket=[{"item_id": b[0], "title": b[1], "category": b[2]} for b in basket_rows],
                              items=items, system=system, timings={"rank": 0.01, "explain": 0.02})


def serve(port: int) -> None:
    """Run the demo on the fake recommender (used to develop the browser test's selectors)."""
    from eccr.serve.ui import build_demo

    build_demo(FakeRecommender()).launch(server_name="127.0.0.1", server_port=port, quiet=True)


if __name__ == "__main__":
    import sys

    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 7860)
