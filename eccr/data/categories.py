"""Parsing category paths as the sources write them.

The bundle-intent files write paths as unquoted nested lists, `[[Electronics,Camera & Photo,Lenses]]`, possibly
several (`[[a,b],[c,d]]`), and names may themselves contain commas: `[[Clothing, Shoes & Jewelry,Women]]`,
`Novelty, Costumes & More`. Amazon separates levels with a bare comma and writes commas inside names with a
following space, so a comma followed by a space belongs to the name. Quoted names (`['a, b', 'c']`, as Python
prints a list) are taken as quoted, and HTML entities (`&amp;`) are decoded after splitting.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence

_LEVEL_SEPARATOR = re.compile(r",(?! )")
# a name quoted as Python/JSON writes a list of strings: 'Men\'s' or "Men's"
_QUOTED_NAME = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")


def parse_category_paths(raw: str) -> list[list[str]]:
    """`[[a,b],[c, d,e]]` -> [["a", "b"], ["c, d", "e"]]. Empty or `[[]]` -> []."""
    text = (raw or "").strip()
    if not text:
        return []
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].strip()
    paths: list[list[str]] = []
    for chunk in _split_paths(text):
        if chunk.lstrip()[:1] in ("'", '"'):  # str() of a Python list: ['Clothing, Shoes & Jewelry', 'Women']
            names = [(a or b).replace("\\'", "'").replace('\\"', '"') for a, b in _QUOTED_NAME.findall(chunk)]
        else:
            names = _LEVEL_SEPARATOR.split(chunk)
        names = [html.unescape(n.strip().strip("'\"")).strip() for n in names]  # entities decoded after splitting
        names = [n for n in names if n]
        if names:
            paths.append(names)
    return paths


def _split_paths(text: str) -> list[str]:
    """Split `[a,b],[c,d]` into its bracketed chunks; a bare `a,b` is one chunk."""
    if "[" not in text:
        return [text]
    chunks, depth, start = [], 0, None
    for i, ch in enumerate(text):
        if ch == "[":
            if depth == 0:
                start = i + 1
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0 and start is not None:
                chunks.append(text[start:i])
                start = None
    return chunks


def parse_category_string(raw: str, separator: str = " > ") -> list[str]:
    """A single path written with a separator, e.g. `Hobbies > Model Trains > Trains`."""
    return [p.strip() for p in (raw or "").split(separator) if p.strip() and p.strip().upper() != "NA"]


def leaf_category(path: Sequence[str] | None) -> str:
    """The last, most specific level of an item's category path ("" when it has none). Items compare by it for
    "same leaf" (substitutes, the category-pair prior, the explanation facts)."""
    return str(path[-1]) if path is not None and len(path) else ""


def category_text(path: Sequence[str] | None) -> str:
    """An item's category path as plain text ("Electronics Camera & Photo Batteries"): facts an explanation may
    use, as the grounding check reads them."""
    return " ".join(path) if path is not None and len(path) else ""


def primary_path(paths: list[list[str]]) -> list[str]:
    """The path we keep as an item's category: the first one, as the source lists it first."""
    return list(paths[0]) if paths else []
