"""Property tests of area validation: whatever a client sends as an area, `parse_area` /
`measured_area` either return a valid geometry (with a finite, positive area within the limit)
or raise `InvalidArea`; never another exception."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from areafetch.errors import InvalidArea
from areafetch.geo import measured_area, parse_area

pytestmark = pytest.mark.reliability

MAX_KM2 = 10_000.0
MAX_VERTICES = 500

_SPECIAL = [0.0, -0.0, 180.0, -180.0, 90.0, -90.0, 179.9999999, -179.9999999, 89.9999999, -89.9999999]
coordinate = st.one_of(
    st.floats(min_value=-180, max_value=180),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(_SPECIAL),
    st.integers(min_value=-400, max_value=400),
)
near = st.floats(min_value=-0.05, max_value=0.05, allow_nan=False)
junk: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.text(max_size=5), st.just([]), st.just({}), st.integers(), coordinate
)


@st.composite
def small_ring(draw: st.DrawFn) -> list[list[float]]:
    """A ring of 3-12 points around one place (often self-intersecting), mostly closed."""
    lon = draw(st.one_of(st.floats(-180, 180), st.sampled_from([179.99, -179.99, 0.0])))
    lat = draw(st.one_of(st.floats(-90, 90), st.sampled_from([89.99, -89.99, 0.0])))
    points = [[lon + draw(near), lat + draw(near)] for _ in range(draw(st.integers(3, 12)))]
    if draw(st.booleans()) or len(points) < 4:
        points.append(list(points[0]))
    return points


position = st.one_of(
    st.lists(coordinate, min_size=2, max_size=2),
    st.lists(coordinate, min_size=0, max_size=4),
    junk,
)
any_ring = st.one_of(small_ring(), st.lists(position, max_size=12), junk)
polygon_coordinates = st.lists(any_ring, max_size=3)


def _nested(depth: int) -> Any:
    value: Any = [24.9, 60.1]
    for _ in range(depth):
        value = [value]
    return value


geojson = st.one_of(
    st.fixed_dictionaries({"type": st.just("Polygon"), "coordinates": polygon_coordinates}),
    st.fixed_dictionaries(
        {"type": st.just("MultiPolygon"), "coordinates": st.lists(polygon_coordinates, max_size=3)}
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["Polygon", "MultiPolygon"]), "coordinates": st.integers(0, 60).map(_nested)}
    ),
    st.fixed_dictionaries(
        {
            "type": st.one_of(st.sampled_from(["Point", "LineString", "Feature", ""]), junk),
            "coordinates": junk,
        }
    ),
    st.dictionaries(st.text(max_size=8), junk, max_size=3),
)
bbox = st.one_of(
    st.lists(coordinate, min_size=4, max_size=4), st.lists(coordinate, max_size=6), st.lists(junk, max_size=5)
)


def _check_outcome(area: Any) -> None:
    try:
        geometry, km2 = measured_area(area, max_vertices=MAX_VERTICES, max_area_km2=MAX_KM2)
    except InvalidArea as exc:
        message = str(exc)
        if not message:  # it must name the problem
            raise AssertionError(f"InvalidArea without a message for {area!r}") from exc
        return
    assert geometry.is_valid
    assert not geometry.is_empty
    assert geometry.geom_type in {"Polygon", "MultiPolygon"}
    assert math.isfinite(km2)
    assert 0 < km2 <= MAX_KM2
    minx, miny, maxx, maxy = geometry.bounds
    assert -180 <= minx <= maxx <= 180
    assert -90 <= miny <= maxy <= 90


_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(geojson)
def test_any_geojson_is_a_valid_area_or_invalid_area(area: Any) -> None:
    _check_outcome(area)


@_SETTINGS
@given(bbox)
def test_any_bbox_is_a_valid_area_or_invalid_area(area: Any) -> None:
    _check_outcome(area)


@_SETTINGS
@given(st.one_of(junk, st.binary(max_size=8), st.lists(junk, max_size=3)))
def test_anything_else_is_invalid_area(area: Any) -> None:
    _check_outcome(area)


@pytest.mark.parametrize(
    "area",
    [
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},  # bow tie
        {
            "type": "Polygon",
            "coordinates": [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]],
        },  # the Earth
        {
            "type": "Polygon",
            "coordinates": [[[179.9, 0], [-179.9, 0], [-179.9, 0.1], [179.9, 0.1], [179.9, 0]]],
        },
        {
            "type": "Polygon",
            "coordinates": [[[0, 89.99], [120, 89.99], [-120, 89.99], [0, 89.99]]],
        },  # the pole
        {"type": "Polygon", "coordinates": [[[0, 0], [1e-12, 0], [0, 1e-12], [0, 0]]]},  # a speck
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]},  # a line
        {"type": "Polygon", "coordinates": [[[0, 0], [float("nan"), 0], [0, 1], [0, 0]]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [float("inf"), 0], [0, 1], [0, 0]]]},
        {"type": "Polygon", "coordinates": _nested(900)},
        {
            "type": "MultiPolygon",
            "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[0, 0], [1, 0], [1, 1], [0, 0]]]],
        },
        [float("nan"), 0, 1, 1],
        [179, -1, -179, 1],  # west > east: across the antimeridian
        [0, 0, 0, 0],
        [-200, 0, 200, 1],
    ],
)
def test_hostile_examples(area: Any) -> None:
    _check_outcome(area)


def test_parse_area_agrees_with_measured_area() -> None:
    area = {
        "type": "Polygon",
        "coordinates": [[[24.93, 60.16], [24.94, 60.16], [24.94, 60.17], [24.93, 60.16]]],
    }

    assert parse_area(area).equals(measured_area(area)[0])
