"""OSM tag pairs of categories, shared by the Overpass client and the extract reader."""

from __future__ import annotations

from collections.abc import Iterable

from areafetch.areas.categories import CATEGORIES
from areafetch.areas.osm_filters import is_osm_filter, osm_filter_pair

__all__ = ["osm_tag_pairs"]


def osm_tag_pairs(categories: Iterable[str]) -> list[tuple[str, str | None]]:
    """The distinct OSM (key, value) pairs of the categories, in the categories' order; the value
    is None for a bare-key filter (`osm:craft`: any value)."""
    pairs: list[tuple[str, str | None]] = []
    for name in categories:
        for pair in [osm_filter_pair(name)] if is_osm_filter(name) else CATEGORIES[name].osm_tags:
            if pair not in pairs:
                pairs.append(pair)
    return pairs
