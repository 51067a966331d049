"""OSM tag pairs of categories, shared by the Overpass client and the extract reader."""

from __future__ import annotations

from collections.abc import Iterable

from areafetch.areas.categories import CATEGORIES

__all__ = ["osm_tag_pairs"]


def osm_tag_pairs(categories: Iterable[str]) -> list[tuple[str, str]]:
    """The distinct OSM (key, value) pairs of the categories, in the categories' order."""
    pairs: list[tuple[str, str]] = []
    for name in categories:
        for pair in CATEGORIES[name].osm_tags:
            if pair not in pairs:
                pairs.append(pair)
    return pairs
