"""Which kinds of place two records may share, and how far apart two records of one place may lie.

A record's kinds are the categories of the taxonomy it fits: an OSM element by its tags, a Google
place by its types, so a Google place typed both `cafe` and `restaurant` fits both. Two records may
be the same place only when a kind of one and a kind of the other are kin: equal, or in one of the
sets below of kinds that sources tell apart differently (a café that serves lunch is a restaurant
on Google). A bar and a pharmacy next door are never kin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Final

from areafetch.areas.categories import CATEGORIES
from areafetch.areas.osm_filters import is_osm_filter, osm_filter_matches

__all__ = [
    "DEFAULT_EXTENT_M",
    "extent_m",
    "kin_closure",
    "kinds_of_google_place",
    "kinds_of_osm_place",
    "may_be_same",
]

KIN: Final[tuple[frozenset[str], ...]] = tuple(
    frozenset(kin)
    for kin in (
        {"restaurant", "cafe", "bar", "fast_food", "bakery", "ice_cream", "food_court", "nightclub"}
        | {"biergarten", "pastry", "deli"},
        {"supermarket", "convenience", "greengrocer", "butcher", "deli", "department_store", "marketplace"},
        {"pharmacy", "chemist"},
        {"clinic", "doctors", "dentist", "physiotherapist", "hospital"},
        {"kindergarten", "childcare", "school"},
        {"university", "college", "library"},
        {"hotel", "hostel", "guest_house", "motel"},
        {"museum", "gallery", "attraction", "arts_centre", "theatre", "cinema", "monument"},
        {"fitness_centre", "sports_centre", "swimming_pool", "stadium", "ice_rink", "sauna", "pitch"},
        {"hairdresser", "beauty"},
        {"train_station", "bus_station", "subway_entrance", "tram_stop", "ferry_terminal"},
        {"park", "garden", "dog_park", "playground"},
        {"townhall", "government_office", "courthouse"},
        {"clothes", "shoes", "sports_shop", "department_store", "gift"},
        {"electronics", "mobile_phone"},
    )
)

DEFAULT_EXTENT_M: Final = 100.0
"""How far apart two records of one place may lie, unless its kind says otherwise: a shop or a
café is one door, but sources place it at the door, the building's centre or the address point."""

_EXTENT_M: Final[dict[str, float]] = {
    # Small: a pole, a machine or a kiosk, mapped where it stands.
    "atm": 40,
    "bus_stop": 40,
    "tram_stop": 60,
    "taxi": 60,
    "charging_station": 60,
    "bicycle_rental": 60,
    "toilets": 60,
    "subway_entrance": 60,
    # Large: a site whose records may be at any of its buildings or at its centre.
    "park": 500,
    "garden": 300,
    "cemetery": 600,
    "hospital": 400,
    "university": 500,
    "college": 300,
    "school": 250,
    "stadium": 400,
    "sports_centre": 250,
    "golf_course": 1000,
    "zoo": 600,
    "theme_park": 600,
    "airport": 3000,
    "camp_site": 400,
    "beach": 500,
    "marina": 400,
    "mall": 250,
    "train_station": 300,
    "ferry_terminal": 300,
    "museum": 200,
    "pitch": 200,
}


def extent_m(kinds: Iterable[str]) -> float:
    """The distance allowed between two records of a place of these kinds (the largest kind's)."""
    return max((_EXTENT_M.get(kind, DEFAULT_EXTENT_M) for kind in kinds), default=DEFAULT_EXTENT_M)


def kinds_of_osm_place(category: str, tags: Mapping[str, object]) -> frozenset[str]:
    """The categories an OSM element fits: the one it was found as and any whose tags it carries."""
    strings = {key: value for key, value in tags.items() if isinstance(value, str)}
    kinds = {name for tag in strings.items() for name in _CATEGORIES_BY_TAG.get(tag, ())}
    if not is_osm_filter(category):
        kinds.add(category)
    elif not kinds and osm_filter_matches(category, strings):
        kinds.add(category)  # a custom filter's place is only ever kin to its own filter
    return frozenset(kinds)


def kinds_of_google_place(category: str, types: Iterable[str]) -> frozenset[str]:
    """The categories a Google place fits: the one it was found as and any whose types it has."""
    return frozenset({category}) | _categories_of_types(frozenset(types))


def may_be_same(first: frozenset[str], second: frozenset[str]) -> bool:
    """Whether records of these kinds may be one place (a kind of each is kin to one of the other)."""
    return bool(kin_closure(first) & second)


_CATEGORIES_BY_TAG: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    tag: tuple(name for name, category in CATEGORIES.items() if tag in category.osm_tags)
    for tag in {tag for category in CATEGORIES.values() for tag in category.osm_tags}
}
_GENERIC_TYPES: Final = frozenset({"store", "food", "establishment", "point_of_interest"})
"""Types nearly every place of a kind has: they tell nothing about which kind."""


@cache
def _categories_of_types(types: frozenset[str]) -> frozenset[str]:
    specific = types - _GENERIC_TYPES
    return frozenset(name for name, category in CATEGORIES.items() if specific & set(category.google_types))


@cache
def kin_closure(kinds: frozenset[str]) -> frozenset[str]:
    closure = set(kinds)
    for kin in KIN:
        if kin & kinds:
            closure |= kin
    return frozenset(closure)
