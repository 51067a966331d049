"""Places from a local `.osm.pbf` extract, read with pyosmium: what Overpass would answer, offline.

`read_extract_places` is a plain top-level function of picklable arguments, made to run in the
worker's process pool (the read is CPU work). It streams the file and keeps only what it needs:

1. relations carrying a wanted tag (the file's relations only);
2. nodes and ways carrying a wanted tag (pyosmium's tag filter runs in C++, so Python sees only
   those), while pyosmium's location cache collects every node location;
3. only if some wanted relation has way members: those ways (an id filter), for their nodes.

Centres follow Overpass's ``out center`` (and `tests/fakes/extract.py`): a way's is the centre
of the bounding box of its nodes' locations; a relation's the centre of the bounding box of its
direct node members and the nodes of its direct way members (sub-relations add nothing); both
rounded to 7 decimals as Overpass prints them. Elements that cannot be placed are skipped.

The bbox keeps places whose point (node location or centre) lies in it, edges included; clipping
to the real polygon is the caller's, as for Overpass. pyosmium has no reader-side bbox filter
(the location cache needs every node), so the bbox is tested on the few tagged elements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import osmium
import osmium.filter
import osmium.index
import osmium.osm

from areafetch.categories import category_for_osm_tags
from areafetch.providers._osm import osm_tag_pairs
from areafetch.providers.base import Place

__all__ = ["read_extract_places"]

_TYPE_ORDER = {"node": 0, "way": 1, "relation": 2}


@dataclass(frozen=True, slots=True)
class _Relation:
    id: int
    tags: dict[str, str]
    node_refs: tuple[int, ...]
    way_refs: tuple[int, ...]


def _round7(value: float) -> float:
    return round(value, 7)


def _bbox_centre(lons: list[float], lats: list[float]) -> tuple[float, float]:
    return _round7((min(lons) + max(lons)) / 2), _round7((min(lats) + max(lats)) / 2)


def _tags(obj: osmium.osm.Node | osmium.osm.Way | osmium.osm.Relation) -> dict[str, str]:
    return {tag.k: tag.v for tag in obj.tags}


def _wanted_relations(path: str, pairs: list[tuple[str, str]]) -> list[_Relation]:
    relations: list[_Relation] = []
    processor = osmium.FileProcessor(path, osmium.osm.RELATION).with_filter(osmium.filter.TagFilter(*pairs))
    for relation in processor:
        if not isinstance(relation, osmium.osm.Relation):
            continue
        node_refs: list[int] = []
        way_refs: list[int] = []
        for member in relation.members:
            if member.type == "n":
                node_refs.append(member.ref)
            elif member.type == "w":
                way_refs.append(member.ref)
        relations.append(_Relation(relation.id, _tags(relation), tuple(node_refs), tuple(way_refs)))
    return relations


def _node_location(store: osmium.index.LocationTable, ref: int) -> tuple[float, float] | None:
    try:
        location = store.get(ref)
    except (KeyError, IndexError):
        return None
    if not location.valid():
        return None
    return location.lon, location.lat


def _member_way_coords(
    path: str, way_ids: set[int], store: osmium.index.LocationTable
) -> dict[int, list[tuple[float, float]]]:
    coords: dict[int, list[tuple[float, float]]] = {}
    processor = osmium.FileProcessor(path, osmium.osm.WAY).with_filter(osmium.filter.IdFilter(way_ids))
    for way in processor:
        if isinstance(way, osmium.osm.Way):
            points = [_node_location(store, node.ref) for node in way.nodes]
            coords[way.id] = [point for point in points if point is not None]
    return coords


def read_extract_places(
    path: str,
    bbox: tuple[float, float, float, float],
    categories: tuple[str, ...],
    *,
    location_storage: str = "flex_mem",
) -> list[Place]:
    """The places of ``categories`` in an extract whose point lies in ``bbox``, in Overpass's order.

    Args:
        path: a `.osm.pbf` (or any format libosmium reads).
        bbox: ``(west, south, east, north)`` in degrees; edges included.
        categories: names from `areafetch.categories.CATEGORIES`.
        location_storage: pyosmium's node location cache (``flex_mem``; for planet-sized files
            a disk-backed one such as ``dense_file_array,<file>``).

    Returns:
        Nodes, then ways, then relations, each by id, with ``source="osm_extract"``.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"OSM extract not found: {path}")
    west, south, east, north = bbox
    if not (west <= east and south <= north):
        raise ValueError(f"bbox must be (west, south, east, north), got {bbox}")
    pairs = osm_tag_pairs(categories)
    if not pairs:
        raise ValueError("no categories asked for")

    def inside(lon: float, lat: float) -> bool:
        return west <= lon <= east and south <= lat <= north

    found: list[tuple[str, int, dict[str, str], float, float]] = []

    def keep(kind: str, osm_id: int, tags: dict[str, str], lon: float, lat: float) -> None:
        if inside(lon, lat):
            found.append((kind, osm_id, tags, lon, lat))

    relations = _wanted_relations(path, pairs)

    processor = (
        osmium.FileProcessor(path, osmium.osm.NODE | osmium.osm.WAY)
        .with_locations(location_storage)
        .with_filter(osmium.filter.TagFilter(*pairs))
    )
    for obj in processor:
        if isinstance(obj, osmium.osm.Node):
            if obj.location.valid():
                keep("node", obj.id, _tags(obj), _round7(obj.location.lon), _round7(obj.location.lat))
        elif isinstance(obj, osmium.osm.Way):
            valid = [node.location for node in obj.nodes if node.location.valid()]
            if valid:
                lon, lat = _bbox_centre([loc.lon for loc in valid], [loc.lat for loc in valid])
                keep("way", obj.id, _tags(obj), lon, lat)

    if relations:
        store = processor.node_location_storage
        assert store is not None  # with_locations() above
        member_ways = {ref for relation in relations for ref in relation.way_refs}
        way_coords = _member_way_coords(path, member_ways, store) if member_ways else {}
        for relation in relations:
            lons: list[float] = []
            lats: list[float] = []
            for ref in relation.node_refs:
                point = _node_location(store, ref)
                if point is not None:
                    lons.append(point[0])
                    lats.append(point[1])
            for ref in relation.way_refs:
                for lon, lat in way_coords.get(ref, ()):
                    lons.append(lon)
                    lats.append(lat)
            if lons:
                lon, lat = _bbox_centre(lons, lats)
                keep("relation", relation.id, relation.tags, lon, lat)

    found.sort(key=lambda item: (_TYPE_ORDER[item[0]], item[1]))
    return list(_to_places(found, categories))


def _to_places(
    found: Iterable[tuple[str, int, dict[str, str], float, float]], categories: tuple[str, ...]
) -> Iterable[Place]:
    for kind, osm_id, tags, lon, lat in found:
        category = category_for_osm_tags(tags, categories)
        if category is None:
            continue
        yield Place(
            source="osm_extract",
            source_id=f"{kind}/{osm_id}",
            name=tags.get("name"),
            category=category,
            lon=lon,
            lat=lat,
            attributes=tags,
        )
