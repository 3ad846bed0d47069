"""Coherent-complement labels (ECCR, Li et al. 2024): complementary AND (relevant OR compatible).

- complementary: the data says the two items serve one need (same bundle; or a model's complement score).
- relevant: the items share a key attribute: the same brand, or a brand/model one title names and the other
  is made by or "for" (a "Canon" lens hood and a Canon camera).
- compatible: one title's compatibility phrase ("for Canon LP-E6 and EOS 60D", "fits iPhone 5",
  "compatible with …") names a model of the other item ("Canon EOS 60D Body"), or both titles name the same lens
  mount ("for Canon RF Mount" and "Canon RF/RF-S Mount").
- incompatible: one item is an accessory whose compatibility phrase says what it is for, and the other is a
  device (by its category, or by its title when it has no category) that it is not for: another brand ("for
  Nikon EN-EL14" next to a Canon camera: "made for Nikon, not Canon"), another model of the same brand ("for
  iPhone 14" next to an iPhone 13: "made for iPhone 14, not this model"), or another lens mount ("for Canon RF
  Mount" next to a camera whose title says "Canon EF-S/EF Mount"). `compatible` always wins over it.
- substitute: same leaf category and near-duplicate title text (a camera and another camera).
- co-bought but incoherent: same session, not in the same bundle — the hard negatives of the ECCR protocol.

Everything here reads titles, categories and brands only, and every flag carries the evidence that set it
(e.g. "fits 60D"), so a recommendation can say why it is called coherent and explanations stay grounded.

Grounding check for explanations (`grounding`): an explanation is grounded when it names both items (shares a
brand, a model token or a content word of 4+ letters with each title), mentions no brand, capitalised brand-like
word, model name, number or quantity ("128GB", "400W", "1.5-inch") that is absent from both titles, their category
paths and the bundle intent (when one is given), and contradicts no evidence: no claim of fit for a pair flagged
incompatible, no negation about fit ("does not fit"), no fit claim naming a model that one title's compatibility
phrase lists but the other title and the fit evidence do not ("it fits the iPhone 14" for a case "for iPhone 14 /
iPhone 13" recommended with an iPhone 13), no claim that shoppers bought the pair together unless the caller says
they did, no type that is not the named item's ("The Apple AirPods Pro (bags)", "The Smart TV is a wall
mount"), no product type that neither item is (with an extractor: `leaf_types`, the plural head nouns of the
catalogue's leaf category names, absent from both titles and category paths and not followed by "of": "for storage
and a second lens" for an ink bottle and a printer is a reason about other items, often the bundle's), no function
neither item can serve (storage, power or charging, protection without a card, bag, battery, charger, case … in
either title or category path: `unsupported_functions`); and it is not cut off at a token budget ("The Sony E
18-"). Serving uses it to reject an LM sentence and distillation to flag a teacher's sentence; the measurement of
hallucinations (eccr/evaluate/faithfulness.py) is a separate, simpler check, so a metric is never the filter it
scores.

Explanations composed from the data (`grounded_explanation`) give the reason the two go together when the evidence
has one: what the accessory does for the device ("the LP-E10 battery powers the Rebel T7") and the fit evidence
("it fits the Rebel T7"); "shoppers bought them together" only for pairs the caller says were bought together.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import pandas as pd

from eccr.data.categories import leaf_category
from eccr.data.lookup import title_head
from eccr.data.schema import Catalog, Dataset

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-\+/\.]*[A-Za-z0-9]|[A-Za-z0-9]")
_COMPAT_PHRASE = re.compile(
    r"\b(?:for|fits|fit|compatible with|works with|designed for|replacement for|replaces)\b\s+(.+)", re.IGNORECASE)
_PHRASE_END = re.compile(r"\s(?:-|–|\||with)\s|\(|\[")
# spec tokens that contain digits but are not model names: 64GB, 400W, 1600mah, 25FT, 3.0, 2-Pack, 30x …
_UNIT = re.compile(
    r"^\d+(?:\.\d+)?(?:-?(?:gb|mb|tb|kb|mm|cm|m|w|mah|ah|ft|mp|x|hz|mhz|ghz|in|inch|v|k|p|pack|pk|bit|bits|"
    r"mbps|gbps|oz|lb|lbs|g|kg|ml|l|pcs|pc|piece|port|ports|rpm|db|ohm|th|nd|rd|st|ch|way|ms))?$", re.IGNORECASE)
_STOPWORDS = frozenset(["a", "an", "and", "or", "the", "of", "for", "with", "to", "in", "on", "by", "from", "at", "as", "is", "are", "new", "black", "white", "blue", "red", "gray", "grey", "silver", "pink", "green", "orange", "purple", "yellow", "brown", "gold", "case", "cover", "pack", "set", "kit", "size", "small", "large", "medium", "us", "retail", "package", "packaging", "edition", "version", "model", "series"])

# ---------------------------------------------------------------- vocabularies of the incompatible rule
# Product lines whose name stands for their maker in titles ("Case for iPhone 14" is made for an Apple phone).
# Only unambiguous, well-known lines; an item's own brand still comes from the catalogue (or its first word).
PRODUCT_LINE_BRANDS = {
    "iphone": "apple", "ipad": "apple", "ipod": "apple", "macbook": "apple", "imac": "apple", "airpods": "apple",
    "galaxy": "samsung", "pixel": "google", "nexus": "google", "kindle": "amazon", "xbox": "microsoft",
    "playstation": "sony", "ps3": "sony", "ps4": "sony", "ps5": "sony", "psp": "sony", "cyber-shot": "sony",
    "cybershot": "sony", "handycam": "sony", "powershot": "canon", "eos": "canon", "rebel": "canon",
    "pixma": "canon", "coolpix": "nikon", "nikkor": "nikon", "lumix": "panasonic", "thinkpad": "lenovo",
    "ideapad": "lenovo", "inspiron": "dell", "deskjet": "hp", "officejet": "hp", "laserjet": "hp",
    "ecotank": "epson", "moto": "motorola", "nook": "barnes",
}
# A device is what accessories are made for. By the leaf category when the item has a specific one (a plural
# device noun and no accessory word: "Digital SLR Cameras", "Cell Phones", "LED TVs", but not "Camera Cases")…
_DEVICE_LEAF = re.compile(r"\b(?:cameras|camcorders|camera bundles|phones|smartphones|tablets|laptops|notebooks|"
                          r"netbooks|desktops|consoles|headphones|earbuds|headsets|televisions|tvs|monitors|"
                          r"printers|projectors|players|readers|gps)\b", re.IGNORECASE)
# … else by the head of its title (before " for ", " with ", " - ", "(", ","), which names a device noun or one
# of the product lines above ("Apple iPad mini MD528LL/A") and no accessory noun.
_DEVICE_WORD = re.compile(r"\b(?:cameras?|camcorders?|dslr|slr|(?:smart)?phones?|tablets?|laptops?|notebooks?|"
                          r"netbooks?|ultrabooks?|chromebooks?|desktops?|consoles?|headphones|earphones|earbuds|"
                          r"headsets?|hdtvs?|tvs?|televisions?|monitors?|printers?|projectors?|players?|"
                          r"e-?readers?|gps)\b", re.IGNORECASE)
_ACCESSORY_WORD = re.compile(r"\b(?:accessor(?:y|ies)|cases?|covers?|bags?|backpacks?|batter(?:y|ies)|chargers?|"
                             r"adapters?|cables?|cords?|mounts?|stands?|protectors?|protection|skins?|sleeves?|"
                             r"straps?|grips?|hoods?|caps?|filters?|remotes?|docks?|holders?|lens|lenses|cards?|"
                             r"replacement|earpads?|cushions?|cleaning|cleaners?|cloths?|tripods?|flash|lights?|"
                             r"brackets?|films?|decals?|stylus|keyboards?|mice|mouse|housings?|parts?|warranty|"
                             r"plan)\b", re.IGNORECASE)
# Phrases that do not restrict what the accessory fits: "for Kindle, Tablet or Smartphone", "for iPhone and
# Android phones", "and other Qi phones", "Sony, etc.".
_HEDGE = re.compile(r"\b(?:other|others|most|all|any|universal|android|etc)\b|(?:\bor\b|\band\b|&|,)\s+"
                    r"(?:(?:smart|mobile|digital|usb-c|usb|bluetooth|compatible|similar)\s+)?"
                    r"(?:smart\s?phones?|phones?|tablets?|devices?|cameras?|laptops?|notebooks?|computers?|pcs?)\b",
                    re.IGNORECASE)
_MARKETING_FOR = re.compile(r"\b(?:licensed|ideal|perfect|great|suitable|good)\s+for\b", re.IGNORECASE)
# A cable or charger with a standard connector (a Lightning cable, a MagSafe or Qi charger) fits every model with
# that connector; the models its title lists are examples, so "another model" is not claimed for it.
# The wired charging connectors, as titles write them (also the ports of `device_ports` and the plugs of `cable_plugs`)
_PORT_WORDS = {"Lightning": r"lightning", "Micro-USB": r"micro[\s-]?usb", "Mini-USB": r"mini[\s-]?usb",
               "USB-C": r"usb[\s-]?c|type[\s-]?c"}
_CONNECTOR = re.compile(rf"\b(?:{'|'.join(_PORT_WORDS.values())}|magsafe|qi)\b", re.IGNORECASE)
_POWER_OR_CABLE = re.compile(r"\b(?:cables?|cords?|chargers?|charging|adapters?|power)\b", re.IGNORECASE)
# "… and more", "+ More!!": the list of models is incomplete (another brand is still another brand)
_MORE = re.compile(r"(?:\band|\+)\s*more\b", re.IGNORECASE)
# Interchangeable-lens mounts, as titles write them before "Mount" ("for Canon EF-S/EF Mount", "Sony E-mount").
# One-letter mounts count only after a camera brand ("Nikon Z Mount"), so a "Tripod Mount" or "TV Wall Mount"
# never names one.
_MOUNT_ALIASES = {"EF": "EF", "EF-S": "EF-S", "EFS": "EF-S", "EF-M": "EF-M", "RF": "RF", "RF-S": "RF-S",
                  "FE": "E", "E": "E", "F": "F", "Z": "Z", "X": "X", "K": "K", "L": "L", "MFT": "Micro Four Thirds",
                  "M4/3": "Micro Four Thirds"}
_MOUNT_BRANDS = frozenset(["canon", "nikon", "sony", "fujifilm", "fuji", "pentax", "leica", "panasonic", "olympus"])
_MOUNT_WORD = re.compile(r"\bmount\b", re.IGNORECASE)
# Games name their platform after a dash, as stores title them ("Halo Infinite - Xbox Series X", "Mario Kart 8
# Deluxe - Nintendo Switch", "FIFA 23 - PlayStation 5"): the edition works on that platform only.
_PLATFORM_EDITION = re.compile(r"\s[-–]\s((?:xbox|playstation|ps[1-5]|nintendo|wii)\b[^-–(|]*?)\s*(?:\([^()]*\)\s*)?$", re.IGNORECASE)
_MFT = re.compile(r"\bmicro\s+(?:four\s+thirds|4/3)\b", re.IGNORECASE)
# "iPhone 14", "Galaxy Tab 2", "Pixel 7a", "OnePlus 11", "iPad 2/3/4": a product-line word and a number form a
# model name; "Pro"/"Max"/"Plus"/"Mini"/"Ultra"/"Lite" after it belong to the name ("iPhone 14 Pro").
_LINE_MODEL = re.compile(r"\b([A-Za-z][A-Za-z\-]*[A-Za-z])\s+(\d{1,4}(?:/\d{1,4})*[A-Za-z]?)(?![\w.\-/+])")
_NEXT_WORD = re.compile(r"\s+([A-Za-z]+)")
_LENS_SPEC = re.compile(r"^(?:F/?\d+(?:\.\d+)?[A-Z]{0,2}|\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?MM)$")
# "iPhone SE", "iPhone XR", "Pixel XL": a phone or tablet line and a capitalised two- or three-letter model
# ("Nikkor AF" is a lens family, not a model)
_LINE_LETTER_MODEL = re.compile(r"\b((?i:iphone|ipad|ipod|galaxy|pixel|nexus|kindle|moto))\s+([A-Z]{2,3})(?![\w.\-/+])")
_NEXT_NUMBER = re.compile(r"\s*(?:&|,|/|\band\b|\bor\b)?\s*(\d{1,4}[A-Za-z]?)(?![\w.\-/+])")  # "Hero 2 & 3", "iPad 4 3 2"
_MODIFIERS = frozenset(["pro", "max", "plus", "mini", "ultra", "lite"])
_NOT_A_LINE = _STOPWORDS | frozenset(["pack", "gen", "generation", "class", "type", "cat", "category", "usb", "hdmi", "mark", "rev", "step", "level", "grade", "windows", "up", "over", "under", "than", "only", "about", "approx", "nikon", "canon", "sony"])
_AFTER_NUMBER_UNITS = frozenset(["inch", "inches", "in", "ft", "feet", "foot", "pack", "pk", "pcs", "pieces", "piece", "port", "ports", "gb", "tb", "mb", "mm", "cm", "m", "x", "w", "watt", "watts", "v", "volt", "volts", "mah", "cell", "year", "years", "month", "months", "hour", "hours", "day", "days", "min", "pin", "pins", "meter", "meters", "channel", "way"])


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


def _key(name: str) -> str:
    return name.upper().replace(" ", "")


def _modifiers(text: str, pos: int) -> tuple[list[str], int]:
    """The "Pro", "Max", … words that follow position `pos`, and where they end."""
    out = []
    while (nxt := _NEXT_WORD.match(text, pos)) and nxt.group(1).lower() in _MODIFIERS:
        out.append(nxt.group(1))
        pos = nxt.end()
    return out, pos


def _unit_follows(text: str, pos: int) -> bool:
    nxt = _NEXT_WORD.match(text, pos)
    return bool(nxt and nxt.group(1).lower() in _AFTER_NUMBER_UNITS)


@lru_cache(maxsize=200_000)
def _model_names(text: str) -> tuple[tuple[str, str], ...]:
    names: dict[str, str] = {}
    for m in _WORD.finditer(text):
        w = m.group(0).strip(".-/+")
        if len(w) >= 2 and not _UNIT.match(w) and any(c.isdigit() for c in w) and any(c.isalpha() for c in w):
            name = " ".join([w, *_modifiers(text, m.end())[0]])  # "S23 Ultra" is not an "S23"
            names.setdefault(_key(name), name)
    for m in _LINE_LETTER_MODEL.finditer(text):
        name = " ".join([m.group(1), m.group(2), *_modifiers(text, m.end())[0]])
        names.setdefault(_key(name), name)
    for m in _LINE_MODEL.finditer(text):
        line, numbers, pos = m.group(1), m.group(2).split("/"), m.end()
        if line.lower() in _NOT_A_LINE or line.lower() in _AFTER_NUMBER_UNITS:
            continue
        while (more := _NEXT_NUMBER.match(text, pos)) and not _unit_follows(text, more.end()):
            numbers.append(more.group(1))
            pos = more.end()
        modifiers, pos = _modifiers(text, pos)
        if not modifiers and _unit_follows(text, pos):
            continue  # "Apple 15 inch", "Cameras 2 Pack"
        for n in numbers:
            name = " ".join([line, n, *modifiers])
            names.setdefault(_key(name), name)
    return tuple(names.items())


def model_names(text: str) -> dict[str, str]:
    """Model names in a text, keyed by their upper-case, space-free form: the model tokens ("LP-E6", "T8i") and
    product line + number ("iPhone 14", "Galaxy Tab 2"), each with the "Pro"/"Max"/"Plus"/"Mini"/"Ultra"/"Lite"
    that follows it ("iPhone 14 Pro", "S23 Ultra"); values keep the text's spelling for evidence."""
    return dict(_model_names(text or ""))


