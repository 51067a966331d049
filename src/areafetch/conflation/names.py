"""How alike two place names are, whatever their case, accents, punctuation, word order and the
generic words sources add or drop ("Café Regatta" / "Regatta Coffee", "Ravintola Savu" / "Savu
Restaurant", "Fazer Oy" / "Fazer Ltd").

A name is folded to ASCII (anyascii), lower case and words. Words that say what kind of place it is
are mapped to one canonical word (café, cafe, coffee and kahvila are all `cafe`), and legal forms
and articles are dropped. The similarity (rapidfuzz) is that of the whole folded names, or of their
distinctive words alone when both have some: "Ravintola Savu" and "Savu" agree on `savu`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from anyascii import anyascii
from rapidfuzz import fuzz

__all__ = ["FoldedName", "fold_name", "name_similarity"]

# One canonical word per kind, with the words (English, Finnish, Swedish and the usual loans) that
# name it in place names.
_KIND_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "cafe": ("cafe", "caffe", "kafe", "kaffe", "coffee", "coffeehouse", "kahvila", "kohvik", "espressobar"),
    "restaurant": ("restaurant", "ravintola", "restaurang", "ristorante", "trattoria", "eatery", "kitchen"),
    "bar": ("bar", "baari", "pub", "krog", "tavern", "taverna", "kapakka"),
    "bakery": ("bakery", "leipomo", "bageri", "boulangerie"),
    "pizzeria": ("pizzeria", "pizza"),
    "hotel": ("hotel", "hotelli", "hostel", "hostelli"),
    "pharmacy": ("pharmacy", "apteekki", "apotek", "chemist"),
    "shop": ("shop", "store", "kauppa", "butik", "boutique", "liike"),
}
_DROPPED: Final = frozenset(
    {"oy", "oyj", "ab", "abp", "ky", "tmi", "ltd", "limited", "inc", "llc", "gmbh", "co", "plc", "the", "and"}
)
_CANONICAL: Final = {word: kind for kind, words in _KIND_WORDS.items() for word in words}
_WORD: Final = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class FoldedName:
    """A name as compared: all its words, and those that are not a kind of place."""

    words: str
    """Every kept word, canonical, in the name's order."""
    distinctive: str
    """The words that are not a kind word (empty for "Café" or "Ravintola")."""


@lru_cache(maxsize=65_536)
def fold_name(name: str) -> FoldedName:
    """`name` folded for comparison."""
    text = anyascii(name).lower().replace("'", "").replace("&", " and ")
    words = [_CANONICAL.get(word, word) for word in _WORD.findall(text) if word not in _DROPPED]
    distinctive = [word for word in words if word not in _KIND_WORDS]
    return FoldedName(words=" ".join(words), distinctive=" ".join(distinctive))


def name_similarity(first: str, second: str) -> float:
    """How alike two names are, 0 (nothing in common) to 1 (the same once folded)."""
    a, b = fold_name(first), fold_name(second)
    whole = fuzz.token_sort_ratio(a.words, b.words)
    if not (a.distinctive and b.distinctive):
        return whole / 100
    # One name's distinctive words all in the other's ("Savu" / "Savu Kamppi") count almost fully;
    # token_set_ratio alone would also score a single shared word of a long name that way.
    subset = fuzz.token_set_ratio(a.distinctive, b.distinctive) * _coverage(a.distinctive, b.distinctive)
    return max(whole, fuzz.token_sort_ratio(a.distinctive, b.distinctive), subset) / 100


def _coverage(first: str, second: str) -> float:
    """The share of the longer word list's characters that the two have in common, eased to 0.8-1."""
    shorter, longer = sorted(
        (set(first.split()), set(second.split())), key=lambda words: len(" ".join(words))
    )
    common = len("".join(shorter & longer))
    return 0.8 + 0.2 * common / max(1, len("".join(longer)))
