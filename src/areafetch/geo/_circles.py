"""Google circles: a lattice of circles that covers an area, and circles split into smaller ones.

Covering: the area's bounds are cut into rows of equal latitude height and each row into equal
columns, cells about `max_radius_m·√2` on a side; each cell gets the circle centred on it whose
radius is the geodesic distance (pyproj, WGS84) from its centre to its farthest corner, times a
small margin. The farthest point of a lon/lat rectangle from its centre is a corner (distance grows
along a parallel with the longitude difference and is unimodal along a meridian), so every circle
covers its cell, the cells tile the bounds, and the circles cover the area: no projection is
approximated. Cells that share nothing with the area are left out.

Splitting: 4 children of radius r/√2 centred on the quadrants (at r/√2 from the centre, bearings
45°, 135°, 225°, 315°), or 7 of radius r/2 (one at the centre, six at r·√3/2, bearings 0°, 60°, …).
Both coverings are exact in the plane; children are placed with geodesic `fwd` and their radius is
grown by 1 %, far more than the curvature error at 50 km (about 1e-4).
"""

from __future__ import annotations

import math
from typing import Final, Literal

import numpy as np
import shapely
from shapely.geometry import Polygon

from areafetch.errors import InvalidArea
from areafetch.geo._area import WGS84, Area
from areafetch.geo._tiles import lon_groups
from areafetch.geo.models import MAX_CIRCLE_RADIUS_M, Circle

__all__ = ["circle_polygon", "cover_with_circles", "split_circle"]

# Cells are sized for a radius this much below the maximum; the radius is then measured exactly.
_CELL_SHRINK: Final = 0.98
# Measured corner distances are grown by this much (ellipsoid vs. the spherical corner argument).
_RADIUS_MARGIN: Final = 1.001
_SPLIT_MARGIN: Final = 1.01
_M_PER_DEG_LAT_MAX: Final = 111_700.0  # the largest (at the poles), so rows are never too tall


def cover_with_circles(
    area: Area,
    *,
    max_radius_m: float = MAX_CIRCLE_RADIUS_M,
    id_prefix: str = "c",
    max_circles: int = 100_000,
) -> list[Circle]:
    """Circles of radius at most `max_radius_m` whose union covers the area.

    Args:
        area: A validated area, or any polygon such as a tile's.
        max_radius_m: Largest radius in metres (at most 50 km, the Places API limit).
        id_prefix: Start of every circle id (`{prefix}{group}-{row}-{col}`; group 1 exists only for
            an area on both sides of the antimeridian).
        max_circles: Most lattice cells examined; more raises `InvalidArea` before any work.

    Returns:
        The circles that share some area with `area`, south to north, west to east.

    Raises:
        InvalidArea: More than `max_circles` cells would be needed.
    """
    if not 0 < max_radius_m <= MAX_CIRCLE_RADIUS_M:
        raise ValueError(f"max_radius_m must be in (0, {MAX_CIRCLE_RADIUS_M:g}]")
    side_m = max_radius_m * math.sqrt(2.0) * _CELL_SHRINK
    circles: list[Circle] = []
    for group_index, group in enumerate(lon_groups(area)):
        west, south, east, north = group.bounds
        rows = max(1, math.ceil((north - south) * _M_PER_DEG_LAT_MAX / side_m))
        ids: list[str] = []
        centres: list[tuple[float, float, float]] = []
        cells: list[tuple[float, float, float, float]] = []
        for row in range(rows):
            row_south = south + (row * (north - south)) / rows
            row_north = south + ((row + 1) * (north - south)) / rows
            cols, radius_m = _row_layout(west, east, row_south, row_north, side_m, max_radius_m)
            if len(cells) + cols > max_circles:
                raise InvalidArea(
                    f"area needs more than {max_circles} circles of at most {max_radius_m:g} m; "
                    "choose a smaller area or larger circles"
                )
            for col in range(cols):
                col_west = west + (col * (east - west)) / cols
                col_east = west + ((col + 1) * (east - west)) / cols
                ids.append(f"{id_prefix}{group_index}-{row}-{col}")
                centres.append(((col_west + col_east) / 2.0, (row_south + row_north) / 2.0, radius_m))
                cells.append((col_west, row_south, col_east, row_north))
        bounds = np.asarray(cells, dtype=float)
        boxes = shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
        shapely.prepare(group)
        keep = shapely.intersects(group, boxes)
        for circle_id, (lon, lat, radius_m), cell, kept in zip(
            ids, centres, cells, keep.tolist(), strict=True
        ):
            if kept:
                circles.append(Circle(id=circle_id, lon=lon, lat=lat, radius_m=radius_m, cell=cell))
    return circles