@lru_cache(maxsize=200_000)
def compatibility_phrase(title: str) -> str:
    """The text after "for"/"fits"/"compatible with" up to the next " - ", "(" or " with "; else a game's platform
    after its last dash ("Starfield - Xbox Series X" -> "Xbox Series X"); "" if none."""
    match = _COMPAT_PHRASE.search(title or "")
    if not match:
        platform = _PLATFORM_EDITION.search(title or "")
        return platform.group(1) if platform else ""
    rest = match.group(1)
    end = _PHRASE_END.search(rest)
    return rest[: end.start()] if end else rest


@lru_cache(maxsize=200_000)
def lens_mounts(title: str) -> frozenset[str]:
    """Lens mounts a title names before the word "Mount": "for Canon EF-S/EF Mount" -> {EF-S, EF}, "Sony
    E-mount" -> {E}, "Micro Four Thirds Mount" -> {Micro Four Thirds}; a "Tripod Mount" names none."""
    text = _MFT.sub("MFT", title or "")
    out: set[str] = set()
    for m in _MOUNT_WORD.finditer(text):
        before = re.sub(r"-$", "", text[: m.start()].rstrip())
        found, branded = [], False
        for w in reversed(before.split()[-6:]):
            w = w.strip(",;")
            if w.lower() in ("and", "&", "or", "/"):
                continue
            if w.lower() in _MOUNT_BRANDS:
                branded = True
                break
            parts = [p for p in w.split("/") if p]
            if not parts or not all(p in _MOUNT_ALIASES for p in parts):
                break
            found.extend(parts)
        out.update(_MOUNT_ALIASES[p] for p in found if len(p) > 1 or branded)
    return frozenset(out)


def canonical_brand(brand: str) -> str:
    """A brand, or the maker of a product line (iphone -> apple)."""
    return PRODUCT_LINE_BRANDS.get(brand, brand)


@lru_cache(maxsize=200_000)
def looks_like_device(title: str, category: tuple[str, ...] = ()) -> bool:
    """Whether an item is a device (what accessories are made for): by a specific leaf category when it has one
    ("Digital SLR Cameras" yes, "Camera Cases" no), else by the head of its title ("Nikon D7100 … Digital SLR",
    "Apple iPad mini MD528LL/A"). Items with a compatibility phrase of their own are accessories."""
    if compatibility_phrase(title):
        return False
    leaf = leaf_category(category)
    if len(category) > 2 or (leaf and _DEVICE_LEAF.search(leaf)):
        return bool(_DEVICE_LEAF.search(leaf)) and not _ACCESSORY_WORD.search(leaf)
    head = title_head(title)
    if _ACCESSORY_WORD.search(head):
        return False
    return bool(_DEVICE_WORD.search(head)) or any(
        w.lower() in PRODUCT_LINE_BRANDS and w.lower() != "nikkor" for w in words(head))


class AttributeExtractor:
    """Brands and models from a catalogue's titles.

    The brand vocabulary is the catalogue's brand column where known, plus title-initial words that start at
    least `min_brand_count` titles (sellers put the brand first) and are not common words. `device_brands` are
    the (canonical) brands of the catalogue's devices plus the makers of PRODUCT_LINE_BRANDS, minus words of the
    catalogue's category names: an accessory "for" one of them is made for a rival's device; a vocabulary word no
    device carries ("Universal") or a category word ("Digital", "Car") is not.
    """

    def __init__(self, catalog: Catalog, min_brand_count: int = 2):
        self.min_brand_count = min_brand_count
        self.rebuild(catalog)

    def rebuild(self, catalog: Catalog) -> None:
        """(Re-)read the vocabularies from `catalog` in place: after items were added at run time, the ranker, the
        LM and the grounding check that hold this extractor see the new items' brands and types."""
        min_brand_count = self.min_brand_count
        items = catalog.items
        given = {b.strip().lower() for b in items["brand"] if b and b.strip()}
        first = Counter(ws[0].lower() for ws in (words(t) for t in items["title"]) if ws)
        inferred = {w for w, n in first.items() if n >= min_brand_count and w not in _STOPWORDS
                    and not any(c.isdigit() for c in w) and len(w) > 1}
        self.brands = given | inferred
        self._multiword = sorted(b for b in self.brands if " " in b)
        self._brand_of = {row.item_id: (row.brand.strip().lower() if row.brand.strip() else self._first_brand(row.title))
                          for row in items.itertuples(index=False)}
        self._brands_in: dict[str, frozenset[str]] = {}  # phrase -> brands it names (pair flags ask often)
        self._device = {row.item_id: looks_like_device(row.title or "", tuple(row.category))
                        for row in items.itertuples(index=False)}
        # words of the catalogue's category names ("Digital", "Car", "USB") are never a rival brand
        self.generic_words = {w.lower() for path in items["category"] for level in path for w in words(level)}
        self.device_brands = set(PRODUCT_LINE_BRANDS.values())
        for item_id, title in zip(items["item_id"], items["title"]):
            if self._device[item_id]:
                self.device_brands |= self.brands_of(item_id, title)
        self.device_brands -= self.generic_words | {""}
        self.leaf_types = leaf_types([leaf_category(path) for path in items["category"]], items["title"])

    def _first_brand(self, title: str) -> str:
        ws = words(title)
        return ws[0].lower() if ws and ws[0].lower() in self.brands else ""

    def brand(self, item_id: str, title: str = "") -> str:
        if item_id in self._brand_of:
            return self._brand_of[item_id]
        return self._first_brand(title)

    def brands_in(self, text: str) -> set[str]:
        if text not in self._brands_in:
            found = {w.lower() for w in words(text) if w.lower() in self.brands}
            if self._multiword:  # "OM System", "Amazon Basics"
                padded = " " + " ".join(words(text)).lower() + " "
                found.update(b for b in self._multiword if f" {b} " in padded)
            self._brands_in[text] = frozenset(found)
        return set(self._brands_in[text])

    def makers_named(self, text: str) -> set[str]:
        """Canonical brands a text names: vocabulary brands and the makers of product lines ("iPhone" -> apple)."""
        named = {canonical_brand(b) for b in self.brands_in(text)}
        named.update(PRODUCT_LINE_BRANDS[w.lower()] for w in words(text) if w.lower() in PRODUCT_LINE_BRANDS)
        return named

    def brands_of(self, item_id: str, title: str = "") -> set[str]:
        """An item's canonical brand plus the makers of product lines its title starts with ("iPad mini" -> apple)."""
        out = {canonical_brand(self.brand(item_id, title))}
        head = title_head(title)
        out.update(PRODUCT_LINE_BRANDS[w.lower()] for w in words(head) if w.lower() in PRODUCT_LINE_BRANDS)
        out.discard("")
        return out

    def is_device(self, item_id: str, title: str = "", category=()) -> bool:
        if item_id in self._device:
            return self._device[item_id]
        return looks_like_device(title or "", tuple(category or ()))


