"""A generated extract of many cafes on a grid, for reads far larger than the Helsinki extract."""

from __future__ import annotations

import math
from pathlib import Path

import osmium
import osmium.osm.mutable

# Node ids far above real OSM's (about 1.3e10 in 2026), so they never meet the Helsinki places
# that other tests store in the same database.
FIRST_ID = 900_000_000_000


def cafe_ids(count: int, *, first_id: int = FIRST_ID) -> list[str]:
    """The source ids `write_cafes` gives its cafes."""
    return [f"node/{first_id + index}" for index in range(count)]


def write_cafes(
    path: Path, count: int, bbox: tuple[float, float, float, float], *, first_id: int = FIRST_ID
) -> Path:
    """Write ``count`` nodes ``amenity=cafe`` with a name, on a square grid inside ``bbox``."""
    west, south, east, north = bbox
    side = math.ceil(math.sqrt(count))
    writer = osmium.SimpleWriter(str(path), overwrite=True)
    try:
        for index in range(count):
            row, col = divmod(index, side)
            location = (
                west + (col + 0.5) * (east - west) / side,
                south + (row + 0.5) * (north - south) / side,
            )
            node_id = first_id + index
            tags = {"amenity": "cafe", "name": f"Cafe {node_id}"}
            writer.add_node(osmium.osm.mutable.Node(id=node_id, version=1, location=location, tags=tags))
    finally:
        writer.close()
    return path
