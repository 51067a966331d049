"""Coarse density cells: where planning remembers how many places a source found.

A global grid of `cell_deg` (default `COARSE_DEG`, 0.1°: about 11 km by 11 km times cos(lat)); a
cell's key is `"<lat index>:<lon index>"` (keys are only comparable at one `cell_deg`). Areas are planar estimates (km² per square degree at the cell's
latitude), good enough to estimate a query's load, never used for clipping.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Final

import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["COARSE_DEG", "coarse_key", "coarse_overlaps", "estimate_places", "places_by_coarse_cell"]

COARSE_DEG: Final = 0.1
_KM_PER_DEG: Final = 111.32


def coarse_key(lon: float, lat: float, cell_deg: float = COARSE_DEG) -> str:
    return f"{math.floor(lat / cell_deg)}:{math.floor(lon / cell_deg)}"


def coarse_overlaps(geometry: BaseGeometry, cell_deg: float = COARSE_DEG) -> dict[str, float]:
    """km² of `geometry` inside each coarse cell it touches."""
    west, south, east, north = geometry.bounds
    overlaps: dict[str, float] = {}
    shapely.prepare(geometry)
    for row in range(math.floor(south / cell_deg), math.floor(north / cell_deg) + 1):
        for col in range(math.floor(west / cell_deg), math.floor(east / cell_deg) + 1):
            cell = shapely.box(col * cell_deg, row * cell_deg, (col + 1) * cell_deg, (row + 1) * cell_deg)
            if not geometry.intersects(cell):
                continue
            part = shapely.intersection(geometry, cell).area
            if part > 0:
                lat = (row + 0.5) * cell_deg
                overlaps[f"{row}:{col}"] = part * _KM_PER_DEG**2 * math.cos(math.radians(lat))
    return overlaps


def places_by_coarse_cell(
    points: Iterable[tuple[str, float, float]], cell_deg: float = COARSE_DEG
) -> Counter[tuple[str, str]]:
    """(category, coarse key) -> places, from (category, lon, lat) triples."""
    return Counter((category, coarse_key(lon, lat, cell_deg)) for category, lon, lat in points)


def estimate_places(
    geometry: BaseGeometry, density_per_km2: Mapping[str, float], cell_deg: float = COARSE_DEG
) -> float:
    """Places expected in `geometry` from densities (all categories summed) per coarse key."""
    overlaps = coarse_overlaps(geometry, cell_deg)
    return sum(km2 * density_per_km2.get(key, 0.0) for key, km2 in overlaps.items())