@dataclass
class PairFlags:
    complementary: bool = False
    relevant: bool = False
    compatible: bool = False
    substitute: bool = False
    # one item is an accessory made for another brand, model or lens mount than the other item, a device
    # ("for Canon EOS Rebel T8i, SL3" next to a Rebel T7; "for Nikon EN-EL14" next to a Canon): evidence that it
    # does NOT fit. Titles list models incompletely, so this is a ranking feature whose weight the blend learns
    # from data, not a hard filter.
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
    relations: list[str] = []  # `_brand_relation` evidence, shown only for a pair not found incompatible
    for src_title, dst, dst_brand in ((ta, b, brand_b), (tb, a, brand_a)):
        dst_title = dst.get("title", "")
        phrase = compatibility_phrase(src_title)
        if not phrase:
            continue
        dst_names = model_names(dst_title)
        fits = [dst_names[k] for k in sorted(model_names(phrase).keys() & dst_names.keys())]
        if fits and f"fits {', '.join(fits[:3])}" not in flags.evidence:
            flags.compatible = True
            flags.evidence.append(f"fits {', '.join(fits[:3])}")
        dst_brand, makers = canonical_brand(dst_brand), extractor.makers_named(phrase)
        if dst_brand and dst_brand in makers:
            flags.relevant = True
            relations.append(_brand_relation(phrase, makers - {dst_brand}, _brand_name(dst_brand, phrase, dst_title),
                                             dst, extractor))
    _mark_mounts(flags, a, b, extractor)
    _mark_card_slots(flags, a, b, extractor)
    _mark_screen_sizes(flags, a, b, extractor)
    _mark_ports(flags, a, b, extractor)
    if not flags.compatible:
        _mark_incompatible(flags, a, b, extractor)
        _mark_incompatible(flags, b, a, extractor)
        _mark_rival_accessories(flags, a, b, extractor)
    _mark_disc_drives(flags, a, b, extractor)
    if not flags.incompatible:  # "made for iPhone" beside "made for iPhone SE, not this model" reads as a contradiction
        flags.evidence += [r for n, r in enumerate(relations) if r not in relations[:n]]
    shared_models = sorted((models_a & models_b) - set(" ".join(flags.evidence).upper().split()))
    if shared_models and not flags.compatible:
        flags.relevant = True
        flags.evidence.append(f"both name {', '.join(shared_models[:2])}")
    leaf_a, leaf_b = leaf_category(a.get("category")), leaf_category(b.get("category"))
    if leaf_a and leaf_a == leaf_b and _jaccard(content_words(ta), content_words(tb)) >= substitute_jaccard:
        flags.substitute = True
    return flags


def _brand_relation(phrase: str, other_makers: set[str], brand_name: str, dst: dict,
                    extractor: AttributeExtractor) -> str:
    """The evidence for an accessory whose compatibility phrase names the brand of `dst`, the other item, and
    `other_makers` besides it:
    - "lists Apple among others" when the phrase names three or more makers ("for iPhone 15, Galaxy S24, Pixel 8
      and other Qi phones": a Qi charger is not made for Apple), or hedges ("and USB-C devices", "universal")
      without naming the product line of `dst`, a device ("for iPhone 15, MacBook and USB-C devices" next to a
      MacBook Air: "made for MacBook");
    - "both go with Canon devices" when `dst` is not a device (a battery "for Canon EOS 90D" and a Canon lens
      are two accessories of Canon cameras: the battery is not made for the lens);
    - else "made for Canon", or, when the phrase does not write the brand, for the product line both name
      ("Starfield - Xbox Series X" and a "Microsoft Xbox Series X": "made for Xbox")."""
    if len(other_makers) >= 2:
        return f"lists {brand_name} among others"
    dst_is_device = _is_device(dst, extractor)
    lines = [w for k, w in _product_lines(phrase).items() if k in _product_lines(title_head(dst.get("title", "")))]
    if _HEDGE.search(phrase):
        return f"made for {lines[0]}" if dst_is_device and lines else f"lists {brand_name} among others"
    if not dst_is_device:
        return f"both go with {brand_name} devices"
    return f"made for {lines[0] if lines and not _writes(phrase, brand_name) else brand_name}"


def _model_parts(models) -> set[str]:
    """Model keys plus their model-like parts: DMC-GF1 -> {DMC-GF1, GF1}; D40/D40X -> {D40/D40X, D40, D40X}."""
    out = set(models)
    for m in models:
        out.update(p for p in re.split(r"[-/]", m) if len(p) >= 2 and any(c.isdigit() for c in p)
                   and any(c.isalpha() for c in p))
    return out


def _models_may_match(a, b) -> bool:
    """Whether two sets of model keys may name one model: a key in common, or a key of one side that is a part of
    a key of the other ("GF1" and "DMC-GF1", "D40" and "D40/D40X"). Two full names that only share a part are two
    models ("WF-1000XM5" earbuds and "WH-1000XM5" headphones)."""
    a, b = set(a), set(b)
    return bool(a & b or _model_parts(a) & b or a & _model_parts(b))


def _is_device(row: dict, extractor: AttributeExtractor) -> bool:
    return extractor.is_device(row["item_id"], row.get("title", ""), tuple(row.get("category", ()) or ()))


def _mark_shared_standard(flags: PairFlags, a: dict, b: dict, extractor: AttributeExtractor, offers, accepts,
                          fits: str, made_for: str) -> None:
    """An accessory that names a standard (`offers(row)`: lens mounts, card formats) next to a device that names
    the ones it takes (`accepts(row)`): one in common is `compatible` (evidence `fits`, formatted with `shared`),
    none is `incompatible` (`made_for`, formatted with `offered` and `accepted`). Neither naming one says nothing."""
    for acc, dev in ((a, b), (b, a)):
        offered = offers(acc)
        accepted = accepts(dev) if offered else frozenset()
        if not accepted or _is_device(acc, extractor) or not _is_device(dev, extractor):
            continue
        shared = sorted(offered & accepted)
        if shared:
            flags.compatible = True
            flags.evidence.append(fits.format(shared="/".join(shared)))
        elif not flags.incompatible:
            flags.incompatible = True
            flags.evidence.append(made_for.format(offered="/".join(sorted(offered)),
                                                  accepted="/".join(sorted(accepted))))
        return


def _mark_mounts(flags: PairFlags, a: dict, b: dict, extractor: AttributeExtractor) -> None:
    """A lens (or any non-device) whose title names a lens mount, next to a device whose title names its mounts:
    the same mount is `compatible` ("fits RF mount"), none in common is `incompatible`."""
    def mounts(row: dict) -> frozenset[str]:
        return lens_mounts(row.get("title", ""))

    _mark_shared_standard(flags, a, b, extractor, mounts, mounts, "fits {shared} mount",
                          "made for {offered} mount, not {accepted}")


# Memory card formats, most specific first ("microSDXC" is microSD, not SD; "CFexpress Type B" before "CFexpress").
_CARD_FORMATS = (
    (re.compile(r"\bcfexpress\s+type\s*a\b", re.IGNORECASE), "CFexpress Type A"),
    (re.compile(r"\bcfexpress(?:\s+type\s*b)?\b", re.IGNORECASE), "CFexpress Type B"),
    (re.compile(r"\bxqd\b", re.IGNORECASE), "XQD"),
    (re.compile(r"\bcompact\s?flash\b|\bcf\b(?!express)", re.IGNORECASE), "CompactFlash"),
    (re.compile(r"\bmicro\s?sd(?:hc|xc)?\b", re.IGNORECASE), "microSD"),
    (re.compile(r"(?<![\w-])sd(?:hc|xc)?\b", re.IGNORECASE), "SD"),
)
_CARD_WITH_ADAPTER = re.compile(r"\bwith\s+(?:an?\s+)?(?:sd\s+)?adapter\b", re.IGNORECASE)
# where a device says which cards it takes: "records to SD and CFexpress Type B cards", "microSD slot"
_SLOT_PHRASE = re.compile(r"\brecords\s+to\s+([^.;]{1,50}?)\s+cards?\b|((?:\S+\s+){0,3}?\S+)\s+(?:card\s+)?slots?\b",
                          re.IGNORECASE)


def card_formats(text: str) -> frozenset[str]:
    """Card formats a text names ("SanDisk 128GB Extreme PRO CFexpress Type B Card" -> {CFexpress Type B});
    "microSDXC ... with Adapter" -> {microSD, SD}."""
    found, rest = set(), text or ""
    for pattern, name in _CARD_FORMATS:
        if pattern.search(rest):
            found.add(name)
            rest = pattern.sub(" ", rest)
    if "microSD" in found and _CARD_WITH_ADAPTER.search(text or ""):
        found.add("SD")
    return frozenset(found)


def card_slots(row: dict) -> frozenset[str]:
    """Card formats a device's title or description says it records to or has a slot for ("records to SD
    cards", "USB-C port, microSD slot"); empty when it does not say (most real titles)."""
    out: set[str] = set()
    for text in _title_and_text(row):
        for m in _SLOT_PHRASE.finditer(text):
            out |= card_formats(m.group(1) or m.group(2) or "")
    return frozenset(out)


def _card_formats_of_a_card(row: dict) -> frozenset[str]:
    """The formats a memory card's title names; none when neither its title nor its leaf category says "card"."""
    title = row.get("title", "") or ""
    is_card = re.search(r"\bcards?\b", f"{title} {leaf_category(row.get('category'))}", re.IGNORECASE)
    return card_formats(title) if is_card else frozenset()


