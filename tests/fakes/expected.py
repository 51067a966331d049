"""What a correct client must end up with, computed straight from the extract (no server, no QL).

These are the oracles of the real-data tests: "the places stored equal those computed
independently from the extract with the same filters (same ids)". They deliberately share
nothing with the fakes' query engines (`overpass_ql`, `google_places.search_nearby`), only the
loaded extract and its documented centre rule (`tests.fakes.extract`).

- `expected_osm_places(area, filters)`: the OSM elements (node/way/relation) carrying any of the
  tag filters whose point — a node's location, a way's or relation's `out center` — lies in the
  area (its boundary included). That is what a client gets from Overpass (or reads from the
  extract itself) after clipping ways and relations by their centre.
- `expected_google_places(area, types)`: the fake Google places of any of those types located in
  the area: what covering the area with Nearby Search circles must find, each exactly once.
- `expected_nearby(...)`: the answer to one Nearby Search call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from tests.fakes.extract import ElementType, OsmData, OsmElement, load_osm_data
from tests.fakes.google_places import FakePlace, google_places, haversine_m

ALL_TYPES: tuple[ElementType, ...] = ("node", "way", "relation")
Area = BaseGeometry | Mapping[str, Any] | Sequence[float]


@dataclass(frozen=True, slots=True)
class TagMatch:
    """`key=value`, or `key` present when value is None."""

    key: str
    value: str | None = None

    def matches(self, tags: Mapping[str, str]) -> bool:
        if self.value is None:
            return self.key in tags
        return tags.get(self.key) == self.value


def as_geometry(area: Area) -> BaseGeometry:
    """A shapely geometry, a GeoJSON geometry dict, or a bbox `(west, south, east, north)`."""
    if isinstance(area, BaseGeometry):
        return area
    if isinstance(area, Mapping):
        return shape(dict(area))
    west, south, east, north = (float(v) for v in area)
    return shapely.box(west, south, east, north)


def _as_match(item: TagMatch | tuple[str, str | None] | str) -> TagMatch:
    if isinstance(item, TagMatch):
        return item
    if isinstance(item, str):
        key, _, value = item.partition("=")
        return TagMatch(key, value or None)
    return TagMatch(item[0], item[1])


def expected_osm_places(
    area: Area,
    filters: Iterable[TagMatch | tuple[str, str | None] | str],
    *,
    types: Iterable[ElementType] = ALL_TYPES,
    data: OsmData | None = None,
) -> list[OsmElement]:
    """Elements with any of `filters` (e.g. `"amenity=cafe"`, `("leisure", "park")`, `"shop"`)
    whose point lies in `area`, in Overpass's order (nodes, ways, relations; by id)."""
    data = data or load_osm_data()
    geometry = as_geometry(area)
    matches = [_as_match(f) for f in filters]
    wanted_types = set(types)
    found = []
    for element in data.elements:
        if element.type not in wanted_types:
            continue
        if not any(m.matches(element.tags) for m in matches):
            continue
        if geometry.covers(shapely.Point(element.lon, element.lat)):
            found.append(element)
    return found


def expected_osm_keys(
    area: Area,
    filters: Iterable[TagMatch | tuple[str, str | None] | str],
    *,
    types: Iterable[ElementType] = ALL_TYPES,
    data: OsmData | None = None,
) -> set[str]:
    """`{"node/123", "way/456", ...}`: the source ids a client should store."""
    return {element.key for element in expected_osm_places(area, filters, types=types, data=data)}


def expected_google_places(
    area: Area,
    types: Iterable[str] = (),
    *,
    data: OsmData | None = None,
) -> list[FakePlace]:
    """Fake Google places with any of `types` (all places if empty) located in `area`."""
    geometry = as_geometry(area)
    wanted = set(types)
    return [
        place
        for place in google_places(data or load_osm_data())
        if (not wanted or wanted & set(place.types)) and geometry.covers(shapely.Point(place.lon, place.lat))
    ]


def expected_nearby(
    latitude: float,
    longitude: float,
    radius_m: float,
    included_types: Iterable[str] = (),
    *,
    max_result_count: int = 20,
    rank_by_distance: bool = True,
    data: OsmData | None = None,
) -> list[FakePlace]:
    """The places one Nearby Search call returns (the fake's documented ranking)."""
    wanted = set(included_types)
    inside = []
    for place in google_places(data or load_osm_data()):
        if wanted and not wanted & set(place.types):
            continue
        distance = haversine_m(latitude, longitude, place.lat, place.lon)
        if distance <= radius_m:
            inside.append((distance, place))
    if rank_by_distance:
        ranked = sorted(inside, key=lambda item: (item[0], item[1].id))
    else:
        ranked = sorted(inside, key=lambda item: (-item[1].popularity, item[1].id))
    return [place for _, place in ranked[:max_result_count]]
