"""Overpass tiles: bounded cells that cover the area, their covering rings and their splits."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Polygon, box

from areafetch.errors import InvalidArea
from areafetch.geo import (
    Area,
    Tile,
    bbox_area_km2,
    covering_ring,
    geodesic_area_km2,
    parse_area,
    split_tile,
    tile_area,
)
from tests.geo._shapes import areas, sample_points, star_ring

GEOD = Geod(ellps="WGS84")
HELSINKI = [24.90, 60.15, 25.00, 60.20]
PROPERTIES = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


def assert_tiles_cover(area: Area, tiles: list[Tile], max_poly_vertices: int) -> None:
    union = shapely.union_all([tile.geometry() for tile in tiles])
    assert shapely.area(shapely.difference(area, union)) <= 1e-9 * area.area
    points = sample_points(area, 300, seed=1)
    polygons = np.array([tile.geometry() for tile in tiles])
    shapely.prepare(polygons)
    covered = np.zeros(len(points), dtype=bool)
    for polygon in polygons:
        covered |= shapely.intersects_xy(polygon, points[:, 0], points[:, 1])
    assert covered.all(), points[~covered][:5]
    for tile in tiles:
        geometry = tile.geometry()
        assert geometry.is_valid
        assert len(geometry.interiors) == 0
        assert len(tile.polygon.coordinates[0]) - 1 <= max_poly_vertices


@PROPERTIES
@given(area=areas(), fraction=st.floats(0.02, 2.0), max_poly_vertices=st.integers(4, 40))
def test_tiles_cover_the_area_within_the_size_limit(area, fraction, max_poly_vertices):
    max_tile_km2 = geodesic_area_km2(area) * fraction
    tiles = tile_area(area, max_tile_km2=max_tile_km2, max_poly_vertices=max_poly_vertices)
    assert len({tile.id for tile in tiles}) == len(tiles)
    assert_tiles_cover(area, tiles, max_poly_vertices)
    for tile in tiles:
        assert bbox_area_km2(*tile.bbox) <= max_tile_km2
        geodesic_m2, _ = GEOD.geometry_area_perimeter(box(*tile.bbox))
        assert abs(geodesic_m2) / 1e6 <= max_tile_km2
        assert shapely.intersection(area, box(*tile.bbox)).area > 0
        if tile.full:
            assert shapely.covers(area, box(*tile.bbox))


@PROPERTIES
@given(area=areas(), fraction=st.floats(0.05, 1.0), with_area=st.booleans(), pick=st.integers(0, 10**6))
def test_split_children_cover_the_parent(area, fraction, with_area, pick):
    tiles = tile_area(area, max_tile_km2=geodesic_area_km2(area) * fraction, max_poly_vertices=12)
    parent = tiles[pick % len(tiles)]
    children = split_tile(parent, area if with_area else None, max_poly_vertices=12)
    assert 1 <= len(children) <= 4
    assert {child.id for child in children} <= {f"{parent.id}/{k}" for k in range(4)}
    # A covering ring may reach past its cell (buffered outward); what lies outside the cell is its
    # neighbours' to cover, so the children must cover the parent's polygon within the parent's cell.
    covered = shapely.intersection(area if with_area else parent.geometry(), box(*parent.bbox))
    union = shapely.union_all([child.geometry() for child in children])
    assert shapely.area(shapely.difference(covered, union)) <= 1e-9 * max(covered.area, 1e-12)
    west, south, east, north = parent.bbox
    for child in children:
        child_west, child_south, child_east, child_north = child.bbox
        assert west <= child_west < child_east <= east
        assert south <= child_south < child_north <= north
        assert math.isclose((child_east - child_west) * 2, east - west)
    grandchildren = split_tile(children[0], area if with_area else None)
    assert all(child.id.startswith(f"{children[0].id}/") for child in grandchildren)


def test_helsinki_is_cut_into_at_least_16_tiles():
    area = parse_area(HELSINKI)
    tiles = tile_area(area, max_tile_km2=2.0)
    assert len(tiles) >= 16
    assert sum(tile.full for tile in tiles) >= 4
    assert_tiles_cover(area, tiles, 100)
    assert all(bbox_area_km2(*tile.bbox) <= 2.0 for tile in tiles)


def test_tile_ids_are_stable_across_areas():
    small = tile_area(parse_area([24.95, 60.16, 24.96, 60.17]), max_tile_km2=2.0)
    large = {tile.id: tile.bbox for tile in tile_area(parse_area(HELSINKI), max_tile_km2=2.0)}
    assert small
    for tile in small:
        assert large[tile.id] == tile.bbox


def test_a_bbox_that_fits_one_cell_gives_one_or_few_tiles():
    tiles = tile_area(parse_area([24.95, 60.16, 24.951, 60.161]), max_tile_km2=100.0)
    assert 1 <= len(tiles) <= 4
    assert tiles[0].id.startswith("g")


def test_antimeridian_area_is_tiled_on_both_sides():
    area = parse_area([179.9, -16.6, -179.9, -16.5])
    tiles = tile_area(area, max_tile_km2=5.0)
    assert {tile.bbox[0] < 0 for tile in tiles} == {True, False}
    assert len(tiles) < 100
    assert_tiles_cover(area, tiles, 100)


def test_too_many_tiles_are_refused_before_the_work():
    with pytest.raises(InvalidArea, match=r"area needs more than 1000 tiles of at most 0\.01 km²"):
        tile_area(parse_area(HELSINKI), max_tile_km2=0.01, max_tiles=1000)


def complex_polygon(vertices: int) -> Area:
    return parse_area({"type": "Polygon", "coordinates": [star_ring(24.95, 60.17, 0.1, vertices, seed=7)]})


def test_covering_ring_of_a_complex_part_is_small_and_covers_it():
    area = complex_polygon(2000)
    cell = box(24.90, 60.10, 25.00, 60.20)
    part = shapely.intersection(area, cell)
    ring = covering_ring(part, cell, 30)
    assert len(ring.exterior.coords) - 1 <= 30
    assert ring.covers(part)
    assert ring.area < cell.area * 1.2


def test_covering_ring_of_separate_parts_is_one_ring():
    part = shapely.union_all([box(0, 0, 1, 1), box(2, 0, 3, 1)])
    ring = covering_ring(part, box(0, 0, 3, 1), 8)
    assert isinstance(ring, Polygon)
    assert ring.covers(part)


@pytest.mark.serial  # sub-second timing: alone on the machine
def test_tiling_a_5000_vertex_polygon_takes_well_under_a_second():
    area = complex_polygon(5000)
    tile_area(area, max_tile_km2=50.0)  # warm up imports and caches
    started = time.perf_counter()
    tiles = tile_area(area, max_tile_km2=5.0)
    elapsed = time.perf_counter() - started
    assert len(tiles) > 50
    assert elapsed < 1.0
    assert_tiles_cover(area, tiles, 100)