# Charging ports of phones and other small devices, and the plug a cable puts into one. Lightning, Micro-USB and
# Mini-USB are only ever the device's end of a cable, so a "USB-C to Lightning Cable" plugs into a Lightning port
# whichever way its title orders the two; a cable naming no such plug plugs in by USB-C.
_PORT_NAMES = tuple((name, re.compile(rf"\b(?:{words})\b", re.IGNORECASE)) for name, words in _PORT_WORDS.items())
_DEVICE_PORT = re.compile(rf"\b({'|'.join(_PORT_WORDS.values())})\s+(?:charging\s+)?port\b(?!s)", re.IGNORECASE)
_CABLE = re.compile(r"\b(?:cables?|cords?)\b", re.IGNORECASE)
_MULTI_PLUG = re.compile(r"\b\d\s*-?\s*in\s*-?\s*1\b|\bmulti\b", re.IGNORECASE)


def _port_names(text: str) -> list[str]:
    return [name for name, pattern in _PORT_NAMES if pattern.search(text)]


def device_ports(row: dict) -> frozenset[str]:
    """The charging port a device's title or description names ("smartphone with Lightning port"); empty when it
    names none (most real titles) or only "ports" in the plural (a laptop's several)."""
    return frozenset(name for text in _title_and_text(row) for m in _DEVICE_PORT.finditer(text)
                     for name in _port_names(m.group(1)))


def cable_plugs(row: dict) -> frozenset[str]:
    """The plug a cable's title puts into a device: its Lightning, Micro-USB or Mini-USB end where it names one,
    else USB-C; every plug named for a 3-in-1 cable; nothing for an item that is not a cable (a USB-C charger
    charges a Lightning phone through a cable)."""
    title = row.get("title", "") or ""
    if not _CABLE.search(title):
        return frozenset()
    named = _port_names(title)
    legacy = [n for n in named if n != "USB-C"]
    return frozenset(named if _MULTI_PLUG.search(title) or len(legacy) > 1 else legacy or named)


def _mark_ports(flags: PairFlags, a: dict, b: dict, extractor: AttributeExtractor) -> None:
    """A cable next to a device that names its charging port: the same plug is `compatible` ("fits Lightning
    port"), another is `incompatible` ("made for USB-C port, not Lightning": a USB-C cable beside an iPhone SE).
    A fit the cable's title already claims for the device's model stands."""
    if flags.compatible:
        return
    _mark_shared_standard(flags, a, b, extractor, cable_plugs, device_ports, "fits {shared} port",
                          "made for {offered} port, not {accepted}")


# Screen sizes: "15.6-inch", "55 inch", '65"', ranges "37-82 inch", "15-16-inch", "13-inch to 23-inch"
_INCH = r"(?:\s*-?\s*(?:inch(?:es)?|in\b|\"|&quot;))"
_SIZE_RANGE = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,2})?)" + _INCH + r"?\s*(?:-|–|to)\s*(\d{1,3}(?:\.\d{1,2})?)" + _INCH,
                         re.IGNORECASE)
_SIZE = re.compile(r"(?<![\w.\-])(\d{1,3}(?:\.\d{1,2})?)" + _INCH, re.IGNORECASE)
_UP_TO = re.compile(r"\bup\s+to\s+$", re.IGNORECASE)


def size_ranges(phrase: str) -> list[tuple[float, float, float, str]]:
    """Screen sizes a compatibility phrase says an accessory is for, as (loose low, low, high, as written): "37-82
    inch TVs" -> [(37, 37, 82.99, "37-82 inch")]; "13-inch laptops" -> [(12, 13, 13.99, "13-inch")] (a sleeve of one
    size holds a 13.3-inch laptop, and maybe a 12.4-inch one: neither fit nor misfit is claimed between the loose
    low and the low); "up to 17.3 inch" -> [(0, 0, 17.3, "up to 17.3 inch")]; [] when it names none."""
    out, rest = [], phrase or ""
    for m in _SIZE_RANGE.finditer(rest):
        lo, hi = float(m.group(1)), float(m.group(2))
        if lo < hi:
            out.append((lo, lo, hi + 0.99 if hi.is_integer() else hi, _written(m.group(0))))
    rest = _SIZE_RANGE.sub(" ", rest)
    for m in _SIZE.finditer(rest):
        size, written = float(m.group(1)), _written(m.group(0))
        if _UP_TO.search(rest[:m.start()]):
            out.append((0.0, 0.0, size, f"up to {written}"))
        elif size.is_integer():
            out.append((size - 1, size, size + 0.99, written))
        else:
            out.append((size - 1, size - 0.1, size + 0.1, written))
    return out


def _written(text: str) -> str:
    return text.strip().replace("&quot;", '"')


def screen_sizes(title: str) -> frozenset[float]:
    """Sizes a device's title states ("Samsung 65-inch S90C", "Dell XPS 15 9530 Laptop, 15.6-inch")."""
    return frozenset(_stated_sizes(title))


def _stated_sizes(title: str) -> dict[float, str]:
    """`screen_sizes` -> the number as the title writes it (14.0 -> "14.0")."""
    return {float(m.group(1)): m.group(1) for m in _SIZE.finditer(title or "") if 2 <= float(m.group(1)) <= 120}


# A game or film on a disc (as its title or description says) and a player or console without a drive for it
_NEEDS_DISC = re.compile(r"\bphysical disc\b|\bneeds a (?:console|player) with a disc drive\b|"
                         r"\b(?:blu-?ray|dvd|game) disc\b", re.IGNORECASE)
_DISC_MEDIA_LEAF = re.compile(r"\bgames\b|\bmovies\b|\bfilms?\b|\bblu-?ray\b|\bdvds?\b", re.IGNORECASE)
_DISC_PLAYER = re.compile(r"\bconsoles?\b|\bplayers?\b|\bplaystation\b|\bxbox\b", re.IGNORECASE)
_NO_DISC_DRIVE = re.compile(r"\bdigital[- ]only\b|\bno disc drive\b|\bdigital edition\b|\bdisc-?less\b|"
                            r"\ball-digital\b", re.IGNORECASE)


def _mark_disc_drives(flags: PairFlags, a: dict, b: dict, extractor: AttributeExtractor) -> None:
    """A game or film on a disc next to a console or player whose title or description says it has no disc drive
    ("Starfield …, physical disc" and an Xbox Series S, "digital only"): `incompatible`, also where the game's
    phrase names the console's line ("fits PlayStation 5" is dropped for a PlayStation 5 Digital Edition)."""
    if flags.incompatible:
        return
    for acc, dev in ((a, b), (b, a)):
        if not _DISC_MEDIA_LEAF.search(leaf_category(acc.get("category"))) or \
                not _DISC_PLAYER.search(f"{leaf_category(dev.get('category'))} {title_head(dev.get('title', ''))}"):
            continue
        if _says(acc, _NEEDS_DISC) and _says(dev, _NO_DISC_DRIVE) and not _is_device(acc, extractor) \
                and _is_device(dev, extractor):
            flags.incompatible, flags.compatible = True, False
            flags.evidence = [e for e in flags.evidence if not e.startswith("fits ")]
            flags.evidence.append("made for a disc drive, not a digital-only console")
            return


def _title_and_text(row: dict) -> tuple[str, str]:
    """What a catalogue row says of itself: its title and its description ("" where missing)."""
    return row.get("title", "") or "", row.get("text", "") or ""


def _says(row: dict, pattern: re.Pattern) -> bool:
    return any(pattern.search(text) for text in _title_and_text(row))


def _mark_screen_sizes(flags: PairFlags, a: dict, b: dict, extractor: AttributeExtractor) -> None:
    """An accessory whose compatibility phrase gives screen sizes ("TV Wall Mount for 17-42 inch TVs", "Sleeve
    for 13-inch laptops") next to a device whose title states its size: inside a range is `compatible` ("fits
    55-inch"), outside all is `incompatible` ("made for 17-42 inch, not 65-inch")."""
    for acc, dev in ((a, b), (b, a)):  # sizes within a sleeve's loose low claim neither
        phrase = compatibility_phrase(acc.get("title", ""))
        ranges = size_ranges(phrase)
        sizes = _stated_sizes(dev.get("title", "")) if ranges else {}
        if not sizes or _is_device(acc, extractor) or not _is_device(dev, extractor) or \
                not _kinds(phrase) & _kinds(_device_text(dev)):
            continue  # sizes of another kind of device: "fits 15-inch laptops" says nothing of a camera's 3-inch LCD
        inside = [s for s in sizes if any(lo <= s <= hi for _, lo, hi, _ in ranges)]
        near = [s for s in sizes if any(loose <= s <= hi for loose, _, hi, _ in ranges)]
        if inside:
            flags.compatible = True  # the size as the device's title writes it ("14.0-inch", not "14-inch")
            flags.evidence.append(f"fits {sizes[max(inside)]}-inch")
        elif not near and not flags.incompatible:
            flags.incompatible = True
            named = ", ".join(written for *_, written in ranges[:2])
            flags.evidence.append(f"made for {named}, not {max(sizes):g}-inch")
        return


def _mark_card_slots(flags: PairFlags, a: dict, b: dict, extractor: AttributeExtractor) -> None:
    """A memory card next to a device that says which cards it takes: a format in common is `compatible`
    ("fits card slot"; not "SD slot": the slot's format comes from the description, which no title shows), none
    is `incompatible` ("made for CFexpress Type B slots, not SD")."""
    _mark_shared_standard(flags, a, b, extractor, _card_formats_of_a_card, card_slots, "fits card slot",
                          "made for {offered} slots, not {accepted}")


