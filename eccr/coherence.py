"""Coherent-complement labels (ECCR, Li et al. 2024): complementary AND (relevant OR compatible).

- complementary: the data says the two items serve one need (same bundle; or a model's complement score).
- relevant: the items share a key attribute: the same brand, or a brand/model one title names and the other
  is made by or "for" (a "Canon" lens hood and a Canon camera).
- compatible: one title's compatibility phrase ("for Canon LP-E6 and EOS 60D", "fits iPhone 5",
  "compatible with …") names a model of the other item ("Canon EOS 60D Body").
- substitute: same leaf category and near-duplicate title text (a camera and another camera).
- co-bought but incoherent: same session, not in the same bundle — the hard negatives of the ECCR protocol.

Everything here reads titles, categories and brands only, and every flag carries the evidence that set it
(e.g. "fits 60D"), so a recommendation can say why it is called coherent and explanations stay grounded.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from dataclasses import dataclass, field

import pandas as pd

from eccr.data.schema import Catalog, Dataset

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-\+/\.]*[A-Za-z0-9]|[A-Za-z0-9]")
_COMPAT_PHRASE = re.compile(
    r"\b(?:for|fits|fit|compatible with|works with|designed for|replacement for|replaces)\b\s+(.+)", re.I)
_PHRASE_END = re.compile(r"\s(?:-|–|\||with)\s|\(|\[")
# spec tokens that contain digits but are not model names: 64GB, 400W, 1600mah, 25FT, 3.0, 2-Pack, 30x …
_UNIT = re.compile(
    r"^\d+(?:\.\d+)?(?:-?(?:gb|mb|tb|kb|mm|cm|m|w|mah|ah|ft|mp|x|hz|mhz|ghz|in|inch|v|k|p|pack|pk|bit|bits|"
    r"mbps|gbps|oz|lb|lbs|g|kg|ml|l|pcs|pc|piece|port|ports|rpm|db|ohm|th|nd|rd|st|ch|way|ms))?$", re.I)
_STOPWORDS = frozenset("""a an and or the of for with to in on by from at as is are new black white blue red
gray grey silver pink green orange purple yellow brown gold case cover pack set kit size small large medium
us retail package packaging edition version model series""".split())


def words(text: str) -> list[str]:
    return _WORD.findall(text or "")


@lru_cache(maxsize=200_000)
def _model_tokens(text: str) -> frozenset[str]:
    """Tokens that look like model names: letters and digits mixed (LP-E6, T7, D7100, GTX760, iPhone5s)."""
    out = set()
    for w in words(text):
        w = w.strip(".-/+")
        if len(w) < 2 or _UNIT.match(w):
            continue
        if any(c.isdigit() for c in w) and any(c.isalpha() for c in w):
            out.add(w.upper())
    return frozenset(out)


def model_tokens(text: str) -> set[str]:
    """Tokens that look like model names: letters and digits mixed (LP-E6, T7, D7100, GTX760, iPhone5s)."""
    return set(_model_tokens(text or ""))


@lru_cache(maxsize=200_000)
def compatibility_phrase(title: str) -> str:
    """The text after "for"/"fits"/"compatible with" up to the next " - ", "(" or " with " ("" if none)."""
    match = _COMPAT_PHRASE.search(title or "")
    if not match:
        return ""
    rest = match.group(1)
    end = _PHRASE_END.search(rest)
    return rest[: end.start()] if end else rest


class AttributeExtractor:
    """Brands and models from a catalogue's titles.

    The brand vocabulary is the catalogue's brand column where known, plus title-initial words that start at
    least `min_brand_count` titles (sellers put the brand first) and are not common words.
    """

    def __init__(self, catalog: Catalog, min_brand_count: int = 2):
        items = catalog.items
        given = {b.strip().lower() for b in items["brand"] if b and b.strip()}
        first = Counter(ws[0].lower() for ws in (words(t) for t in items["title"]) if ws)
        inferred = {w for w, n in first.items() if n >= min_brand_count and w not in _STOPWORDS
                    and not any(c.isdigit() for c in w) and len(w) > 1}
        self.brands = given | inferred
        self._brand_of = {row.item_id: (row.brand.strip().lower() if row.brand.strip() else self._first_brand(row.title))
                          for row in items.itertuples(index=False)}
        self._brands_in: dict[str, frozenset[str]] = {}  # phrase -> brands it names (pair flags ask often)

    def _first_brand(self, title: str) -> str:
        ws = words(title)
        return ws[0].lower() if ws and ws[0].lower() in self.brands else ""

    def brand(self, item_id: str, title: str = "") -> str:
        if item_id in self._brand_of:
            return self._brand_of[item_id]
        return self._first_brand(title)

    def brands_in(self, text: str) -> set[str]:
        if text not in self._brands_in:
            self._brands_in[text] = frozenset(w.lower() for w in words(text) if w.lower() in self.brands)
        return set(self._brands_in[text])


@dataclass
class PairFlags:
    complementary: bool = False
    relevant: bool = False
    compatible: bool = False
    substitute: bool = False
    # one title says what it is for ("for Canon EOS Rebel T8i, SL3"), the other is a model or brand it does not
    # name (a Rebel T7): evidence that it does NOT fit. Titles list models incompletely, so this is a ranking
    # feature whose weight the blend learns from data, not a hard filter.
    incompatible: bool = False
    evidence: list[str] = field(default_factory=list)

    @property
    def coherent(self) -> bool:
        return self.complementary and (self.relevant or self.compatible) and not self.incompatible

    @classmethod
    def from_dict(cls, flags: dict) -> PairFlags:
        """The inverse of `as_dict` ("coherent" is derived, so it is not read back)."""
        return cls(**{f: bool(flags.get(f, False)) for f in ("complementary", "relevant", "compatible", "substitute",
                                                             "incompatible")},
                   evidence=list(flags.get("evidence", [])))

    def as_dict(self) -> dict:
        return {"complementary": self.complementary, "relevant": self.relevant, "compatible": self.compatible,
                "substitute": self.substitute, "incompatible": self.incompatible, "coherent": self.coherent,
                "evidence": list(self.evidence)}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


@lru_cache(maxsize=200_000)
def content_words(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in words(text) if w.lower() not in _STOPWORDS and not _UNIT.match(w))


def pair_flags(a: dict, b: dict, extractor: AttributeExtractor, complementary: bool = False,
               substitute_jaccard: float = 0.4) -> PairFlags:
    """Flags for the pair (a → b); a and b are catalogue rows (dicts with item_id, title, category, brand)."""
    flags = PairFlags(complementary=complementary)
    ta, tb = a.get("title", ""), b.get("title", "")
    brand_a, brand_b = extractor.brand(a["item_id"], ta), extractor.brand(b["item_id"], tb)
    if brand_a and brand_a == brand_b:
        flags.relevant = True
        flags.evidence.append(f"both are {brand_a.title()} products")
    models_a, models_b = model_tokens(ta), model_tokens(tb)
    for src_title, src_models, dst_title, dst_models, dst_brand in (
            (ta, models_a, tb, models_b, brand_b), (tb, models_b, ta, models_a, brand_a)):
        phrase = compatibility_phrase(src_title)
        if not phrase:
            continue
        fits = sorted(model_tokens(phrase) & dst_models)
        if fits and f"fits {', '.join(fits[:3])}" not in flags.evidence:
            flags.compatible = True
            flags.evidence.append(f"fits {', '.join(fits[:3])}")
        named = extractor.brands_in(phrase)
        if dst_brand and dst_brand in named and f"made for {dst_brand.title()}" not in flags.evidence:
            flags.relevant = True
            flags.evidence.append(f"made for {dst_brand.title()}")
    if not flags.compatible:
        _mark_incompatible(flags, ta, tb, models_b, brand_b, extractor)
        _mark_incompatible(flags, tb, ta, models_a, brand_a, extractor)
    shared_models = sorted((models_a & models_b) - set(" ".join(flags.evidence).upper().split()))
    if shared_models and not flags.compatible:
        flags.relevant = True
        flags.evidence.append(f"both name {', '.join(shared_models[:2])}")
    leaf_a = a.get("category", [])[-1:] if len(a.get("category", [])) else []
    leaf_b = b.get("category", [])[-1:] if len(b.get("category", [])) else []
    if leaf_a and leaf_a == leaf_b and _jaccard(content_words(ta), content_words(tb)) >= substitute_jaccard:
        flags.substitute = True
    return flags


def _model_parts(models: set[str]) -> set[str]:
    """Model tokens plus their model-like parts: DMC-GF1 -> {DMC-GF1, GF1}; D40/D40X -> {D40/D40X, D40, D40X}."""
    out = set(models)
    for m in models:
        out.update(p for p in re.split(r"[-/]", m) if len(p) >= 2 and any(c.isdigit() for c in p)
                   and any(c.isalpha() for c in p))
    return out


def _mark_incompatible(flags: PairFlags, src_title: str, dst_title: str, dst_models: set[str], dst_brand: str,
                       extractor: AttributeExtractor) -> None:
    """`src_title` is "for" specific models of a brand and the other item is a device of that brand (no "for"
    phrase of its own) whose model it does not name ("for Canon EOS Rebel T8i, SL3" vs a Canon Rebel T7).
    High precision on purpose: a rule that also flagged other brands ("for Fujifilm X-T30" vs a Canon) fired
    mostly on unrelated product types. `python scripts/measure_coherence.py --data ...` shows how often it fires
    on bundle pairs vs co-bought pairs."""
    phrase = compatibility_phrase(src_title)
    if not phrase or flags.incompatible or compatibility_phrase(dst_title) or not dst_models or not dst_brand:
        return
    named_models = model_tokens(phrase)
    if not named_models or _model_parts(named_models | model_tokens(src_title)) & _model_parts(dst_models):
        return  # any shared model name (also "GF1" inside "DMC-GF1") means they may well fit
    if dst_brand in extractor.brands_in(phrase):
        flags.incompatible = True
        flags.evidence.append(f"made for {', '.join(sorted(named_models)[:3])}, not this model")


def short_name(title: str, max_words: int = 6) -> str:
    """A readable short name: the title up to its first " - ", "(" or "," and at most `max_words` words."""
    head = re.split(r"\s[-–|]\s|\(|\[|,", title or "", maxsplit=1)[0].strip()
    ws = head.split()
    return " ".join(ws[:max_words]) if ws else (title or "")[:40]


def grounded_explanation(a: dict, b: dict, flags: PairFlags, intent: str = "") -> str:
    """One or two sentences built only from the two titles, their categories, the matched evidence and the
    bundle intent: nothing that is not in the data."""
    name_a, name_b = short_name(a.get("title", "")), short_name(b.get("title", ""))
    leaf_b = (b.get("category") or [""])[-1]
    first = f"The {name_b}" + (f" ({leaf_b.lower()})" if leaf_b else "") + f" goes with the {name_a}"
    reasons = [e for e in flags.evidence if e.startswith(("fits", "made for"))]
    shared = [e for e in flags.evidence if e.startswith("both")]
    if reasons:
        first += f": it {reasons[0].replace('fits', 'fits the').replace('made for', 'is made for')}"
    elif shared:
        first += f"; {shared[0]}"
    sentence = first + "."
    if intent and intent.strip():
        sentence += f" Shoppers bought them together for \"{intent.strip()}\"."
    return sentence


def labelled_pairs(ds: Dataset, extractor: AttributeExtractor | None = None) -> pd.DataFrame:
    """Every ordered pair of titled items that share a session, labelled.

    Columns: source, target, session_id, bundle_id ("" if not in one bundle), intent, complementary (same
    bundle), co_bought_incoherent (same session, no shared bundle), relevant, compatible, substitute, coherent,
    evidence (list).
    """
    extractor = extractor or AttributeExtractor(ds.catalog)
    titled = ds.catalog.items[ds.catalog.items["title"].str.len() > 0].set_index("item_id")
    ev = ds.behaviour.events[["session_id", "item_id"]].drop_duplicates()
    ev = ev[ev["item_id"].isin(titled.index)]
    pairs = ev.merge(ev, on="session_id", suffixes=("_s", "_t"))
    pairs = pairs[pairs["item_id_s"] != pairs["item_id_t"]]
    bundle_of = ds.bundles.rows[["bundle_id", "item_id", "intent"]]
    together = (bundle_of.merge(bundle_of[["bundle_id", "item_id"]], on="bundle_id", suffixes=("_s", "_t"))
                .drop_duplicates(["item_id_s", "item_id_t"]))
    pairs = pairs.merge(together, on=["item_id_s", "item_id_t"], how="left")
    records = []
    for row in pairs.itertuples(index=False):
        a, b = titled.loc[row.item_id_s], titled.loc[row.item_id_t]
        in_bundle = isinstance(row.bundle_id, str) and row.bundle_id != ""
        flags = pair_flags({"item_id": row.item_id_s, **a.to_dict()}, {"item_id": row.item_id_t, **b.to_dict()},
                           extractor, complementary=in_bundle)
        records.append({"source": row.item_id_s, "target": row.item_id_t, "session_id": row.session_id,
                        "bundle_id": row.bundle_id if in_bundle else "",
                        "intent": row.intent if in_bundle and isinstance(row.intent, str) else "",
                        "co_bought_incoherent": not in_bundle, **flags.as_dict()})
    return pd.DataFrame.from_records(records)
