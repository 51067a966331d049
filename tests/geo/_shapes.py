"""Polygons and sample points shared by the geo tests."""

from __future__ import annotations

import math

import numpy as np
import shapely
from hypothesis import assume
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon

from areafetch.errors import InvalidArea
from areafetch.geo import Area, parse_area


def star_ring(lon: float, lat: float, radius_deg: float, n: int, seed: int) -> list[tuple[float, float]]:
    """A closed star-shaped ring (simple by construction: strictly increasing angles)."""
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0.0, 2 * math.pi, n))
    radii = radius_deg * rng.uniform(0.35, 1.0, n)
    stretch = 1.0 / max(math.cos(math.radians(lat)), 0.2)
    ring = [
        (lon + r * math.cos(a) * stretch, lat + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)
    ]
    return [*ring, ring[0]]


@st.composite
def areas(draw: st.DrawFn) -> Area:
    """Star polygons (sometimes two, as a MultiPolygon) and boxes, city to region sized, anywhere but the poles."""
    lon = draw(st.floats(-170, 170))
    lat = draw(st.floats(-70, 70))
    radius = draw(st.floats(0.005, 0.4))
    kind = draw(st.sampled_from(["star", "box", "multi"]))
    if kind == "box":
        return parse_area([lon - radius, lat - radius / 2, lon + radius, lat + radius / 2], max_area_km2=None)
    n = draw(st.integers(5, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    ring = star_ring(lon, lat, radius, n, seed)
    if kind == "star":
        geometry = {"type": "Polygon", "coordinates": [ring]}
    else:
        other = star_ring(
            lon + 2.5 * radius / max(math.cos(math.radians(lat)), 0.2), lat, radius, n, seed + 1
        )
        geometry = {"type": "MultiPolygon", "coordinates": [[ring], [other]]}
    candidate = Polygon(ring)
    assume(candidate.is_valid and candidate.area > 0)
    try:
        return parse_area(geometry, max_area_km2=None)
    except InvalidArea:  # a ring valid alone that touches its twin, or rounds into a self-intersection
        assume(False)
        raise


def sample_points(area: Area, count: int, seed: int) -> np.ndarray:
    """Every vertex of the area plus `count` random points inside it (or on its boundary)."""
    vertices = shapely.get_coordinates(area)
    rng = np.random.default_rng(seed)
    west, south, east, north = area.bounds
    inside: list[np.ndarray] = []
    shapely.prepare(area)
    for _ in range(50):
        xy = rng.uniform((west, south), (east, north), size=(count * 4, 2))
        inside.append(xy[shapely.intersects_xy(area, xy[:, 0], xy[:, 1])])
        if sum(len(chunk) for chunk in inside) >= count:
            break
    return np.vstack([vertices, *inside])[: len(vertices) + count]


def parts(area: Area) -> list[Polygon]:
    return list(area.geoms) if isinstance(area, MultiPolygon) else [area]