def _mark_incompatible(flags: PairFlags, src: dict, dst: dict, extractor: AttributeExtractor) -> None:
    """`src` says what it is for (its compatibility phrase) and `dst` is a device of a known brand that it is
    not for:

    1. another brand: the phrase names one or two rival device brands and not dst's ("Battery for Nikon EN-EL14"
       next to a Canon EOS Rebel T7: "made for Nikon, not Canon");
    2. another model: the phrase names dst's brand but only models dst is not ("for Canon EOS Rebel T8i, SL3"
       next to a Rebel T7, "Case for iPhone 14" next to an Apple iPhone 13: "made for iPhone 14, not this model"),
       or, when there are no model names to compare, only another product line of that brand than the one dst
       names ("for Apple AirPods" next to an Apple iPhone 13: "made for AirPods, not iPhone").

    Nothing is claimed when the phrase is generic ("for DSLR cameras", "for 2.5 inch drives"), hedges ("and other
    Qi phones", "or Smartphone", "Android", "universal", "etc"), is marketing ("Licensed for Nintendo Switch",
    "Perfect for …"), or names three or more brands (a universal accessory listing examples). Rule 2 is skipped
    when the list of models says it is incomplete ("and more") and for cables and chargers with a standard
    connector (Lightning, USB-C, MagSafe, Qi): they fit every model with that connector. Any shared model name
    (also "GF1" inside "DMC-GF1") means they may well fit.
    `python scripts/measure_coherence.py --data ...` shows how often it fires on bundle, co-bought and random
    pairs."""
    src_title, dst_title = src.get("title", ""), dst.get("title", "")
    phrase = compatibility_phrase(src_title)
    if not phrase or flags.incompatible or _HEDGE.search(phrase) or not _is_device(dst, extractor):
        return
    dst_brands = extractor.brands_of(dst["item_id"], dst_title) - extractor.generic_words
    if not dst_brands:
        return
    named_brands = extractor.makers_named(phrase)
    if not named_brands:
        return
    if not named_brands & dst_brands:
        rivals = sorted(named_brands & extractor.device_brands)
        if rivals and len(named_brands) < 3 and not _MARKETING_FOR.search(src_title):
            flags.incompatible = True
            dst_brand = canonical_brand(extractor.brand(dst["item_id"], dst_title))
            dst_brand = dst_brand if dst_brand in dst_brands else min(dst_brands)
            flags.evidence.append(f"made for {' and '.join(_brand_name(r, phrase) for r in rivals)}, "
                                  f"not {_brand_name(dst_brand, dst.get('brand', ''), dst_title)}")
        return
    if (_CONNECTOR.search(src_title) and _POWER_OR_CABLE.search(src_title)) or _MORE.search(src_title):
        return
    named_models, dst_models = model_names(phrase), model_names(dst_title)
    if named_models and dst_models:
        if _models_may_match(named_models.keys() | model_names(src_title).keys(), dst_models.keys()):
            return  # any shared model name (also "GF1" inside "DMC-GF1") means they may well fit
        flags.incompatible = True
        flags.evidence.append(f"made for {', '.join(list(named_models.values())[:3])}, not this model")
        return
    # no model names to compare: another product line of the same maker ("for iPhone 15" next to AirPods)
    named_lines = {k: v for k, v in _product_lines(phrase).items() if PRODUCT_LINE_BRANDS[k] in dst_brands}
    dst_lines = {k: v for k, v in _product_lines(title_head(dst_title)).items()
                 if PRODUCT_LINE_BRANDS[k] in dst_brands}
    if named_lines and dst_lines and not named_lines.keys() & dst_lines.keys():
        flags.incompatible = True
        flags.evidence.append(f"made for {', '.join(named_lines.values())}, not {', '.join(dst_lines.values())}")


def _restricted_makers(row: dict, extractor: AttributeExtractor) -> tuple[set[str], str]:
    """(device makers, phrase) of an accessory whose compatibility phrase restricts it to one or two makers'
    devices (no hedge, no marketing "Licensed for"); an empty set otherwise."""
    title = row.get("title", "")
    phrase = compatibility_phrase(title)
    if not phrase or _HEDGE.search(phrase) or _MARKETING_FOR.search(title) or _is_device(row, extractor):
        return set(), phrase
    named = extractor.makers_named(phrase)
    makers = named & extractor.device_brands
    return (makers if makers and len(named) < 3 else set()), phrase


def _mark_rival_accessories(flags: PairFlags, a: dict, b: dict, extractor: AttributeExtractor) -> None:
    """Two accessories made for rival makers' devices ("Joy-Con … for Nintendo Switch" and "Starfield - Xbox
    Series X", a "Battery for Canon PowerShot" and a "Mount for GoPro Hero"): no device takes both, so the pair is
    `incompatible` ("made for Nintendo, not Xbox": `b`'s makers, then `a`'s). For one maker, other models of one
    product line (`_mark_rival_models`)."""
    if flags.incompatible:
        return
    (makers_a, phrase_a), (makers_b, phrase_b) = _restricted_makers(a, extractor), _restricted_makers(b, extractor)
    if not makers_a or not makers_b:
        return
    if makers_a & makers_b:
        _mark_rival_models(flags, a, b, phrase_a, phrase_b)
        return
    if makers_a & extractor.brands_of(b["item_id"], b.get("title", "")) or \
            makers_b & extractor.brands_of(a["item_id"], a.get("title", "")):
        return  # a Canon battery "for Nikon": its maker's name says nothing about what it fits
    flags.incompatible = True
    flags.evidence.append(f"made for {_makers_as_named(makers_b, phrase_b)}, not {_makers_as_named(makers_a, phrase_a)}")


def _mark_rival_models(flags: PairFlags, a: dict, b: dict, phrase_a: str, phrase_b: str) -> None:
    """Two accessories for one product line whose phrases list only other models ("Case for iPhone SE" and
    "Screen Protector for iPhone 15 / iPhone 15 Pro"): `incompatible` ("made for iPhone 15, iPhone 15 Pro, not
    iPhone SE"). Skipped for lists that say they are incomplete ("and more") and for cables, chargers and
    adapters (a "25W Charger for Galaxy S24, S23" charges an S23 Ultra too); any shared model name means they may
    well fit."""
    if not _product_lines(phrase_a).keys() & _product_lines(phrase_b).keys():
        return
    title_a, title_b = a.get("title", ""), b.get("title", "")
    if any(_POWER_OR_CABLE.search(t) or _MORE.search(t) for t in (title_a, title_b)):
        return
    models_a, models_b = (_device_models(p) for p in (phrase_a, phrase_b))
    if not models_a or not models_b or _models_may_match(models_a.keys() | model_names(title_a).keys(),
                                                         models_b.keys() | model_names(title_b).keys()):
        return
    flags.incompatible = True
    flags.evidence.append(f"made for {', '.join(list(models_b.values())[:3])}, "
                          f"not {', '.join(list(models_a.values())[:3])}")


def _device_models(phrase: str) -> dict[str, str]:
    """`model_names` of a phrase without lens specs ("f2", "f/2.8G", "35mm", "70-200mm"), which name lenses, not
    the device an accessory fits."""
    return {k: v for k, v in model_names(phrase).items() if not _LENS_SPEC.match(k)}


def _makers_as_named(makers: set[str], phrase: str) -> str:
    """Makers as a phrase names them: the brand where it is written ("Canon EOS Rebel T7" -> "Canon"), else the
    product line ("Xbox Series X" -> "Xbox")."""
    lines = _product_lines(phrase)
    return " and ".join(_brand_name(m, phrase) if _writes(phrase, m) else
                        next((w for k, w in lines.items() if PRODUCT_LINE_BRANDS[k] == m), _brand_name(m, phrase))
                        for m in sorted(makers))


def _product_lines(text: str) -> dict[str, str]:
    """PRODUCT_LINE_BRANDS words in a text, lower-case -> as written."""
    return {w.lower(): w for w in words(text) if w.lower() in PRODUCT_LINE_BRANDS}


def _brand_name(brand: str, *texts: str) -> str:
    """A brand as the texts spell it ("OnePlus", "HP"; "NIKON" -> "Nikon"), else title-cased."""
    for text in texts:
        for w in words(text):
            if w.lower() == brand:
                return w.title() if len(w) > 4 and (w.isupper() or w.islower()) else w
    return brand.title()


def short_name(title: str, max_words: int = 5) -> str:
    """A readable short name: the title up to its first " - ", "(" or "," and at most `max_words` words; a head
    of 3+ words is also cut before " for " / " with " ("Wasabi Power Battery for Canon LP-E6" -> "Wasabi Power
    Battery")."""
    head = re.split(r"\s[-–|]\s|\(|\[|,", title or "", maxsplit=1)[0].strip()
    shorter = re.split(r"\s(?:for|with|compatible with|fits)\s|\sw/", head, maxsplit=1, flags=re.IGNORECASE)[0].strip()
    if len(shorter.split()) >= 3:
        head = shorter
    ws = head.split()
    if not ws:
        return (title or "")[:40]
    kept = [w for w in ws if not _is_quantity(w)]
    name = " ".join(_keep_head_noun(kept if len(kept) >= 2 else ws, max_words))
    # a cut can leave a quote or parenthesis open ('Lipo in a Box "Original', '2) HIFONICS'): drop such marks
    if name.count("(") != name.count(")"):
        name = re.sub(r"\s*[()]\s*", " ", name).strip()
    if quoted_spans(name)[1]:
        name = re.sub(r'(?<!\d)"', "", name).strip()
    return name


def _keep_head_noun(ws: list[str], max_words: int) -> list[str]:
    """The first `max_words` words, but with the item's kind when the cut would drop it: when the words end in
    an accessory noun (the head of the phrase) and none is kept, it takes the last place ("Sanus Advanced Tilt 4D
    TV Wall Mount" -> "Sanus Advanced Tilt 4D Mount", not "... 4D TV"), with the word before it when that is a
    product noun too ("Lens Cap"), provided that drops at most two words, none with a digit (a model number,
    focal length or size tells items apart), and leaves no number without its unit ("13 inch")."""
    if len(ws) <= max_words or max_words < 3 or not _ACCESSORY_WORD.fullmatch(ws[-1]) or \
            any(_ACCESSORY_WORD.fullmatch(w) for w in ws[:max_words]):
        return ws[:max_words]
    def has_digit(words: list[str]) -> bool:
        return any(re.search(r"\d", w) for w in words)

    compound = _ACCESSORY_WORD.fullmatch(ws[-2]) or _DEVICE_WORD.fullmatch(ws[-2])
    size = 2 if compound and not has_digit(ws[max_words - 2:-2]) else 1  # the tail: "Lens Cap" or "Mount"
    head, dropped = ws[:max_words - size], ws[max_words - size:-size]
    if len(dropped) > 2 or has_digit(dropped) or re.fullmatch(r"[\d.,/+x-]+", head[-1]):
        return ws[:max_words]  # the noun is far off, or the cut would lose a model number or a size's unit
    return head + ws[-size:]


_SPEC_UNITS = frozenset({"mp", "inch", "k", "p", "gbps", "mbps", "hz", "ghz", "mhz", "fps"})


def _is_quantity(word: str) -> bool:
    """A spec word a short name can do without ("24.1MP", "13-inch", "8K", "48Gbps"); a capacity or focal
    length ("64GB", "26mm") names the item and a model number ("EN-EL25", "Z50") is not a quantity."""
    m = _QUANTITY.fullmatch(word.strip(",;:"))
    return bool(m and m.group(2) and _UNITS[m.group(2).lower()] in _SPEC_UNITS)


