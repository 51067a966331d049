"""Area input: GeoJSON and bbox validation, and areas in km²."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from areafetch.errors import InvalidArea
from areafetch.geo import (
    area_from_bbox,
    area_from_geojson,
    bbox_area_km2,
    geodesic_area_km2,
    measured_area,
    parse_area,
    validate_area,
    vertex_count,
)
from areafetch.geo._area import _plain_ring_xy, _ring
from tests.geo._shapes import star_ring

SQUARE = [[24.9, 60.15], [25.0, 60.15], [25.0, 60.2], [24.9, 60.2], [24.9, 60.15]]


def polygon(*rings: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def test_polygon_is_parsed_and_oriented_counter_clockwise():
    clockwise = list(reversed(SQUARE))
    area = parse_area(polygon(clockwise))
    assert isinstance(area, Polygon)
    assert area.exterior.is_ccw
    assert area.bounds == (24.9, 60.15, 25.0, 60.2)


def test_polygon_with_hole_and_altitude():
    hole = [[24.94, 60.16], [24.94, 60.18], [24.96, 60.18], [24.96, 60.16], [24.94, 60.16]]
    with_altitude = [[*position, 12.5] for position in SQUARE]
    area = parse_area(polygon(with_altitude, hole))
    assert isinstance(area, Polygon)
    assert len(area.interiors) == 1
    assert not area.interiors[0].is_ccw
    full = geodesic_area_km2(parse_area(polygon(SQUARE)))
    assert geodesic_area_km2(area) < full


def test_multipolygon_is_parsed():
    other = [[x + 1, y] for x, y in SQUARE]
    area = parse_area({"type": "MultiPolygon", "coordinates": [[SQUARE], [other]]})
    assert isinstance(area, MultiPolygon)
    assert len(area.geoms) == 2


def test_bbox_is_parsed():
    area = parse_area([24.9, 60.15, 25.0, 60.2])
    assert isinstance(area, Polygon)
    assert area.bounds == (24.9, 60.15, 25.0, 60.2)


def test_antimeridian_bbox_is_split_in_two():
    area = area_from_bbox([179.5, -17.0, -179.5, -16.0], max_area_km2=None)
    assert isinstance(area, MultiPolygon)
    assert sorted(part.bounds for part in area.geoms) == [
        (-180.0, -17.0, -179.5, -16.0),
        (179.5, -17.0, 180.0, -16.0),
    ]
    assert geodesic_area_km2(area) == pytest.approx(bbox_area_km2(0.0, -17.0, 1.0, -16.0), rel=1e-6)


@pytest.mark.parametrize(
    ("area", "message"),
    [
        (
            {"type": "Point", "coordinates": [1, 2]},
            "must be a GeoJSON Polygon or MultiPolygon, got type 'Point'",
        ),
        ({"type": "Feature", "geometry": {}}, "got type 'Feature'"),
        ({"coordinates": []}, "got type None"),
        (polygon(), "area is empty: the Polygon has no coordinates"),
        ({"type": "MultiPolygon", "coordinates": [[]]}, "area is empty: coordinates[0] has no rings"),
        ({"type": "Polygon", "coordinates": "abc"}, "coordinates must be an array, got str"),
        (polygon(SQUARE[:3]), "coordinates[0]: a ring needs at least 4 positions (closed), got 3"),
        (
            polygon(SQUARE[:4]),
            "coordinates[0]: ring is not closed (first position (24.9, 60.15) != last (24.9, 60.2))",
        ),
        (
            polygon([[24.9, 60.15], [math.nan, 60.15], *SQUARE[2:]]),
            "coordinates[0][1][0] is not a finite number: nan",
        ),
        (
            polygon([[24.9, 60.15], [math.inf, 60.15], *SQUARE[2:]]),
            "coordinates[0][1][0] is not a finite number: inf",
        ),
        (
            polygon([[24.9, 60.15], [181.0, 60.15], *SQUARE[2:]]),
            "coordinates[0][1]: longitude 181.0 out of range -180..180",
        ),
        (
            polygon([[24.9, 60.15], [25.0, -91.0], *SQUARE[2:]]),
            "coordinates[0][1]: latitude -91.0 out of range -90..90",
        ),
        (
            polygon([[24.9, 60.15], [25.0, "60"], *SQUARE[2:]]),
            "coordinates[0][1][1] must be a number, got '60'",
        ),
        (
            polygon([[24.9, 60.15], [True, 60.15], *SQUARE[2:]]),
            "coordinates[0][1][0] must be a number, got True",
        ),
        (
            polygon([[24.9, 60.15], [25.0], *SQUARE[2:]]),
            "coordinates[0][1] must be a [lon, lat] position, got 1 numbers",
        ),
        (
            polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]),
            "area geometry is invalid: Self-intersection[0.5 0.5]",
        ),
        (
            {"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE]]},
            "area geometry is invalid: Self-intersection",
        ),
        (polygon([[0, 0], [1, 0], [2, 0], [0, 0]]), "area geometry is invalid: Self-intersection[1 0]"),
        ("24.9,60.15,25,60.2", "must be a GeoJSON Polygon/MultiPolygon object or a bbox"),
        ([24.9, 60.15, 25.0], "bbox must be [west, south, east, north]: four numbers"),
        ([24.9, 60.15, 25.0, math.nan], "bbox north is not a finite number: nan"),
        ([24.9, 60.15, 25.0, None], "bbox north must be a number, got None"),
        ([-181.0, 60.15, 25.0, 60.2], "bbox west: longitude -181.0 out of range -180..180"),
        ([24.9, 60.15, 25.0, 90.5], "bbox north: latitude 90.5 out of range -90..90"),
        ([24.9, 60.2, 25.0, 60.15], "bbox south (60.2) must be less than north (60.15)"),
        ([24.9, 60.2, 25.0, 60.2], "bbox south (60.2) must be less than north (60.2)"),
        ([25.0, 60.15, 25.0, 60.2], "bbox has zero width: west and east are both 25.0"),
        ([180.0, 60.15, -180.0, 60.2], "bbox has zero area: west 180.0, east -180.0"),
        ([0.0, 0.0, 10.0, 10.0], "area is 1224832.6 km²"),
        ([0.0, 0.0, 10.0, 10.0], "km², more than the maximum of 10000 km²"),
    ],
)
def test_invalid_areas_are_rejected_with_the_problem_named(area, message):
    with pytest.raises(InvalidArea) as caught:
        parse_area(area)
    assert message in str(caught.value)


def test_vertex_limit():
    ring = [[24.9 + 0.1 * math.cos(a / 20), 60.15 + 0.05 * math.sin(a / 20)] for a in range(125)]
    ring.append(ring[0])
    assert vertex_count(parse_area(polygon(ring), max_vertices=125)) == 125
    with pytest.raises(InvalidArea, match="area has 125 vertices, more than the limit of 124"):
        parse_area(polygon(ring), max_vertices=124)


def test_max_area_is_configurable():
    bbox = [24.9, 60.15, 25.0, 60.2]
    with pytest.raises(InvalidArea, match=r"area is 30\.9 km², more than the maximum of 30 km²"):
        area_from_bbox(bbox, max_area_km2=30)
    assert geodesic_area_km2(area_from_bbox(bbox, max_area_km2=31)) == pytest.approx(30.92, abs=0.01)
    assert area_from_bbox([0, 0, 10, 10], max_area_km2=None).area == 100


def test_validate_area_checks_shapely_geometries():
    validated = validate_area(box(24.9, 60.15, 25.0, 60.2))
    assert isinstance(validated, Polygon)
    assert validated.exterior.is_ccw
    with pytest.raises(InvalidArea, match="must be a Polygon or MultiPolygon, got LineString"):
        validate_area(LineString([(0, 0), (1, 1)]))
    with pytest.raises(InvalidArea, match="area is empty"):
        validate_area(Polygon())
    with pytest.raises(InvalidArea, match=r"area east bound: longitude 190\.0 out of range"):
        validate_area(box(170, 0, 190, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # shapely warns while building it
        with_nan = Polygon([(0, 0), (1, 0), (math.nan, 1), (0, 0)])
    with pytest.raises(InvalidArea, match="not a finite number"):
        validate_area(with_nan)
    with pytest.raises(InvalidArea, match="Self-intersection"):
        validate_area(Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)]))
    geometry, km2 = measured_area(box(24.9, 60.15, 25.0, 60.2))
    assert km2 == pytest.approx(geodesic_area_km2(geometry))


def test_area_from_geojson_rejects_too_many_vertices_before_reading_them():
    ring = [["not", "numbers"]] * 20
    with pytest.raises(InvalidArea, match="more than the limit of 10"):
        area_from_geojson(polygon(ring), max_vertices=10)


@pytest.mark.parametrize(
    "bbox", [(0.0, 0.0, 1.0, 1.0), (24.9, 60.15, 25.0, 60.2), (-75.0, -45.0, -74.0, -44.0)]
)
def test_bbox_area_matches_the_geodesic_value(bbox):
    geodesic_m2, _ = Geod(ellps="WGS84").geometry_area_perimeter(box(*bbox))
    assert bbox_area_km2(*bbox) == pytest.approx(abs(geodesic_m2) / 1e6, rel=0.005)


@pytest.mark.parametrize(
    "bbox", [(24.9, 60.15, 25.0, 60.2), (-75.0, -45.0, -70.0, -40.0), (10.0, 79.0, 30.0, 80.0)]
)
def test_area_reads_edges_as_lon_lat_lines_like_the_tiles(bbox):
    # pyproj alone reads a 20° wide edge at 80°N as a geodesic, 2 % off the lon/lat box; densified, it agrees.
    exact = bbox_area_km2(*bbox)
    assert geodesic_area_km2(parse_area(list(bbox), max_area_km2=None)) == pytest.approx(exact, rel=1e-4)


def test_known_bbox_areas():
    # One degree square at the equator: 111.32 km x 110.57 km.
    assert bbox_area_km2(0.0, 0.0, 1.0, 1.0) == pytest.approx(12_308.8, rel=0.005)
    # The whole ellipsoid: 510,065,622 km².
    assert bbox_area_km2(-180.0, -90.0, 180.0, 90.0) == pytest.approx(510_065_621.7, rel=1e-6)


def _per_position(ring: Any) -> np.ndarray:
    return np.asarray(_ring(ring, "r"), dtype=float)


@pytest.mark.parametrize("seed", range(20))
def test_bulk_ring_check_gives_what_the_per_position_check_gives(seed):
    # Country outlines take the bulk path; it must build the very same coordinates.
    ring = star_ring(-60.0 + 6 * seed, -50.0 + 5 * seed, 0.3, 50 + 40 * seed, seed)
    as_lists = [[float(lon), float(lat)] for lon, lat in ring]  # as JSON gives them
    as_lists[1] = [round(as_lists[1][0]), round(as_lists[1][1])]  # ints are numbers too
    as_lists[-1] = as_lists[0] = list(as_lists[1])
    for raw in (as_lists, [tuple(position) for position in as_lists], tuple(as_lists)):
        bulk = _plain_ring_xy(raw)
        assert bulk is not None
        assert bulk.dtype == np.float64
        assert np.array_equal(bulk, _per_position(raw))


@pytest.mark.parametrize(
    "position",
    [
        [25.0, "60"],
        [True, 60.15],
        [25.0],
        [25.0, 60.15, 12.5],  # an altitude: the per-position check drops it
        [math.nan, 60.15],
        [math.inf, 60.15],
        [181.0, 60.15],
        [25.0, -91.0],
        [25.0, None],
        "ab",
        {"lon": 25.0, "lat": 60.15},
    ],
)
def test_bulk_ring_check_leaves_every_doubtful_ring_to_the_per_position_check(position):
    ring = [*SQUARE[:1], position, *SQUARE[2:]]
    assert _plain_ring_xy(ring) is None
    assert _plain_ring_xy(SQUARE[:4]) is None  # not closed
    assert _plain_ring_xy(SQUARE[:3]) is None  # too short
    assert _plain_ring_xy("abcde") is None


def test_large_outline_is_parsed_exactly():
    shell = star_ring(8.2, 46.8, 1.5, 20_000, 7)
    hole = star_ring(8.2, 46.8, 0.2, 500, 8)[::-1]
    rings = [[[float(lon), float(lat)] for lon, lat in ring] for ring in (shell, hole)]
    geojson = {"type": "MultiPolygon", "coordinates": [rings]}
    area = parse_area(geojson, max_vertices=50_000, max_area_km2=None)
    expected = MultiPolygon([Polygon(shell, [hole])])
    assert area.equals_exact(shapely.orient_polygons(expected, exterior_cw=False), tolerance=0.0)
    assert vertex_count(area) == 20_500
