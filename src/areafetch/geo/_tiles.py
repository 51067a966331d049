"""Overpass tiles: a global lon/lat grid of cells of bounded area, clipped to the area.

The grid has `rows` latitude bands of equal height anchored at -90°; each band is cut into as many
equal columns (anchored at -180°) as it needs for every cell to stay under `max_tile_km2`, so cells
are about square everywhere (narrower in degrees near the equator, wider near the poles). The grid
depends only on `max_tile_km2`, so a cell has the same id in every plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from areafetch.errors import InvalidArea
from areafetch.geo._area import Area, bbox_area_km2
from areafetch.geo.models import BBox, GeoJSONPolygon, Tile

__all__ = ["DEFAULT_MAX_POLY_VERTICES", "covering_ring", "split_tile", "tile_area"]

DEFAULT_MAX_POLY_VERTICES: Final = 100
# Cells are sized to this fraction of the maximum, so that any reasonable measure of their area
# (the exact rectangle, or pyproj's geodesic-edged polygon) stays below it.
_AREA_MARGIN: Final = 0.99
_KM_PER_DEG_LAT: Final = 111.0


def tile_area(
    area: Area,
    *,
    max_tile_km2: float,
    max_poly_vertices: int = DEFAULT_MAX_POLY_VERTICES,
    max_tiles: int = 100_000,
) -> list[Tile]:
    """Cut an area into grid tiles of at most `max_tile_km2` that share some area with it.

    Args:
        area: A validated area (`parse_area`).
        max_tile_km2: Largest cell area in km² (exact ellipsoidal area of the lon/lat rectangle).
        max_poly_vertices: Most vertices of each tile's covering ring.
        max_tiles: Most candidate cells examined; more raises `InvalidArea` before any work.

    Returns:
        Tiles ordered south to north, west to east, ids unique.

    Raises:
        InvalidArea: The area needs more than `max_tiles` cells at this tile size.
    """
    if max_tile_km2 <= 0:
        raise ValueError("max_tile_km2 must be positive")
    rows = _grid_rows(max_tile_km2)
    ids: list[str] = []
    cells: list[BBox] = []
    for group in lon_groups(area):
        west, south, east, north = group.bounds
        first, last = _index(south + 90.0, 180.0 / rows, rows), _index(north + 90.0, 180.0 / rows, rows)
        for row in range(first, last + 1):
            row_south, row_north = _edge(-90.0, 180.0, rows, row), _edge(-90.0, 180.0, rows, row + 1)
            cols = _grid_cols(rows, row, max_tile_km2)
            col_first, col_last = (
                _index(west + 180.0, 360.0 / cols, cols),
                _index(east + 180.0, 360.0 / cols, cols),
            )
            if len(cells) + col_last - col_first + 1 > max_tiles:
                raise InvalidArea(
                    f"area needs more than {max_tiles} tiles of at most {max_tile_km2:g} km²; "
                    "choose a smaller area or larger tiles"
                )
            for col in range(col_first, col_last + 1):
                ids.append(f"g{rows}-y{row}-x{col}")
                cells.append(
                    (
                        _edge(-180.0, 360.0, cols, col),
                        row_south,
                        _edge(-180.0, 360.0, cols, col + 1),
                        row_north,
                    )
                )
    return _clip_cells(area, ids, cells, max_poly_vertices)


def split_tile(
    tile: Tile,
    area: Area | None = None,
    *,
    max_poly_vertices: int = DEFAULT_MAX_POLY_VERTICES,
) -> list[Tile]:
    """Split a tile into its quadrants, for when Overpass says the tile is too big.

    Children are `tile.id + "/0"` (south-west), `"/1"` (south-east), `"/2"` (north-west) and
    `"/3"` (north-east); those that share no area with what they clip are left out.

    Args:
        tile: The tile to split.
        area: The area, for the tightest child polygons; without it the children clip the tile's
            own polygon, which covers the area inside the tile, so they still cover the area.
        max_poly_vertices: Most vertices of each child's covering ring.

    Returns:
        Up to four child tiles whose polygons together cover what the parent's covered inside its
        cell (a parent's ring may reach past its cell; that part is its neighbours' to cover).
    """
    west, south, east, north = tile.bbox
    mid_lon, mid_lat = (west + east) / 2.0, (south + north) / 2.0
    quadrants: list[BBox] = [
        (west, south, mid_lon, mid_lat),
        (mid_lon, south, east, mid_lat),
        (west, mid_lat, mid_lon, north),
        (mid_lon, mid_lat, east, north),
    ]
    ids = [f"{tile.id}/{k}" for k in range(4)]
    clip: BaseGeometry = tile.geometry() if area is None else area
    return _clip_cells(clip, ids, quadrants, max_poly_vertices)


def covering_ring(part: BaseGeometry, cell: Polygon, max_vertices: int) -> Polygon:
    """One ring without holes, of at most `max_vertices` vertices, that covers `part` (inside `cell`).

    Tries, in order: the part's exterior ring as it is; a Douglas-Peucker simplification buffered
    outward by the tolerance (trimmed to the cell when that keeps it small enough), with the
    tolerance doubled until it fits; the convex hull; the part's bounding box. Every candidate is
    checked with `covers` before it is taken, so the result never loses any of `part`.
    """
    shells = [Polygon(polygon.exterior) for polygon in _polygons(part)]
    if not shells:
        raise ValueError("nothing to cover: the part has no area")
    candidate = shells[0] if len(shells) == 1 else shapely.convex_hull(MultiPolygon(shells))
    if not isinstance(candidate, Polygon):  # pragma: no cover - a hull of polygons with area is a polygon
        return box(*part.bounds)
    if _vertices(candidate) <= max_vertices:
        return candidate
    simplified = _simplified_cover(candidate, cell, max_vertices)
    if simplified is not None:
        return simplified
    hull = shapely.convex_hull(candidate)
    if isinstance(hull, Polygon) and _vertices(hull) <= max_vertices:
        return hull
    return box(*candidate.bounds)


def lon_groups(area: Area) -> list[Area]:
    """The area as one group, or its western and eastern parts when it spans the antimeridian.

    Planning over the bounds of an area on both sides of ±180° would walk the whole globe.
    """
    west, _, east, _ = area.bounds
    if east - west <= 180.0 or not isinstance(area, MultiPolygon):
        return [area]
    parts = list(area.geoms)
    western = [p for p in parts if p.centroid.x < 0]
    eastern = [p for p in parts if p.centroid.x >= 0]
    return [MultiPolygon(group) if len(group) > 1 else group[0] for group in (western, eastern) if group]


def _grid_rows(max_tile_km2: float) -> int:
    side_km = math.sqrt(max_tile_km2 * _AREA_MARGIN)
    return max(1, math.ceil(180.0 * _KM_PER_DEG_LAT / side_km))


def _grid_cols(rows: int, row: int, max_tile_km2: float) -> int:
    band_km2 = bbox_area_km2(
        -180.0, _edge(-90.0, 180.0, rows, row), 180.0, _edge(-90.0, 180.0, rows, row + 1)
    )
    return max(1, math.ceil(band_km2 / (max_tile_km2 * _AREA_MARGIN)))


def _edge(origin: float, span: float, count: int, index: int) -> float:
    # The same expression for both neighbours of an edge, so they share it bit for bit.
    return origin + (index * span) / count


def _index(offset: float, step: float, count: int) -> int:
    return min(max(math.floor(offset / step), 0), count - 1)


def _clip_cells(
    area: BaseGeometry, ids: Sequence[str], cells: Sequence[BBox], max_poly_vertices: int
) -> list[Tile]:
    if not cells:
        return []
    bounds = np.asarray(cells, dtype=float)
    boxes = shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
    shapely.prepare(area)
    hit = np.flatnonzero(shapely.intersects(area, boxes))
    full = shapely.covers(area, boxes[hit])
    tiles = []
    for index, is_full in zip(hit.tolist(), full.tolist(), strict=True):
        cell: Polygon = boxes[index]
        if is_full:
            polygon = shapely.orient_polygons(cell)
        else:
            part = _clip(area, cell)
            if shapely.area(part) <= 0:  # the cell only touches the area
                continue
            polygon = shapely.orient_polygons(covering_ring(part, cell, max_poly_vertices))
        tiles.append(
            Tile(
                id=ids[index],
                bbox=_bbox(bounds[index]),
                polygon=GeoJSONPolygon.from_shapely(polygon),
                full=bool(is_full),
            )
        )
    return tiles


def _clip(area: BaseGeometry, cell: Polygon) -> BaseGeometry:
    # GEOS's rectangle clipping is some 30 times faster than a general overlay on complex areas, but
    # may return an invalid result; the overlay is the fallback then.
    part = shapely.clip_by_rect(area, *cell.bounds)
    return part if part.is_valid else shapely.intersection(area, cell)


def _bbox(row: NDArray[np.float64]) -> BBox:
    west, south, east, north = (float(value) for value in row)
    return (west, south, east, north)


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    return [p for p in shapely.get_parts(geometry).tolist() if isinstance(p, Polygon) and p.area > 0]


def _vertices(polygon: Polygon) -> int:
    return len(polygon.exterior.coords) - 1


def _simplified_cover(polygon: Polygon, cell: Polygon, max_vertices: int) -> Polygon | None:
    west, south, east, north = polygon.bounds
    tolerance = max(east - west, north - south) / max_vertices
    for _ in range(16):
        simple = shapely.simplify(polygon, tolerance, preserve_topology=True)
        grown = shapely.buffer(simple, tolerance * 1.05, join_style="mitre", mitre_limit=5.0)
        shells = _polygons(grown)
        if len(shells) == 1:
            cover = Polygon(shells[0].exterior)
            trimmed = shapely.intersection(cover, cell)
            if (
                isinstance(trimmed, Polygon)
                and _vertices(trimmed) <= max_vertices
                and shapely.covers(trimmed, polygon)
            ):
                return Polygon(trimmed.exterior)
            if _vertices(cover) <= max_vertices and shapely.covers(cover, polygon):
                return cover
        tolerance *= 2.0
    return None
