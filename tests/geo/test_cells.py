"""Overpass cells over the area's own bbox: a city is one cell, a region a handful, all covered."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from areafetch.errors import InvalidArea
from areafetch.geo import geodesic_area_km2, parse_area
from areafetch.geo._cells import plan_cells, split_to_fit


@pytest.mark.parametrize(
    ("bbox", "max_cell_km2", "expected_cells"),
    [
        ([24.80, 60.10, 25.05, 60.25], 1_000.0, 1),  # Helsinki-sized, ~230 km² -> one call
        ([24.50, 60.00, 25.50, 60.50], 1_000.0, 4),  # ~3,100 km² region -> a handful
        ([24.50, 60.00, 25.50, 60.50], 25.0, 144),
    ],
)
def test_fewest_cells_under_the_size_that_cover_the_area(
    bbox: list[float], max_cell_km2: float, expected_cells: int
) -> None:
    area = parse_area(bbox, max_area_km2=None)
    cells = plan_cells(area, max_cell_km2=max_cell_km2)
    assert len(cells) == expected_cells
    assert len({cell.id for cell in cells}) == len(cells)
    for cell in cells:
        assert geodesic_area_km2(shapely.box(*cell.bbox)) <= max_cell_km2
    assert shapely.union_all([cell.geometry() for cell in cells]).covers(area)


def test_a_small_area_anywhere_is_one_cell_even_across_grid_lines() -> None:
    for west in (-0.05, 9.99, 179.9):  # straddles meridians a global grid would cut at
        area = parse_area([west, 44.99, west + 0.05, 45.01], max_area_km2=None)
        assert len(plan_cells(area, max_cell_km2=100.0)) == 1


def test_a_diagonal_strip_keeps_only_the_cells_it_touches() -> None:
    strip = parse_area(
        {
            "type": "Polygon",
            "coordinates": [[[0, 0], [0.1, 0], [2, 1.9], [2, 2], [1.9, 2], [0, 0.1], [0, 0]]],
        },
        max_area_km2=None,
    )
    cells = plan_cells(strip, max_cell_km2=500.0)
    assert len(cells) < 10 * 10  # the empty corners of the bbox cost nothing
    assert shapely.union_all([cell.geometry() for cell in cells]).buffer(1e-9).covers(strip)


def test_too_many_cells_is_refused_before_any_work() -> None:
    area = parse_area([0, 0, 1, 1], max_area_km2=None)
    with pytest.raises(InvalidArea, match="more than 10 tiles"):
        plan_cells(area, max_cell_km2=1.0, max_cells=10)


@pytest.mark.parametrize(("places", "most"), [(300, 48.8), (61, 60.0), (1000, 100.0), (97, 10.0)])
def test_a_cell_is_cut_into_the_fewest_children_that_each_hold_at_most_the_load(
    places: int, most: float
) -> None:
    area = parse_area([24.0, 60.0, 24.4, 60.1])
    [cell] = plan_cells(area, max_cell_km2=10_000)
    rng = np.random.default_rng(places)
    # Clustered, as a city is: equal parts would not fit.
    points = np.column_stack([rng.normal(24.1, 0.02, places), rng.normal(60.05, 0.01, places)])
    points = np.clip(points, [24.0, 60.0], [24.4, 60.1])
    children = split_to_fit(cell, area, points, most)

    assert len(children) == max(2, math.ceil(places / most))
    assert [child.id for child in children] == [f"{cell.id}/{k}" for k in range(len(children))]
    for child in children:
        west, south, east, north = child.bbox
        inside = (
            (points[:, 0] >= west)
            & (points[:, 0] <= east)
            & (points[:, 1] >= south)
            & (points[:, 1] <= north)
        )
        assert int(inside.sum()) <= most
    union = shapely.union_all([child.geometry() for child in children])
    assert shapely.area(shapely.difference(cell.geometry(), union)) <= 1e-12
