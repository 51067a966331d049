"""Overpass cells: the fewest near-square cells of at most `max_cell_km2` laid over the area's bbox.

Unlike the global grid of `_tiles.tile_area`, the grid is anchored on the area itself: an area no
larger than one cell is one cell (one request), however it lies on the globe, and a larger one is
cut into `rows x cols` equal parts of its bbox. A cell the server finds too heavy is split later
(`_tiles.split_tile`), on evidence, never in advance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import Polygon

from areafetch.errors import InvalidArea
from areafetch.geo._area import Area, bbox_area_km2, geodesic_area_km2
from areafetch.geo._tiles import DEFAULT_MAX_POLY_VERTICES, _clip_cells, lon_groups, split_tile
from areafetch.geo.models import BBox, Tile

__all__ = ["cut_by_points", "fit_cells", "plan_cells", "points_within", "split_to_fit"]

_KM_PER_DEG: Final = 111.32
# Cells are sized to this fraction of the maximum so that the geodesic measure stays below it.
_AREA_MARGIN: Final = 0.99


def plan_cells(
    area: Area,
    *,
    max_cell_km2: float,
    max_poly_vertices: int = DEFAULT_MAX_POLY_VERTICES,
    max_cells: int = 100_000,
) -> list[Tile]:
    """Cover an area with as few cells of at most `max_cell_km2` as its bbox allows.

    Args:
        area: A validated area (`parse_area`).
        max_cell_km2: Largest cell in km². An area of at most this size is one cell.
        max_poly_vertices: Most vertices of each cell's covering ring.
        max_cells: Most cells examined; more raises `InvalidArea` before any work.

    Returns:
        Cells `c{group}-{row}-{col}` ordered south to north, west to east, that share area with it.

    Raises:
        InvalidArea: The area needs more than `max_cells` cells of this size.
    """
    if max_cell_km2 <= 0:
        raise ValueError("max_cell_km2 must be positive")
    tiles: list[Tile] = []
    for number, group in enumerate(lon_groups(area)):
        ids, cells = _group_cells(group, number, max_cell_km2, max_cells - len(tiles))
        tiles += _clip_cells(group, ids, cells, max_poly_vertices)
    return tiles


def _group_cells(
    group: Area, number: int, max_cell_km2: float, max_cells: int
) -> tuple[list[str], list[BBox]]:
    west, south, east, north = group.bounds
    if (
        geodesic_area_km2(group) <= max_cell_km2 * _AREA_MARGIN
        and bbox_area_km2(west, south, east, north) <= max_cell_km2 * _AREA_MARGIN
    ):
        return [f"c{number}-0-0"], [(west, south, east, north)]
    side_km = math.sqrt(max_cell_km2 * _AREA_MARGIN)
    height_km = (north - south) * _KM_PER_DEG
    # The widest row (nearest the equator) decides the columns, so every cell stays under the size.
    widest_lat = 0.0 if south <= 0.0 <= north else min(abs(south), abs(north))
    width_km = (east - west) * _KM_PER_DEG * math.cos(math.radians(widest_lat))
    rows = max(1, math.ceil(height_km / side_km))
    cols = max(1, math.ceil(width_km / side_km))
    while _largest_cell_km2(west, south, east, north, rows, cols) > max_cell_km2 * _AREA_MARGIN:
        if height_km / rows >= width_km / cols:
            rows += 1
        else:
            cols += 1
    if rows * cols > max_cells:
        raise InvalidArea(
            f"area needs more than {max_cells} tiles of at most {max_cell_km2:g} km²; "
            "choose a smaller area or larger tiles"
        )
    ids: list[str] = []
    cells: list[BBox] = []
    for row in range(rows):
        row_south = south + (north - south) * row / rows
        row_north = north if row == rows - 1 else south + (north - south) * (row + 1) / rows
        for col in range(cols):
            col_west = west + (east - west) * col / cols
            col_east = east if col == cols - 1 else west + (east - west) * (col + 1) / cols
            ids.append(f"c{number}-{row}-{col}")
            cells.append((col_west, row_south, col_east, row_north))
    return ids, cells


def _largest_cell_km2(west: float, south: float, east: float, north: float, rows: int, cols: int) -> float:
    """The cells of the row nearest the equator are the largest."""
    step = (north - south) / rows
    largest = 0.0
    for row in range(rows):
        largest = max(
            largest,
            bbox_area_km2(west, south + row * step, west + (east - west) / cols, south + (row + 1) * step),
        )
    return largest


def fit_cells(
    cell: Tile,
    area: Area,
    estimate: Callable[[Polygon], float],
    *,
    most_places: float,
    depth_left: int,
) -> list[Tile]:
    """The cell, or its quadrants (recursively), until each is expected to hold at most `most_places`.

    Planning from what an earlier area learned (`estimate`: places expected in a polygon), so the
    server is not asked for a cell it could not answer last time. Children are named as a split
    made on the server's evidence would name them.
    """
    if depth_left <= 0 or estimate(cell.geometry()) <= most_places:
        return [cell]
    return [
        fitted
        for child in split_tile(cell, area)
        for fitted in fit_cells(child, area, estimate, most_places=most_places, depth_left=depth_left - 1)
    ]


def split_to_fit(
    cell: Tile,
    area: Area,
    points: NDArray[np.float64],
    most_places: float,
    *,
    max_poly_vertices: int = DEFAULT_MAX_POLY_VERTICES,
) -> list[Tile]:
    """The fewest children, ⌈places / most_places⌉, each holding at most `most_places` of the known
    `points` ((lon, lat) rows inside the cell): the cell's bbox is cut across its longer side at the
    share of the points that each side's children will hold, recursively. Children are
    `cell.id + "/k"`, those sharing no area with the area left out."""
    west, south, east, north = cell.bbox
    inside = points_within(cell.bbox, points)
    parts = max(2, math.ceil(len(inside) / most_places))
    boxes = cut_by_points((west, south, east, north), inside, parts)
    ids = [f"{cell.id}/{k}" for k in range(len(boxes))]
    return _clip_cells(area, ids, boxes, max_poly_vertices)


def points_within(bbox: BBox, points: NDArray[np.float64]) -> NDArray[np.float64]:
    """The (lon, lat) rows of `points` inside `bbox` (west, south, east, north), edges included."""
    west, south, east, north = bbox
    if not len(points):
        return np.empty((0, 2))
    keep = (points[:, 0] >= west) & (points[:, 0] <= east) & (points[:, 1] >= south) & (points[:, 1] <= north)
    return points[keep]


def cut_by_points(bbox: BBox, points: NDArray[np.float64], parts: int) -> list[BBox]:
    """`parts` boxes that tile `bbox`, each holding about an equal share of `points` ((lon, lat) rows
    inside it): cut across the longer side at the share, recursively (a k-d cut)."""
    if parts <= 1:
        return [bbox]
    west, south, east, north = bbox
    first = parts // 2
    across_lon = (east - west) * math.cos(math.radians((south + north) / 2)) >= north - south
    axis, low, high = (0, west, east) if across_lon else (1, south, north)
    values = np.sort(points[:, axis])
    if len(values) >= 2:
        at = values[min(len(values) - 1, max(0, round(len(values) * first / parts) - 1))]
        after = values[values > at]
        cut = (at + after[0]) / 2 if len(after) else (at + high) / 2
    else:
        cut = low + (high - low) * first / parts  # nothing counted here: cut by area
    cut = min(max(cut, low + (high - low) * 1e-6), high - (high - low) * 1e-6)
    lower = (west, south, cut, north) if axis == 0 else (west, south, east, cut)
    upper = (cut, south, east, north) if axis == 0 else (west, cut, east, north)
    below = points[points[:, axis] <= cut]
    above = points[points[:, axis] > cut]
    return cut_by_points(lower, below, first) + cut_by_points(upper, above, parts - first)
