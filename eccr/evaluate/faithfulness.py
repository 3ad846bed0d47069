"""Faithfulness and specificity of explanations (issue #10 B), measured by rules written apart from the grounding
filter that serving uses (eccr.coherence.grounding): a metric must not be the filter it scores. The rules are
simpler and stricter about what counts as a source: only the two titles and their category paths.

Per sentence:
- **hallucinated claims**: a token with a digit (a figure, a quantity, a model number: "128GB", "1.5-inch",
  "LP-E10") that does not occur in the titles or categories (digits compared with digit boundaries, hyphens
  ignored, a number joined to its unit: "64 GB" = "64GB"); a capitalised word (brand-like: "Sony", "Blueberry") absent from them and
  not one of a few function words; a claim of fit ("fits", "compatible", "made for") when the pair flags say
  incompatible; a claim of fit to a figure-bearing name that one title's "for …" part lists and the other title
  lacks ("it fits the iPhone 14" for a case "for iPhone 14 / iPhone 13" and an iPhone 13); a negation about fit
  ("does not fit") when they do not; a claim that shoppers bought the pair together when the pair was not bought
  together; a type in parentheses ("(bags)") or a quoted phrase ('Together they serve "charging and cables"') with
  a word found in neither title nor category; a product type (`catalog_type_words`: the plural head noun of a leaf
  category name of the catalogue, in either number: "lens", "batteries") that neither item's title nor category
  has, unless "of" follows it ("for storage and a second lens" for an ink bottle and a printer: a reason about other
  items; "protects the lens of the Canon 7D" names a part).
- **names both items**: the sentence shares a head word (a word of 3+ letters among the first six words of the
  title) or a model number of the title with each title.
- **masked distinctness**: the share of distinct sentences once every word of the two titles is masked; a
  fill-in template ("The _ _ goes with the _ _.") scores near 1/n, a sentence that says something of its own
  near 1.
- **length**: words per sentence.

`titles_only` is the reference a system must beat: "B goes with A." from the two titles' heads.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from eccr.data.categories import leaf_category
from eccr.data.schema import Catalog

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-/+&']*[A-Za-z0-9]|[A-Za-z0-9]")
FUNCTION_WORDS = frozenset([
    "a", "an", "the", "this", "that", "these", "those", "it", "its", "they", "them", "their", "both", "each",
    "and", "or", "but", "for", "with", "to", "of", "in", "on", "by", "as", "at", "is", "are", "be", "can",
    "use", "used", "using", "together", "shoppers", "pair", "keep", "add", "when", "if", "your", "you",
    "goes", "go"])
_FIT = re.compile(r"\b(?:fits?|fitting|compatible|works with|made for|designed for)\b"  # "Cruzer Fit": a name
                  r"|(?:^|[.:;!?]\s+|[\"'(])(?:Fits?|Fitting|Compatible|Works [Ww]ith|Made [Ff]or|Designed [Ff]or)\b"
                  r"|\b(?:Fits?|FITS?)\s+(?:the|The|THE)\b")
_FIT_TO = re.compile(r"(?:\b(?:fits?|fitting|compatible with|works with|made for|designed for)"  # "Cruzer Fit": a name
                     r"|(?:^|[.:;!?]\s+)(?:Fits?|Compatible [Ww]ith|Works [Ww]ith|Made [Ff]or|Designed [Ff]or))\b"
                     r"((?:[^.;:,]|\.(?=\d))*)")
_FOR_PART = re.compile(r"\b(?:for|fits|compatible with)\b(.*)", re.IGNORECASE)
_NOT_FIT = re.compile(r"\b(?:not|never|cannot|can't|won't|doesn't|don't|isn't)\b[^.]{0,20}?\b(?:fit|fits|compatible|work)\b"
                      r"|\bincompatible\b", re.IGNORECASE)
_LABELLED = re.compile(r"\(([^()]*)\)|\"([^\"]*)\"")  # a type in parentheses, a quoted phrase
_BOUGHT = re.compile(r"\b(?:shoppers|customers|buyers|people)\b[^.]*?\b(?:bought|buy|purchased|ordered)\b"
                     r"|\bbought\b[^.]{0,15}?\btogether\b", re.IGNORECASE)


GENERIC_CATEGORY_WORDS = frozenset([
    "electronics", "accessories", "accessory", "computers", "computer", "supplies", "parts", "products", "other",
    "general", "more", "audio", "video", "photo", "photography", "digital", "wireless", "portable", "home",
    "office", "kitchen", "sports", "outdoors", "men", "women", "boys", "girls", "baby", "kids", "novelty",
    # also verbs or plain nouns of a reason ("it controls", "to power", "a set of", "for work")
    "control", "controls", "light", "lights", "lighting", "mount", "mounts", "stand", "stands", "cover", "covers",
    "charge", "charges", "play", "plays", "hold", "holds", "store", "stores", "storage", "power", "protect", "connect",
    "clean", "cleaning", "cool", "cooling", "carry", "set", "sets", "kit", "kits", "pack", "packs", "unit", "units",
    "system", "systems", "device", "devices", "service", "plan", "plans", "point", "up", "on", "out", "work", "show",
    "big", "front", "material", "security", "studio", "travel", "gift", "gifts", "tools", "gear", "care",
    "screen", "screens", "head", "heads", "tip", "tips", "memory", "media", "box", "boxes", "station", "stations",
    "drive", "drives", "casual", "wear", "top", "tops", "bottom", "bottoms", "size", "sizes", "fashion", "down",
    "available", "sport", "sports", "action", "religious", "arrivals", "dreams", "blends", "pieces", "intimates",
    "backgrounds", "components"])


def word_forms(word: str) -> set[str]:
    """`word` lower-cased with its singular guesses ("batteries" -> "battery", "lenses" -> "lens", "cables" ->
    "cable"), so a plural and a singular share a form."""
    word = word.lower()
    forms = {word}
    if word.endswith("ies"):
        forms.add(word[:-3] + "y")
    elif re.search(r"(?:ses|xes|ches|shes)$", word):
        forms.add(word[:-2])
    if word.endswith("s") and not word.endswith("ss"):
        forms.add(word[:-1])
    return forms


def type_words(category_names: Iterable[str]) -> frozenset[str]:
    """The product-type vocabulary of a catalogue from its leaf category names: the last word of each name and of
    each "&"/","-joined part, in every form, when it is plural (category names name types in the plural: "Memory
    Cards" -> cards, card; "Tripods & Monopods"; not "Walking" or the "Ceiling" of "TV Ceiling & Wall Mounts");
    generic words and words of a reason ("Accessories", "Video", "Controls") are left out."""
    words: set[str] = set()
    for name in category_names:
        for part in re.split(r"&|,|\band\b", str(name or "")):
            last = (re.findall(r"[A-Za-z]{3,}", part) or [""])[-1].lower()
            if last.endswith("s") and not last.endswith("ss") and not word_forms(last) & GENERIC_CATEGORY_WORDS:
                words |= word_forms(last)
    return frozenset(words)


def catalog_type_words(catalog: Catalog) -> frozenset[str]:
    """`type_words` of the leaf category names of `catalog`'s items."""
    return type_words(leaf_category(path) for path in catalog.items["category"])


def _without_inch_marks(sentence: str) -> str:
    """`sentence` with its inch marks (a " after a digit, outside a quote) spelled out, so they pair with no quote."""
    out, quoted, last = [], False, 0
    for m in re.finditer('"', sentence):
        if not quoted and m.start() and sentence[m.start() - 1].isdigit():
            out += [sentence[last:m.start()], " inch"]
            last = m.end()
        else:
            quoted = not quoted
    return "".join(out) + sentence[last:]


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text or "")