def split_circle(circle: Circle, *, parts: Literal[4, 7] = 4, area: Area | None = None) -> list[Circle]:
    """Smaller circles that together cover `circle`, for when it returned the 20-result cap.

    Args:
        circle: The circle to split.
        parts: 4 children of radius r/√2 (each half the parent's area; fewest calls) or 7 of radius
            r/2 (each a quarter; for very dense places).
        area: When given, children that share nothing with it are left out (tested against a polygon
            circumscribed about each child, so no child that touches the area is lost). Children
            whose polygon would cross the antimeridian are always kept.

    Returns:
        Children with ids `circle.id + "/k"`, k from 0.
    """
    if parts == 4:
        radius_m = circle.radius_m / math.sqrt(2.0)
        offsets = [(azimuth, radius_m) for azimuth in (45.0, 135.0, 225.0, 315.0)]
    elif parts == 7:
        radius_m = circle.radius_m / 2.0
        offsets = [(0.0, 0.0)] + [
            (azimuth, circle.radius_m * math.sqrt(3.0) / 2.0) for azimuth in range(0, 360, 60)
        ]
    else:
        raise ValueError("parts must be 4 or 7")
    azimuths = np.array([azimuth for azimuth, _ in offsets], dtype=float)
    distances = np.array([distance for _, distance in offsets], dtype=float)
    lons, lats, _ = WGS84.fwd(
        np.full(len(offsets), circle.lon), np.full(len(offsets), circle.lat), azimuths, distances
    )
    children = [
        Circle(
            id=f"{circle.id}/{k}",
            lon=float(lon),
            lat=float(lat),
            radius_m=min(radius_m * _SPLIT_MARGIN, MAX_CIRCLE_RADIUS_M),
        )
        for k, (lon, lat) in enumerate(zip(lons.tolist(), lats.tolist(), strict=True))
    ]
    if area is None:
        return children
    shapely.prepare(area)
    return [child for child in children if _may_touch(child, area)]


def circle_polygon(circle: Circle, *, segments: int = 32) -> Polygon:
    """A lon/lat polygon circumscribed about the circle (it contains the whole circle).

    Vertices lie at `radius / cos(π / segments)` (plus 0.1 %) on `segments` geodesic bearings.
    Not meaningful for a circle that crosses the antimeridian or a pole.
    """
    azimuths = np.linspace(0.0, 360.0, segments, endpoint=False)
    distance = circle.radius_m / math.cos(math.pi / segments) * 1.001
    lons, lats, _ = WGS84.fwd(
        np.full(segments, circle.lon), np.full(segments, circle.lat), azimuths, np.full(segments, distance)
    )
    return Polygon(zip(lons.tolist(), lats.tolist(), strict=True))


def _may_touch(circle: Circle, area: Area) -> bool:
    polygon = circle_polygon(circle)
    west, _, east, _ = polygon.bounds
    return east - west > 180.0 or bool(shapely.intersects(area, polygon))


def _row_layout(
    west: float, east: float, south: float, north: float, side_m: float, max_radius_m: float
) -> tuple[int, float]:
    """Columns for one row, and the radius that covers each of its (identical) cells."""
    equator_side = 0.0 if south <= 0.0 <= north else min(south, north, key=abs)
    m_per_deg_lon = max(_m_per_deg_lon(equator_side), 1e-9)
    cols = max(1, math.ceil((east - west) * m_per_deg_lon / side_m), math.ceil((east - west) / 90.0))
    for _ in range(64):
        radius_m = _cell_radius_m((east - west) / cols, south, north)
        if radius_m <= max_radius_m:
            return cols, radius_m
        cols = math.ceil(cols * 1.1) + 1  # the first guess fits unless near a pole
    raise AssertionError(f"no circle layout for the row {south}..{north}")  # pragma: no cover


def _cell_radius_m(width_deg: float, south: float, north: float) -> float:
    centre_lat = (south + north) / 2.0
    half = width_deg / 2.0
    _, _, distances = WGS84.inv(
        np.zeros(2),
        np.full(2, centre_lat),
        np.full(2, half),
        np.array([south, north]),
        return_back_azimuth=False,
    )
    return float(np.max(distances)) * _RADIUS_MARGIN


def _m_per_deg_lon(lat: float) -> float:
    a, e2 = 6_378_137.0, 0.00669437999014
    sin = math.sin(math.radians(lat))
    return math.radians(1.0) * a * math.cos(math.radians(lat)) / math.sqrt(1.0 - e2 * sin * sin)