# What an accessory does for a device, by its leaf category or the head of its title (first match wins; the
# leaf is tried first, so a "Case Logic" bag in "Camera Bags" carries, it does not protect).
JOINT_USE = (
    (re.compile(r"\bscreen protectors?\b|\btempered glass\b", re.IGNORECASE), "protects the screen of"),
    (re.compile(r"\bbags?\b|\bbackpacks?\b|\bstraps?\b|\bholsters?\b", re.IGNORECASE), "carries"),
    (re.compile(r"\bcases?\b|\bcovers?\b|\bsleeves?\b|\bskins?\b|\bshells?\b", re.IGNORECASE), "protects"),
    (re.compile(r"\bbatter(?:y|ies)\b|\bpower banks?\b|\bbattery grips?\b", re.IGNORECASE), "powers"),
    (re.compile(r"\bchargers?\b|\bcharging\b|\bpower (?:supply|supplies|adapters?)\b", re.IGNORECASE), "charges"),
    (re.compile(r"\bmemory cards?\b|\b(?:micro\s?)?sd(?:hc|xc)?\b|\bcompactflash\b|\bcfexpress\b|\bflash cards?\b",
                re.IGNORECASE), "stores the photos and files of"),
    (re.compile(r"\bhard drives?\b|\bssds?\b|\bflash drives?\b|\bdata storage\b", re.IGNORECASE), "stores the files of"),
    (re.compile(r"\blens hoods?\b|\bfilters?\b|\blens caps?\b", re.IGNORECASE), "protects the lens of"),
    (re.compile(r"\bflash(?:es)?\b|\bspeedlites?\b|\bvideo lights?\b|\bled lights?\b", re.IGNORECASE), "lights the shots of"),
    (re.compile(r"\btripods?\b|\bmonopods?\b|\bgimbals?\b|\bstands?\b|\bmounts?\b|\bholders?\b|\bdocks?\b", re.IGNORECASE),
     "holds"),
    (re.compile(r"\blens(?:es)?\b", re.IGNORECASE), "adds a lens to"),
    (re.compile(r"\bcables?\b|\bcords?\b|\badapters?\b|\bhubs?\b|\bsplitters?\b", re.IGNORECASE), "connects"),
    (re.compile(r"\bremotes?\b|\bcontrollers?\b|\bkeyboards?\b|\bmice\b|\bmouse\b|\btrackpads?\b", re.IGNORECASE), "controls"),
    (re.compile(r"\bheadphones\b|\bearbuds\b|\bearphones\b|\bspeakers?\b|\bsoundbars?\b|\bheadsets?\b", re.IGNORECASE),
     "plays the sound of"),
    (re.compile(r"\bcleaning\b|\bcleaners?\b|\bblowers?\b", re.IGNORECASE), "cleans"),
    (re.compile(r"\bcoolers?\b|\bcooling\b|\bfans?\b|\bthermal paste\b|\bheatsinks?\b", re.IGNORECASE), "cools"),
)


def joint_use(row: dict) -> str:
    """What this item does for a device ("powers", "protects", ...; "" for a device or an unknown kind)."""
    title, category = row.get("title", "") or "", tuple(row.get("category", ()) or ())
    if looks_like_device(title, category):
        return ""
    head = short_name(title, max_words=12)
    for text in (leaf_category(category), head):
        for pattern, verb in JOINT_USE:
            if text and pattern.search(text):
                return verb
    return ""


def _device_text(row: dict) -> str:
    return f"{leaf_category(row.get('category'))} {short_name(row.get('title', ''), max_words=12)}"


def _device_words(text: str) -> set[str]:
    return {m.group(0).lower().rstrip("s") for m in _DEVICE_WORD.finditer(text)}


def _device_kinds(row: dict) -> set[str]:
    return _device_words(_device_text(row))


_KIND_SYNONYMS = {"notebook": "laptop", "hdtv": "tv", "television": "tv", "ultrabook": "laptop", "chromebook": "laptop"}


def _kinds(text: str) -> set[str]:
    """The device words of a text as one kind each ("Laptops", "notebook" -> "laptop"; "HDTVs" -> "tv")."""
    return {_KIND_SYNONYMS.get(word, word) for word in _device_words(text)}


def _serves(accessory: dict, device: dict, reasons: list[str]) -> bool:
    """Whether `accessory` is made for `device`: `device` is a device and the fit evidence says so, or the
    accessory's title or category names the device's kind (a "Camera Bag" and a "Digital SLR Camera")."""
    device_title = device.get("title", "") or ""
    if not looks_like_device(device_title, tuple(device.get("category", ()) or ())) or any(
            pattern.search(short_name(device_title, max_words=12)) for pattern, _ in JOINT_USE):
        return False  # a "GoPro Helmet Front Mount" is made for a device, it is not one
    if reasons:
        return True
    acc_text = f"{accessory.get('title', '')} {' '.join(accessory.get('category', ()) or ())}".lower()
    return any(re.search(rf"\b{re.escape(kind)}s?\b", acc_text) for kind in _device_kinds(device))


def _both_fit(a: dict, b: dict, reason: str) -> bool:
    """Whether the models of a "fits …" reason are named by both titles' compatibility phrases."""
    models = model_names(reason).keys() if reason.startswith("fits ") else set()
    return bool(models) and all(models <= model_names(compatibility_phrase(row.get("title", ""))).keys()
                                for row in (a, b))


def grounded_explanation(a: dict, b: dict, flags: PairFlags, intent: str = "",
                         bought_together: bool = False, extractor: AttributeExtractor | None = None) -> str:
    """One or two sentences built only from the two titles, their categories, the matched evidence and the
    bundle intent: nothing that is not in the data. The reason comes first: what the accessory does for the
    device (`joint_use`: "The Wasabi Power Battery powers the Canon EOS Rebel T7") and the fit evidence ("it fits
    the Rebel T7"); else "B goes with A" with the shared brand or model. An intent that adds no fact absent from
    the titles and categories is given as the purpose; "Shoppers bought them together" only when
    `bought_together` (a recommended pair is not a bought pair). With `extractor`, an intent naming a catalogue
    brand the pair is not of is left out even when the brand is written in lower case."""
    return grounded_explanation_stating(a, b, flags, intent, bought_together, extractor)[0]


def grounded_explanation_stating(a: dict, b: dict, flags: PairFlags, intent: str = "", bought_together: bool = False,
                                 extractor: AttributeExtractor | None = None) -> tuple[str, bool]:
    """(`grounded_explanation`, whether it states a reason: `template_states_reason`), composed once."""
    first, stated = _template_reason(a, b, flags)
    sentence = first + "."
    intent = (intent or "").strip().rstrip(".")
    if bought_together:
        sentence += f" Shoppers bought them together for \"{intent}\"." if intent else " Shoppers bought them together."
        return sentence, stated
    known = (f"{a.get('title', '')} {b.get('title', '')} "
             f"{' '.join(a.get('category', ()) or ())} {' '.join(b.get('category', ()) or ())}")
    purpose = sentence_case_dropped(intent, known)
    if purpose and len(purpose.split()) <= MAX_PURPOSE_WORDS and not unsupported_facts(purpose, known, extractor):
        sentence += f" Together they serve \"{purpose}\"."
    return sentence, stated


MAX_PURPOSE_WORDS = 12  # a longer crowd intent is a shopping list, not a purpose


def _template_reason(a: dict, b: dict, flags: PairFlags) -> tuple[str, bool]:
    """(the template's first clause, whether it states a reason): what one item does for the other
    (`joint_use`) or the fit evidence; "B goes with A", alone or with a shared brand, states none."""
    name_a, name_b = short_name(a.get("title", "")), short_name(b.get("title", ""))
    leaf_b = leaf_category(b.get("category"))
    # evidence against the pair ("made for Nikon, not Canon") is never a reason it goes with the other item
    # the most specific first: "fits E mount" says more than "made for Sony"
    reasons = [] if flags.incompatible else sorted(
        (e for e in flags.evidence if e.startswith(("fits", "made for")) and ", not " not in e),
        key=lambda e: not e.startswith("fits"))
    shared = [e for e in flags.evidence if e.startswith("both")]
    use_b, use_a = joint_use(b), joint_use(a)
    stated, named_last = bool(reasons), a
    if use_b and not flags.incompatible and _serves(b, a, reasons):
        first, stated = f"The {name_b} {use_b} the {name_a}", True
    elif use_a and not flags.incompatible and _serves(a, b, reasons):
        first, stated, named_last = f"The {name_a} {use_a} the {name_b}", True, b
    else:
        first = f"The {name_b}" + (f" ({leaf_b.lower()})" if leaf_b else "") + f" goes with the {name_a}"
    if reasons and _both_fit(a, b, reasons[0]):  # two accessories of one device: a case and a screen protector
        first += f"; both fit the {reasons[0].removeprefix('fits ')}"
    elif reasons and reasons[0].startswith("made for") and \
            _writes(compatibility_phrase(named_last.get("title", "")), reasons[0].removeprefix("made for ")):
        first += f", which is {reasons[0]}"  # "… goes with the Starfield, which is made for Xbox"
    elif reasons and (size := re.fullmatch(r"fits ([\d.]+-inch)", reasons[0])):
        first += f": it fits a {size.group(1)} screen"
    elif reasons:
        first += f": it {reasons[0].replace('fits', 'fits the').replace('made for', 'is made for')}"
    elif shared:
        first += f"; {shared[0]}"
    return first, stated


def _writes(text: str, name: str) -> bool:
    """Whether `text` has the one-word `name` (a brand or product line) as a word, in any case."""
    return name.lower() in {w.lower() for w in words(text)}


def template_states_reason(a: dict, b: dict, flags: PairFlags) -> bool:
    """Whether `grounded_explanation` of the pair says why the two go together (what one does for the other, or
    the fit evidence) rather than only "B goes with A"."""
    return _template_reason(a, b, flags)[1]


def sentence_case_dropped(text: str, known: str = "") -> str:
    """`text` with its first word lower-cased when only its place capitalises it ("Home office ..." -> "home
    office ..."), so that a quoted crowd intent does not read as naming a brand; a word `known` spells
    capitalised ("Nikon photographer ...") or an acronym is kept."""
    head, _, rest = (text or "").partition(" ")
    if not head or not head[0].isupper() or head.isupper() or not head[1:].islower():
        return text or ""
    if any(w == head for w in words(known)):
        return text
    return f"{head[0].lower()}{head[1:]}" + (f" {rest}" if rest else "")


# ---------------------------------------------------------------- grounding check
# Quantities: a number and its unit ("128GB", "6.1-inch", "400 W", "4K"); a unit is normalised ("inches" -> inch).
_UNITS = {"gb": "gb", "mb": "mb", "tb": "tb", "kb": "kb", "mm": "mm", "cm": "cm", "m": "m", "meter": "m",
          "meters": "m", "w": "w", "watt": "w", "watts": "w", "mah": "mah", "ah": "ah", "ft": "ft", "feet": "ft",
          "foot": "ft", "mp": "mp", "megapixel": "mp", "megapixels": "mp", "x": "x", "hz": "hz", "mhz": "mhz",
          "ghz": "ghz", "in": "inch", "inch": "inch", "inches": "inch", "v": "v", "volt": "v", "volts": "v", "k": "k",
          "p": "p", "pack": "pack", "packs": "pack", "pk": "pack", "bit": "bit", "mbps": "mbps", "gbps": "gbps",
          "oz": "oz", "lb": "lb", "lbs": "lb", "g": "g", "kg": "kg", "ml": "ml", "l": "l", "pcs": "pc", "pc": "pc",
          "piece": "pc", "pieces": "pc", "port": "port", "ports": "port", "rpm": "rpm", "db": "db", "hours": "hour",
          "hour": "hour", "hrs": "hour", "years": "year", "year": "year", "fps": "fps", "mph": "mph", "ch": "ch",
          "channel": "ch", "channels": "ch", "cell": "cell", "cells": "cell"}