def _compact(text: str, join_units: bool = False) -> str:
    """Lower case, hyphens dropped ("6.1-inch" -> "6.1inch"); with `join_units` a number is joined to the word
    after it ("64 GB" -> "64gb")."""
    text = (text or "").lower().replace("-", "")
    return re.sub(r"(\d)\s+([a-z])", r"\1\2", text) if join_units else text


def _has_figure(figure: str, compact_text: str) -> bool:
    """Whether a compacted figure ("64gb", "d40x") occurs in compacted text with digit boundaries ("6" is not in
    "64gb", nor "4" in "6.4")."""
    return bool(re.search(r"(?<![0-9.])" + re.escape(figure) + r"(?![0-9])", compact_text))


def _listed_elsewhere(own: str, other: str) -> set[str]:
    """Figure-bearing names ("14", "D7500") in the "for …" part of `own` that `other` does not contain."""
    found = _FOR_PART.search(own or "")
    names = {_compact(p) for t in _tokens(found.group(1) if found else "") for p in t.split("/")
             if any(c.isdigit() for c in p)}
    other = _compact(other)
    return {n for n in names if not _has_figure(n, other)}


def hallucinated_claims(sentence: str, title_a: str, title_b: str, categories: str = "", incompatible: bool = False,
                        bought_together: bool = False, types: frozenset[str] = frozenset()) -> list[str]:
    """The claims of `sentence` the two titles and categories do not support (see the module docstring); `types`
    is the catalogue's product-type vocabulary (`type_words`), empty = no check of types."""
    source = f"{title_a} {title_b} {categories}"
    compact = (_compact(source), _compact(source, join_units=True))
    spaced = re.sub(r"[\s\-]+", " ", source.lower())
    known = {t.lower() for t in _tokens(source)}
    known |= {p for t in known for p in re.split(r"[-/.+&']", t) if p}
    claims = []
    for token in _tokens(sentence):
        if any(c.isdigit() for c in token):
            if not any(_has_figure(_compact(token), c) for c in compact):
                claims.append(token)
        elif token[0].isupper():
            parts = [p for p in re.split(r"[-/.+&']", token.lower()) if p]
            if token.lower() not in known and not all(p in known or p in FUNCTION_WORDS for p in parts) and \
                    not re.search(r"(?<![a-z])" + re.escape(token.lower()) + r"(?![a-z])", spaced):  # "GB" of "64GB"
                claims.append(token)
    for in_parentheses, quoted in _LABELLED.findall(_without_inch_marks(sentence)):
        label = in_parentheses or quoted
        foreign = [w for w in re.findall(r"[a-z]+", label.lower())
                   if w not in FUNCTION_WORDS and w not in known and not re.search(r"(?<![a-z])" + w, spaced)]
        if foreign:
            claims.append(f"({label.strip()})" if in_parentheses else f'"{label.strip()}"')
    if types:
        pair_forms = {f for w in re.findall(r"[A-Za-z]+", source) for f in word_forms(w)}
        # whole words only ("T-rex" is no "rex"); "the lens of the Canon 7D" names a part of the item, not an item
        for word, part_of in re.findall(r"(?<![A-Za-z0-9-])([A-Za-z]{3,})(?![A-Za-z0-9-])(\s+of\b)?", sentence):
            forms = word_forms(word)
            claim = f"names a type neither item is: {word.lower()}"
            if not part_of and forms & types and not forms & pair_forms and claim not in claims:
                claims.append(claim)
    if incompatible and _FIT.search(sentence):
        claims.append("claims a fit the flags contradict")
    listed = _listed_elsewhere(title_a, title_b) | _listed_elsewhere(title_b, title_a)
    for fitted in _FIT_TO.findall(sentence):
        if {_compact(p) for t in _tokens(fitted) for p in t.split("/")} & listed:
            claims.append(f"claims a fit to {fitted.strip()!r}, which one title lists and the other lacks")
    if not incompatible and _NOT_FIT.search(sentence):
        claims.append("denies a fit")
    if not bought_together and _BOUGHT.search(sentence):
        claims.append("says shoppers bought the pair")
    return claims


