"""Name similarity copes with case, accents, punctuation, word order and generic words, and still
tells different names apart."""

from __future__ import annotations

import pytest

from areafetch.conflation.matcher import NAME_SIMILARITY_MIN
from areafetch.conflation.names import fold_name, name_similarity


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Café Regatta", "CAFE REGATTA"),  # case, accent
        ("Café Regatta", "Regatta Coffee"),  # café / coffee, word order
        ("Kahvila Sävy", "Savy Cafe"),  # Finnish kind word, ä
        ("Ravintola Savu", "Savu Restaurant"),  # ravintola / restaurant
        ("Ravintola Savu", "Savu"),  # the kind word dropped
        ("Fazer Oy", "Fazer Ltd"),  # legal forms
        ("Jone's karaoke bar", "Jones Karaoke Pub"),  # apostrophe, bar / pub
        ("Grotesk Restaurant & Bar", "Grotesk restaurant and bar"),  # & / and
        ("Bar-B-Q House", "Bar B Q House!"),  # punctuation
        ("Ravintola Ragu (Italian kitchen)", "Ragu"),  # a bracketed part dropped
        ("Espresso House", "Espresso House Kamppi"),  # a district after the name
    ],
)
def test_variants_of_one_name_are_alike(first: str, second: str) -> None:
    assert name_similarity(first, second) >= NAME_SIMILARITY_MIN
    assert name_similarity(second, first) == pytest.approx(name_similarity(first, second))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Kita", "Kitchen"),
        ("Muru", "Juuri"),
        ("Café Regatta", "Café Engel"),  # only the kind word in common
        ("Ravintola", "Kahvila"),  # two different kinds, no name
        ("Espresso House", "House of Pizza"),
        ("Burger King", "King Kong"),
    ],
)
def test_different_names_are_not(first: str, second: str) -> None:
    assert name_similarity(first, second) < NAME_SIMILARITY_MIN


def test_a_name_is_folded_to_ascii_words_with_canonical_kind_words() -> None:
    folded = fold_name("  Kahvila  Sävy & Co. Oy ")
    assert folded.words == "cafe savy"
    assert folded.distinctive == "savy"