_QUANTITY = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)(?:\s?-?\s?(" + "|".join(
    sorted(_UNITS, key=len, reverse=True)) + r"))?(?![A-Za-z0-9])", re.IGNORECASE)
# Words an explanation may capitalise without naming a brand (sentence starts, the templates' own words).
EXPLANATION_WORDS = frozenset([
    "the", "this", "these", "that", "those", "it", "its", "they", "their", "them", "both", "each", "a", "an", "and",
    "or", "but", "so", "use", "with", "for", "together", "shoppers", "pair", "add", "keep", "when", "if", "you",
    "your", "goes", "go", "fits", "fit", "powers", "protects", "carries", "charges", "stores", "holds", "adds",
    "lights", "connects", "controls", "plays", "cleans", "cools", "made", "is", "are", "also", "great", "perfect",
    "lens", "screen", "sound", "shots", "photos", "files",
    "ideal", "one", "two"])
# lower case, capitalised at a sentence or quote start, or "Fits the": "SanDisk Cruzer Fit" and "Battery Compatible
# with Nikon" are names
_FIT_CLAIM = re.compile(r"\b(?:fits?|fitting|compatible|works with|made for|designed for|for use with)\b"
                        r"|(?:^|[.:;!?]\s+|[\"'(])(?:Fits?|Fitting|Compatible|Works [Ww]ith|Made [Ff]or|Designed [Ff]or"
                        r"|For [Uu]se [Ww]ith)\b|\b(?:Fits?|FITS?)\s+(?:the|The|THE)\b")
_FIT_NEGATION = re.compile(r"\b(?:not|never|cannot|can't|won't|doesn't|don't|isn't|aren't|no longer)\s+(?:\w+\s+){0,2}?"
                           r"(?:fit|fits|compatible|work|works|made for|designed for)\b|\bincompatible\b", re.IGNORECASE)
_SHOPPERS_CLAIM = re.compile(r"\b(?:shoppers|customers|buyers|people|users)\b[^.]{0,40}?\b(?:bought|buy|buys|"
                             r"purchased|purchase|ordered|order)\b|\b(?:bought|purchased|ordered)\s+(?:them|these|"
                             r"both|it|this pair)?\s*together\b|\bfrequently bought\b", re.IGNORECASE)


def _quantities(text: str) -> tuple[set[str], set[str]]:
    """(numbers, number+unit keys) of a text: "64GB and 2 pack" -> ({"64", "2"}, {"64gb", "2pack"})."""
    numbers, keys = set(), set()
    for m in _QUANTITY.finditer(text or ""):
        number = m.group(1)
        numbers.add(number)
        if m.group(2):
            keys.add(number + _UNITS[m.group(2).lower()])
    return numbers, keys


def unsupported_facts(text: str, known: str, extractor: AttributeExtractor | None = None) -> list[str]:
    """Facts `text` adds that `known` does not have: model tokens, numbers and quantities (a number with its
    unit), capitalised brand-like words, and (with an extractor) the catalogue's brands."""
    allowed = {w.lower() for w in words(known)}
    allowed_models = model_tokens(known)
    out = {m for m in model_tokens(text) if m not in allowed_models}
    known_numbers, known_keys = _quantities(known)
    for m in _QUANTITY.finditer(text or ""):
        number = m.group(1)
        if m.group(2):
            key = number + _UNITS[m.group(2).lower()]
            if key not in known_keys:
                out.add(key)
        elif number not in known_numbers and number not in allowed:
            out.add(number)
    for w in words(text):
        if not w[0].isupper() or any(c.isdigit() for c in w):
            continue
        parts = [p for p in re.split(r"[-/.+]", w.lower()) if p]
        if w.lower() in allowed or all(p in allowed or p in _STOPWORDS or p in EXPLANATION_WORDS for p in parts):
            continue
        out.add(w.lower())
    if extractor is not None:  # a multi-word brand ("wasabi power") is supported when the known text names it
        known_brands = extractor.brands_in(known)
        out.update(b for b in extractor.brands_in(text) if b not in allowed | known_brands | EXPLANATION_WORDS)
    return sorted(out)


def repeats_itself(text: str, n: int = 3) -> bool:
    """Whether a run of `n` words occurs twice: the degenerate output of a small LM ("24.2MP Full-Frame Mirrorless
    24.2MP Full-Frame Mirrorless …", "X goes with X")."""
    ws = [w.lower() for w in words(text)]
    grams = [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)]
    return len(grams) != len(set(grams))


def without_category_tags(text: str, leaves: Sequence[str]) -> str:
    """`text` without a "[Leaf]" tag of either item's leaf category: the teacher's prompt writes each title with
    its leaf in brackets, and a teacher (and so a student trained on it) copies the tag into the sentence ("… VGA
    Cable [Connectors & Adapters] for …"), also in the singular ("[External Battery Pack]"). Other brackets ("[2
    Pack]") stay."""
    for leaf in {leaf.strip() for leaf in leaves if leaf and leaf.strip()}:
        forms = {leaf, leaf + "s", leaf + "es", re.sub(r"(?i)s$", "", leaf), re.sub(r"(?i)es$", "", leaf)}
        alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        # a title the prompt cut after "for" leaves the word dangling before the tag ("… Wall Mount for [Mounts] is")
        text = re.sub(r"(?:\s+(?:for|with|and|to|of|in)\b)?\s*\[\s*(?:" + alternatives + r")\s*\]", "", text,
                      flags=re.IGNORECASE)
    return text


def quoted_spans(text: str) -> tuple[list[tuple[int, int]], bool]:
    """The (start, end) of each quoted phrase of `text` (inside the marks) and whether a quote is left open. A "
    right after a digit is an inch mark (13.3") unless a quote is open, where it closes it ("a laptop of 13.3")."""
    spans, start = [], None
    for m in re.finditer('"', text):
        if start is None and m.start() and text[m.start() - 1].isdigit():
            continue
        if start is None:
            start = m.end()
        else:
            spans.append((start, m.start()))
            start = None
    return spans, start is not None


def unfinished(text: str) -> bool:
    """Whether a sentence was cut off (an LM stopped at its token budget): it does not end in ".", "!" or "?" (a
    closing quote or parenthesis may follow), or it leaves a quote or parenthesis open (`quoted_spans`: an inch
    mark, 13.3", is not a quote)."""
    text = text.strip()
    return (not re.search(r"[.!?][\"')]*$", text) or quoted_spans(text)[1]
            or text.count("(") != text.count(")"))


@dataclass
class Grounding:
    """Result of the grounding check: which items the sentence names, the facts it adds from nowhere, and the
    claims the evidence contradicts."""

    names_query: bool
    names_target: bool
    unsupported: list[str]  # model tokens, quantities and brand-like words absent from everything it may use
    contradicted: list[str] = field(default_factory=list)  # "fit claimed, but made for Nikon, not Canon", ...
    cut_off: bool = False  # `unfinished`: what it would have said is unknown

    @property
    def grounded(self) -> bool:
        return (self.names_query and self.names_target and not self.unsupported and not self.contradicted
                and not self.cut_off)


def _significant(text: str) -> set[str]:
    return {w.lower() for w in words(text) if len(w) >= 4 and w.lower() not in _STOPWORDS}


_TYPE_LABEL = re.compile(r"\(([^()]{1,40})\)")
_IS_A = re.compile(r"\b(?:is|are) (?:an?|the) ([a-z][\w-]*(?:\s[a-z][\w-]*){0,3}?)(?=[.,;:!?]|$|\s(?:that|which|for|with|and|to|of)\b)")
_CLAUSE_START = re.compile(r"[.:;!?]\s|,\s|\band\s|\bwhich\s|\bthat\s")
# what follows "is a" without naming a type: praise and roles
_NOT_A_TYPE = frozenset(["fit", "match", "choice", "pair", "companion", "addition", "must-have", "option", "pick",
                         "solution", "combination", "combo", "complement", "partner", "way", "idea", "deal", "buy",
                         "upgrade", "spare", "backup", "replacement", "alternative", "essential", "favorite"])
_NAME_START = re.compile(r"(?:^|\b[Tt]he\s|[.:;]\s)")


# a fit verb in lower case, or capitalised at a sentence start: "Cruzer Fit 4GB" is a product name, not a claim
_FIT_OBJECT = re.compile(r"(?:\b(?:fits?|fitting|compatible with|works with|made for|designed for)"
                         r"|(?:^|[.:;!?]\s+)(?:Fits?|Compatible [Ww]ith|Works [Ww]ith|Made [Ff]or|Designed [Ff]or))"
                         r"\s+((?:[^.;:,]|\.(?=\d))+)")


# what an item does for a named device: "for charging the iPhone SE", "it protects the iPhone 14"
_USE_OBJECT = re.compile(r"\b(?:charg(?:es|ing|e)|powers?|powering|protects?|protecting|holds?|holding|connects?|"
                         r"connecting)\s+(?:the\s+|an?\s+|your\s+)?((?:[^.;:,]|\.(?=\d))+)", re.IGNORECASE)


def misnamed_fits(explanation: str, flags: PairFlags, query_title: str, target_title: str) -> list[str]:
    """Models a fit claim names that one item's compatibility phrase lists but the pair does not: "it fits the
    iPhone 14" for a case "for iPhone 14 / iPhone 13" shown with an iPhone 13. A model after "fits"/"compatible
    with"/"made for" is wrong when one title's compatibility phrase lists it and neither the other title, nor the
    fit evidence, nor both titles name it (a model in neither title is an unsupported fact, `unsupported_facts`).
    The same for a use claim ("for charging the iPhone SE" for a USB-C cable shown with a case for the iPhone SE:
    nothing says the cable charges it)."""
    evidence = "; ".join(e for e in flags.evidence if e.startswith(("fits", "made for")))
    query, target = model_names(query_title).keys(), model_names(target_title).keys()
    shared = _model_parts(model_names(evidence).keys() | (query & target))
    listed: set[str] = set()
    for own, other in ((query_title, target), (target_title, query)):
        listed |= _model_parts(model_names(compatibility_phrase(own)).keys()) - _model_parts(other) - shared
    out = []
    for claim, pattern in (("fit", _FIT_OBJECT), ("use", _USE_OBJECT)):
        for m in pattern.finditer(explanation):
            wrong = [name for key, name in model_names(m.group(1)).items()
                     if (parts := _model_parts({key})) & listed and not parts & shared]
            if wrong:
                out.append(f"{claim} claimed for {', '.join(wrong)}, which is not this pair's"
                           + (f" ({evidence})" if evidence else ""))
    return out