def head_words(title: str) -> set[str]:
    """Words that name an item: words of 3+ letters among the title's first six, and its model numbers."""
    tokens = _tokens(title)
    heads = {t.lower() for t in tokens[:6] if len(t) >= 3 and t.lower() not in FUNCTION_WORDS and not t.isdigit()}
    return heads | {t.lower() for t in tokens if any(c.isdigit() for c in t) and any(c.isalpha() for c in t)}


def names_item(sentence: str, title: str) -> bool:
    return bool(head_words(title) & {t.lower() for t in _tokens(sentence)})


def masked(sentence: str, title_a: str, title_b: str) -> str:
    """The sentence with every word of both titles (but function words: "the", "with") replaced by "_" (runs of
    them collapsed), lower-cased."""
    title_words = {t.lower() for t in _tokens(f"{title_a} {title_b}")} - FUNCTION_WORDS
    out = ["_" if t.lower() in title_words else t.lower() for t in _tokens(sentence)]
    return " ".join(w for i, w in enumerate(out) if not (w == "_" and i and out[i - 1] == "_"))


def titles_only(title_a: str, title_b: str) -> str:
    """The titles-only reference "B goes with A." (each title up to its first " - ", "(" or ",", four words)."""
    def head(title: str) -> str:
        return " ".join(re.split(r"\s[-–|]\s|\(|\[|,", title or "", maxsplit=1)[0].split()[:4])
    return f"{head(title_b)} goes with {head(title_a)}."


