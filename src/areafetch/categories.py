"""The categories a person can ask for, each mapped to OpenStreetMap tags and Google place types.

One table, so every source answers the same question. OSM tags follow the wiki's main
tagging; Google types are from Places API (New) Table A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["CATEGORIES", "Category", "category_for_google_types", "category_for_osm_tags"]


@dataclass(frozen=True)
class Category:
    """A kind of place: its OSM tag matches (any of them) and its Google types (any of them)."""

    name: str
    label: str
    osm_tags: tuple[tuple[str, str], ...]
    google_types: tuple[str, ...]


CATEGORIES: Final[dict[str, Category]] = {
    category.name: category
    for category in (
        Category("restaurant", "Restaurant", (("amenity", "restaurant"),), ("restaurant",)),
        Category("cafe", "Café", (("amenity", "cafe"),), ("cafe",)),
        Category("bar", "Bar or pub", (("amenity", "bar"), ("amenity", "pub")), ("bar",)),
        Category("school", "School", (("amenity", "school"),), ("school",)),
        Category("pharmacy", "Pharmacy", (("amenity", "pharmacy"),), ("pharmacy",)),
        Category("hospital", "Hospital", (("amenity", "hospital"),), ("hospital",)),
        Category("supermarket", "Supermarket", (("shop", "supermarket"),), ("supermarket",)),
        Category("bank", "Bank", (("amenity", "bank"),), ("bank",)),
        Category("fuel", "Fuel station", (("amenity", "fuel"),), ("gas_station",)),
        Category("park", "Park", (("leisure", "park"),), ("park",)),
    )
}


def category_for_osm_tags(tags: dict[str, str], wanted: tuple[str, ...]) -> str | None:
    """The first of the `wanted` categories whose OSM tags these tags carry, or None."""
    for name in wanted:
        if any(tags.get(key) == value for key, value in CATEGORIES[name].osm_tags):
            return name
    return None


def category_for_google_types(types: list[str], wanted: tuple[str, ...]) -> str | None:
    """The first of the `wanted` categories among a Google place's types, or None."""
    for name in wanted:
        if any(google_type in types for google_type in CATEGORIES[name].google_types):
            return name
    return None
