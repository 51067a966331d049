"""Area input (GeoJSON or bbox) to a validated shapely geometry, and areas in km²."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from areafetch.errors import InvalidArea

__all__ = [
    "DEFAULT_MAX_AREA_KM2",
    "DEFAULT_MAX_VERTICES",
    "Area",
    "area_from_bbox",
    "area_from_geojson",
    "bbox_area_km2",
    "geodesic_area_km2",
    "measured_area",
    "parse_area",
    "validate_area",
    "vertex_count",
]

Area: TypeAlias = Polygon | MultiPolygon

DEFAULT_MAX_VERTICES: Final = 10_000
DEFAULT_MAX_AREA_KM2: Final = 10_000.0

WGS84: Final = Geod(ellps="WGS84")
# Edges are straight lines in lon/lat (as shapely, tiling and clipping read them), not geodesics:
# densified before the geodesic area so both agree on what the area is.
_DENSIFY_DEG: Final = 0.1


def parse_area(
    area: Mapping[str, Any] | Sequence[float],
    *,
    max_vertices: int = DEFAULT_MAX_VERTICES,
    max_area_km2: float | None = DEFAULT_MAX_AREA_KM2,
) -> Area:
    """Validate an area given as a GeoJSON Polygon/MultiPolygon object or a bbox.

    Args:
        area: A GeoJSON geometry object (WGS84 lon/lat) or `[west, south, east, north]`.
        max_vertices: Most vertices accepted (closing positions not counted).
        max_area_km2: Largest geodesic area accepted in km², None for no limit.

    Returns:
        The area, valid, exterior rings counter-clockwise.

    Raises:
        InvalidArea: The message names the problem.
    """
    return measured_area(area, max_vertices=max_vertices, max_area_km2=max_area_km2)[0]


def measured_area(
    area: Mapping[str, Any] | Sequence[float] | BaseGeometry,
    *,
    max_vertices: int = DEFAULT_MAX_VERTICES,
    max_area_km2: float | None = DEFAULT_MAX_AREA_KM2,
) -> tuple[Area, float]:
    """`parse_area` (or `validate_area` for a shapely geometry) that also returns the area in km²."""
    if isinstance(area, BaseGeometry):
        return _checked(_prechecked(area, max_vertices), max_area_km2)
    if isinstance(area, Mapping):
        return _checked(_from_geojson(area, max_vertices), max_area_km2)
    if isinstance(area, Sequence) and not isinstance(area, str | bytes):
        return _checked(_from_bbox(area), max_area_km2)
    raise InvalidArea(
        "area must be a GeoJSON Polygon/MultiPolygon object or a bbox [west, south, east, north]"
    )


def area_from_geojson(
    geojson: Mapping[str, Any],
    *,
    max_vertices: int = DEFAULT_MAX_VERTICES,
    max_area_km2: float | None = DEFAULT_MAX_AREA_KM2,
) -> Area:
    """Validate a GeoJSON Polygon or MultiPolygon (RFC 7946; either ring orientation is accepted).

    Positions may carry an altitude, which is dropped. A polygon crossing the antimeridian must be
    split at ±180° by the sender (RFC 7946 §3.1.9); otherwise it is read as spanning the other way
    round the globe and usually fails the area limit.

    Args:
        geojson: The geometry object.
        max_vertices: Most vertices accepted (closing positions not counted).
        max_area_km2: Largest geodesic area accepted in km², None for no limit.

    Returns:
        The area, valid, exterior rings counter-clockwise.

    Raises:
        InvalidArea: Not a Polygon/MultiPolygon, malformed or empty coordinates, NaN/inf, coordinates
            out of range, unclosed or too short rings, too many vertices, invalid geometry
            (self-intersection and the like, as shapely explains it), zero area, area too large.
    """
    return _checked(_from_geojson(geojson, max_vertices), max_area_km2)[0]


def _from_geojson(geojson: Mapping[str, Any], max_vertices: int) -> Area:
    kind = geojson.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidArea(f"area must be a GeoJSON Polygon or MultiPolygon, got type {kind!r}")
    coordinates = _list(geojson.get("coordinates"), "coordinates")
    if not coordinates:
        raise InvalidArea(f"area is empty: the {kind} has no coordinates")
    if kind == "Polygon":
        polygons = [(coordinates, "coordinates")]
    else:
        polygons = [
            (_list(raw, f"coordinates[{i}]"), f"coordinates[{i}]") for i, raw in enumerate(coordinates)
        ]

    # Count first: the limit must hold before any per-vertex work.
    vertices = 0
    for rings, path in polygons:
        if not rings:
            raise InvalidArea(f"area is empty: {path} has no rings")
        for j, ring in enumerate(rings):
            vertices += max(len(_list(ring, f"{path}[{j}]")) - 1, 0)
    if vertices > max_vertices:
        raise InvalidArea(f"area has {vertices} vertices, more than the limit of {max_vertices}")

    shapes = []
    for rings, path in polygons:
        shell, *holes = [_ring_xy(ring, f"{path}[{j}]") for j, ring in enumerate(rings)]
        shapes.append(Polygon(shell, holes))
    return shapes[0] if kind == "Polygon" else MultiPolygon(shapes)


def area_from_bbox(bbox: Sequence[Any], *, max_area_km2: float | None = DEFAULT_MAX_AREA_KM2) -> Area:
    """Validate a bbox `[west, south, east, north]` in degrees.

    A bbox with west > east crosses the antimeridian (RFC 7946 §5.2) and becomes a MultiPolygon of
    two boxes, west..180 and -180..east.

    Args:
        bbox: Four numbers.
        max_area_km2: Largest geodesic area accepted in km², None for no limit.

    Returns:
        The box (or two), exterior rings counter-clockwise.

    Raises:
        InvalidArea: Not four finite numbers, out of range, south >= north, west == east, too large.
    """
    return _checked(_from_bbox(bbox), max_area_km2)[0]


def _from_bbox(bbox: Sequence[Any]) -> Area:
    if isinstance(bbox, str | bytes) or len(bbox) != 4:
        raise InvalidArea("bbox must be [west, south, east, north]: four numbers")
    names = ("west", "south", "east", "north")
    values = [_number(value, f"bbox {name}") for name, value in zip(names, bbox, strict=True)]
    west, south, east, north = values
    for name, value in zip(names, values, strict=True):
        _check_range(value, name in ("west", "east"), f"bbox {name}")
    if south >= north:
        raise InvalidArea(f"bbox south ({south}) must be less than north ({north})")
    if west == east:
        raise InvalidArea(f"bbox has zero width: west and east are both {west}")
    geometry: Area
    if west < east:
        geometry = box(west, south, east, north)
    else:
        parts = [box(w, south, e, north) for w, e in ((west, 180.0), (-180.0, east)) if w < e]
        if not parts:
            raise InvalidArea(f"bbox has zero area: west {west}, east {east}")
        geometry = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    return geometry


def validate_area(
    geometry: BaseGeometry,
    *,
    max_vertices: int = DEFAULT_MAX_VERTICES,
    max_area_km2: float | None = DEFAULT_MAX_AREA_KM2,
) -> Area:
    """Validate a shapely geometry as an area (the checks of `area_from_geojson`).

    Raises:
        InvalidArea: The message names the problem.
    """
    return _checked(_prechecked(geometry, max_vertices), max_area_km2)[0]


def _prechecked(geometry: BaseGeometry, max_vertices: int) -> Area:
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise InvalidArea(f"area must be a Polygon or MultiPolygon, got {geometry.geom_type}")
    if geometry.is_empty:
        raise InvalidArea("area is empty")
    vertices = vertex_count(geometry)
    if vertices > max_vertices:
        raise InvalidArea(f"area has {vertices} vertices, more than the limit of {max_vertices}")
    if not bool(np.isfinite(shapely.get_coordinates(geometry)).all()):
        raise InvalidArea("area has a coordinate that is not a finite number")
    west, south, east, north = geometry.bounds
    for value, is_lon, name in (
        (west, True, "west"),
        (east, True, "east"),
        (south, False, "south"),
        (north, False, "north"),
    ):
        _check_range(value, is_lon, f"area {name} bound")
    return geometry


def vertex_count(geometry: Area) -> int:
    """Vertices of all rings, closing positions not counted."""
    polygons = geometry.geoms if isinstance(geometry, MultiPolygon) else [geometry]
    return sum(
        len(ring.coords) - 1 for polygon in polygons for ring in (polygon.exterior, *polygon.interiors)
    )


def geodesic_area_km2(geometry: Area) -> float:
    """Area in km² on the WGS84 ellipsoid (pyproj `Geod.geometry_area_perimeter`).

    Edges are read as straight lines in lon/lat, like everything else in this package: they are
    densified to 0.1° before the geodesic computation (a no-op for city-sized areas).
    """
    if _longest_edge_deg(geometry) > _DENSIFY_DEG:
        geometry = shapely.segmentize(geometry, _DENSIFY_DEG)
    area_m2, _ = WGS84.geometry_area_perimeter(shapely.orient_polygons(geometry, exterior_cw=False))
    return abs(area_m2) / 1e6


def bbox_area_km2(west: float, south: float, east: float, north: float) -> float:
    """Exact area in km² of a lon/lat rectangle on the WGS84 ellipsoid (edges along parallels).

    Uses the authalic latitude function q(φ): area = a²/2 · Δλ · (q(north) - q(south)).
    """
    return _A * _A / 2.0 * math.radians(east - west) * (_q(north) - _q(south)) / 1e6


_A: Final = 6_378_137.0
_F: Final = 1 / 298.257223563
_E2: Final = _F * (2 - _F)
_E: Final = math.sqrt(_E2)


def _q(lat_deg: float) -> float:
    sin = math.sin(math.radians(lat_deg))
    return (1 - _E2) * (sin / (1 - _E2 * sin * sin) - math.log((1 - _E * sin) / (1 + _E * sin)) / (2 * _E))


def _longest_edge_deg(geometry: Area) -> float:
    polygons = geometry.geoms if isinstance(geometry, MultiPolygon) else [geometry]
    longest = 0.0
    for polygon in polygons:
        for ring in (polygon.exterior, *polygon.interiors):
            xy = np.asarray(ring.coords)
            longest = max(longest, float(np.abs(np.diff(xy, axis=0)).max(initial=0.0)))
    return longest


def _checked(geometry: Area, max_area_km2: float | None) -> tuple[Area, float]:
    if not geometry.is_valid:
        raise InvalidArea(f"area geometry is invalid: {explain_validity(geometry)}")
    if geometry.area == 0:
        raise InvalidArea("area has zero area")
    oriented = shapely.orient_polygons(geometry, exterior_cw=False)
    km2 = geodesic_area_km2(oriented)
    if km2 <= 0:
        raise InvalidArea("area has zero area")
    if max_area_km2 is not None and km2 > max_area_km2:
        raise InvalidArea(f"area is {km2:.1f} km², more than the maximum of {max_area_km2:g} km²")
    return oriented, km2


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise InvalidArea(f"{path} must be an array, got {type(value).__name__}")
    return list(value)


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArea(f"{path} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer literal of any length is valid JSON
        raise InvalidArea(
            f"{path} is not a number in range: an integer of {int(value).bit_length()} bits"
        ) from None
    if not math.isfinite(number):
        raise InvalidArea(f"{path} is not a finite number: {value!r}")
    return number


def _check_range(value: float, is_lon: bool, path: str) -> None:
    if is_lon and not -180.0 <= value <= 180.0:
        raise InvalidArea(f"{path}: longitude {value} out of range -180..180")
    if not is_lon and not -90.0 <= value <= 90.0:
        raise InvalidArea(f"{path}: latitude {value} out of range -90..90")


def _ring_xy(raw: Any, path: str) -> NDArray[np.float64]:
    """A ring's `[lon, lat]` positions as an (n, 2) array, with the checks of `_ring`.

    Country outlines have tens of thousands of positions: the common case (every position a pair of
    plain numbers, all in range, ring closed) is checked in bulk; anything else goes through
    `_ring`, which names the first problem.
    """
    xy = _plain_ring_xy(raw)
    return xy if xy is not None else np.asarray(_ring(raw, path), dtype=float)


def _plain_ring_xy(raw: Any) -> NDArray[np.float64] | None:
    """The ring as an array when it passes every check of `_ring` with two numbers per position, else
    None (including when it would pass with altitudes: `_ring` handles those)."""
    if not isinstance(raw, list | tuple) or len(raw) < 4:
        return None
    try:
        if not set(map(type, raw)) <= _SEQUENCES or set(map(len, raw)) != {2}:
            return None
        if not set(map(type, itertools.chain.from_iterable(raw))) <= _NUMBERS:  # bool is not int here
            return None
        xy = np.array(raw, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return None
    lon, lat = xy[:, 0], xy[:, 1]
    plain = (
        bool(np.isfinite(xy).all())
        and bool(((lon >= -180.0) & (lon <= 180.0) & (lat >= -90.0) & (lat <= 90.0)).all())
        and bool((xy[0] == xy[-1]).all())
    )
    return xy if plain else None


_SEQUENCES: Final = frozenset({list, tuple})
_NUMBERS: Final = frozenset({int, float})


def _ring(raw: Any, path: str) -> list[tuple[float, float]]:
    positions = _list(raw, path)
    if len(positions) < 4:
        raise InvalidArea(f"{path}: a ring needs at least 4 positions (closed), got {len(positions)}")
    ring = []
    for k, raw_position in enumerate(positions):
        position = _list(raw_position, f"{path}[{k}]")
        if len(position) not in (2, 3):
            raise InvalidArea(f"{path}[{k}] must be a [lon, lat] position, got {len(position)} numbers")
        lon = _number(position[0], f"{path}[{k}][0]")
        lat = _number(position[1], f"{path}[{k}][1]")
        _check_range(lon, True, f"{path}[{k}]")
        _check_range(lat, False, f"{path}[{k}]")
        ring.append((lon, lat))
    if ring[0] != ring[-1]:
        raise InvalidArea(f"{path}: ring is not closed (first position {ring[0]} != last {ring[-1]})")
    return ring


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance in metres between two points (WGS84)."""
    _, _, metres = WGS84.inv(lon1, lat1, lon2, lat2)
    return float(metres)