@dataclass
class PairContext:
    """What the metric may read about one explained pair (A = the query, B = the recommended item)."""

    title_a: str
    title_b: str
    categories: str = ""
    incompatible: bool = False
    bought_together: bool = False


@dataclass
class FaithfulnessSummary:
    n: int
    names_both: float | None
    hallucinated: float | None            # share of sentences with at least one hallucinated claim
    masked_distinct: float | None
    mean_words: float | None
    examples: list[dict] = field(default_factory=list)  # up to 5 hallucinated sentences with their claims

    def as_dict(self) -> dict:
        return {"n": self.n, "names_both": self.names_both, "hallucinated": self.hallucinated,
                "masked_distinct": self.masked_distinct, "mean_words": self.mean_words, "examples": self.examples}


def faithfulness(sentences: Sequence[str], pairs: Sequence[PairContext],
                 types: frozenset[str] = frozenset()) -> FaithfulnessSummary:
    """The four measures over the non-empty sentences (sentence i explains pairs[i]); `types` as in
    `hallucinated_claims`."""
    rows = [(s, p) for s, p in zip(sentences, pairs) if s]
    if not rows:
        return FaithfulnessSummary(0, None, None, None, None)
    n = len(rows)
    claims = [hallucinated_claims(s, p.title_a, p.title_b, p.categories, p.incompatible, p.bought_together, types)
              for s, p in rows]
    return FaithfulnessSummary(
        n=n,
        names_both=sum(names_item(s, p.title_a) and names_item(s, p.title_b) for s, p in rows) / n,
        hallucinated=sum(bool(c) for c in claims) / n,
        masked_distinct=len({masked(s, p.title_a, p.title_b) for s, p in rows}) / n,
        mean_words=sum(len(_tokens(s)) for s, _ in rows) / n,
        examples=[{"sentence": s, "claims": c} for (s, _), c in zip(rows, claims) if c][:5])


def faithfulness_markdown(report: dict) -> str:
    """The table of `report` ({output name: FaithfulnessSummary.as_dict()})."""
    lines = ["| output | n | names both | hallucinated | masked distinct | words |", "|---|---|---|---|---|---|"]
    for name, m in report.items():
        if not m or not m.get("n"):
            continue
        lines.append(f"| {name} | {m['n']} | {m['names_both']:.3f} | {m['hallucinated']:.3f} | "
                     f"{m['masked_distinct']:.3f} | {m['mean_words']:.1f} |")
    return "\n".join(lines) + "\n"