def _named_items(explanation: str, start: int, query: tuple[str, str], target: tuple[str, str]) -> list:
    """The item named just before `start`: the one whose title shares more words with the name (both if unclear)."""
    name = _significant(_NAME_START.split(explanation[:start])[-1])
    overlap = [len(name & _significant(title)) for title, _ in (query, target)]
    return [query, target] if overlap[0] == overlap[1] else [query if overlap[0] > overlap[1] else target]


def mislabelled_types(explanation: str, query: tuple[str, str], target: tuple[str, str]) -> list[str]:
    """Types the item named just before them does not have: `query` and `target` are (title, category path
    text). A type in parentheses ("The Apple AirPods Pro (bags)") must occur in the named item's title or
    category path (either item's when the name is unclear); "is a <type>" or "is the <type>" is wrong when the
    subject of its clause names one item only and the type's last word (singular or plural) is in the other
    item's title or category path and not in its own ("The Samsung 43-inch Smart TV is a wall mount": an LM
    swapping the two; "is a spare", "is a perfect fit" name no type)."""
    out = []
    quotes = quoted_spans(explanation)[0]
    for m in _TYPE_LABEL.finditer(explanation):
        if any(a <= m.start() < b for a, b in quotes):  # part of a quoted intent: "Accessories for the ... (M3)"
            continue
        label, items = m.group(1).strip().lower(), _named_items(explanation, m.start(), query, target)
        if not any(label in f"{title} {category}".lower() for title, category in items):
            out.append(f"type ({label}) is not {'either item' if len(items) == 2 else repr(items[0][0][:40])}'s")
    for m in _IS_A.finditer(explanation):
        head = _singular(m.group(1).split()[-1].lower())
        subject = _significant(_CLAUSE_START.split(explanation[:m.start()])[-1])
        named = [item for item in (query, target) if subject & _significant(item[0])]
        if len(named) != 1 or head in _NOT_A_TYPE:  # both or neither named: whose type is unclear
            continue
        other = target if named[0] is query else query
        has = [head in {_singular(w.lower()) for w in words(f"{title} {category}")} for title, category in (named[0], other)]
        if has[1] and not has[0]:
            out.append(f"called a {m.group(1)}, which is {other[0][:40]!r}, not {named[0][0][:40]!r}")
    return out


# head nouns of leaf categories that are verbs or plain nouns of a reason ("it controls", "to power", "a set")
_NOT_A_PRODUCT_TYPE = frozenset([
    "accessory", "electronic", "computer", "supply", "part", "product", "other", "general", "audio", "video",
    "photo", "photography", "digital", "wireless", "portable", "home", "office", "control", "light", "lighting",
    "mount", "stand", "cover", "charge", "play", "hold", "store", "storage", "power", "protect", "connect", "clean",
    "cleaning", "cool", "cooling", "carry", "set", "kit", "pack", "unit", "system", "device", "service", "plan",
    "point", "up", "on", "out", "work", "show", "front", "material", "security", "studio", "travel", "gift", "tool",
    "gear", "care", "more", "men", "women", "boy", "girl", "kid", "baby", "big", "novelty", "screen", "head", "tip",
    "memory", "media", "box", "station", "drive", "casual", "wear", "top", "bottom", "size", "fashion", "down",
    "available", "sport", "action", "religious", "arrival", "dream", "blend", "piece", "intimate", "background",
    "component"])
# a whole word (not part of "T-Shirt" or "4K"), and whether "of" follows it: "protects the lens of the Canon 7D"
# names a part of the item after it, not another item
_WHOLE_WORD = re.compile(r"(?<![\w-])([A-Za-z]+)(?![\w-])(\s+of\b)?")


def leaf_types(leaves, titles=None) -> frozenset[str]:
    """The product types of a catalogue: the head noun (last word) of each leaf category name and of each of its
    "&"/","-joined parts, singular, when it is a plural as category names write types ("Camera Batteries" ->
    battery, "Bags & Cases" -> bag, case); a singular head is a modifier or a word of a reason ("TV Ceiling & Wall
    Mounts", "Walking", "Petite"). With `titles` (one per leaf, the items'), a one-word leaf that more than half of
    its items' titles start with is a brand's shelf ("Skechers", "adidas"), not a type."""
    leaves = list(leaves)
    out = set()
    for leaf in set(leaves) - _brand_shelves(leaves, titles):
        for part in re.split(r"&|,|\band\b", leaf or ""):
            found = re.findall(r"[A-Za-z]{3,}", part)
            if found and found[-1].lower().endswith("s") and not found[-1].lower().endswith("ss"):
                out.add(_singular(found[-1].lower()))
    return frozenset(out - _NOT_A_PRODUCT_TYPE)


def _brand_shelves(leaves: list, titles) -> set:
    if titles is None:
        return set()
    starts, sizes = Counter(), Counter()
    for leaf, title in zip(leaves, titles):
        if leaf and len(words(leaf)) == 1:
            sizes[leaf] += 1
            head = words(title or "")[:1]
            starts[leaf] += bool(head) and head[0].lower() == leaf.lower()
    return {leaf for leaf, n in sizes.items() if starts[leaf] * 2 > n}


def foreign_types(explanation: str, known: str, types: frozenset[str]) -> list[str]:
    """Product types in `types` that `explanation` names (singular or plural, not as a part: "the lens of") and
    `known` does not have."""
    def forms(word: str) -> set[str]:  # "hoodies" -> hoodie (cut "s") and hoody (_singular)
        word = word.lower()
        return {word, _singular(word)} | ({word[:-1]} if word.endswith("s") else set())

    have = {f for w in re.findall(r"[A-Za-z]+", known) for f in forms(w)}
    out = []
    for m in _WHOLE_WORD.finditer(explanation):
        named = forms(m.group(1)) & types
        if named and not m.group(2) and not forms(m.group(1)) & have:
            out.append(f"names a type neither item is: {min(named, key=len)}")
    return list(dict.fromkeys(out))


# singulars that end in s, and the plurals of three of them that the -es rule below would get wrong
_IRREGULAR_SINGULAR = {w: w for w in ("lens", "series", "species", "chassis", "news", "canvas", "gas", "bias", "atlas",
                                      "christmas")} | {"lenses": "lens", "buses": "bus", "styluses": "stylus"}


def _singular(word: str) -> str:
    """"batteries" -> "battery", "lenses" -> "lens", "purses" -> "purse", "mounts" -> "mount"; "glass", "lens" and
    "series" stay."""
    if word in _IRREGULAR_SINGULAR:
        return _IRREGULAR_SINGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if re.search(r"(?:ss|x|ch|sh)es$", word):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith(("ss", "us", "is")) else word


# what a sentence may say one of the pair does for the other, and the words of a title or category path that
# make an item able to do it: "for a convenient storage solution" needs a card, a drive or a bag in the pair
_FUNCTION_CLAIMS = (
    ("storage", re.compile(r"\b(?:storage|storing|stores?|stored)\b", re.IGNORECASE),
     ("card", "memory", "storage", "drive", "ssd", "sdxc", "sdhc", "microsd", "cfexpress", "flash", "bag",
      "backpack", "case", "sleeve", "pouch", "organizer", "box", "cabinet", "shelf", "rack")),
    ("power or charging", re.compile(r"\b(?:power (?:source|supply)|backup power|battery life|recharg\w*|"
                                     r"charg(?:e|es|ed|ing|er|ers))\b", re.IGNORECASE),
     ("batter", "charg", "cable", "adapter", "power", "magsafe", "dock", "lightning", "solar")),
    ("protection", re.compile(r"\bprotect\w*", re.IGNORECASE),
     ("case", "cover", "protector", "sleeve", "bag", "film", "glass", "shell", "skin", "guard", "backpack",
      "pouch", "filter", "bumper", "folio", "holster", "cap")),
)


def unsupported_functions(explanation: str, known: str) -> list[str]:
    """What the sentence says an item of the pair does (stores, powers or charges, protects) when no word of
    `known` (the two titles and category paths) names an item that can, or says it itself ("Accident
    Protection Plan"): "The Canon LP-E10 Battery is useful with the Canon EOS Rebel T7 for a convenient and
    portable storage solution"."""
    have = [w.lower() for w in re.findall(r"[A-Za-z]+", known)]
    return [f"claims {function}, which neither item provides"
            for function, claim, able in _FUNCTION_CLAIMS
            if claim.search(explanation) and not claim.search(known) and not any(w.startswith(able) for w in have)]


def grounding(explanation: str, query_title: str, target_title: str, extractor: AttributeExtractor | None = None,
              intent: str = "", context: str = "", flags: PairFlags | dict | None = None,
              bought_together: bool = False, categories: tuple[str, str] | None = None) -> Grounding:
    """Check that `explanation` names both items, adds no brand, model or quantity, contradicts no evidence and
    was not cut off (see the module docstring).

    `context`: other facts from the data the sentence may use (e.g. the two category paths). `flags`: the pair's
    PairFlags (or their dict): a claim of fit is contradicted when they say incompatible, or when it names a model
    one title's compatibility phrase lists that is not the pair's (`misnamed_fits`). `bought_together`:
    whether shoppers did buy this pair together (a claim that they did is rejected otherwise). `categories`: the
    two items' category path texts, facts the sentence may use; a type in parentheses or after "is a" must
    then be the named item's (`mislabelled_types`)."""
    known = f"{query_title} {target_title} {intent} {context} {' '.join(categories or ())}"
    explanation_models = model_tokens(explanation)

    def names(title: str) -> bool:
        return bool(_significant(title) & _significant(explanation)) or bool(model_tokens(title) & explanation_models)

    if isinstance(flags, dict):
        flags = PairFlags.from_dict(flags)
    contradicted = []
    if _FIT_NEGATION.search(explanation):
        contradicted.append(f"negation about fit: {_FIT_NEGATION.search(explanation).group(0)!r}")
    elif flags is not None and flags.incompatible and _FIT_CLAIM.search(explanation):
        against = next((e for e in flags.evidence if ", not " in e), "incompatible")
        contradicted.append(f"fit claimed, but {against}")
    elif flags is not None:
        contradicted += misnamed_fits(explanation, flags, query_title, target_title)
    if not bought_together and _SHOPPERS_CLAIM.search(explanation):
        contradicted.append("claims shoppers bought this pair together")
    for quote in (explanation[a:b] for a, b in quoted_spans(explanation)[0]):
        if quote.strip().lower() not in known.lower():
            contradicted.append(f'quotes "{quote.strip()}", which is not in the data')
    if categories is not None:
        contradicted += mislabelled_types(explanation, (query_title, categories[0]), (target_title, categories[1]))
    pair_text = f"{query_title} {target_title} {' '.join(categories or ())}"  # not the intent: it is the bundle's
    contradicted += unsupported_functions(explanation, pair_text)
    if extractor is not None:
        contradicted += foreign_types(explanation, f"{pair_text} {context}", extractor.leaf_types)
    return Grounding(names(query_title), names(target_title), unsupported_facts(explanation, known, extractor),
                     contradicted, unfinished(explanation))


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
