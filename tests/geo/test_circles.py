"""Google circles: a covering lattice of circles and circle splits, coverage checked geodesically."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from pyproj import Geod

from areafetch.errors import InvalidArea
from areafetch.geo import MAX_CIRCLE_RADIUS_M, Circle, cover_with_circles, parse_area, split_circle
from tests.geo._shapes import areas, sample_points

GEOD = Geod(ellps="WGS84")
PROPERTIES = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


def uncovered(points: NDArray[np.float64], circles: list[Circle]) -> NDArray[np.float64]:
    """Points (lon, lat rows) that lie in no circle, by geodesic distance."""
    lons = np.repeat(points[:, 0], len(circles))
    lats = np.repeat(points[:, 1], len(circles))
    centre_lons = np.tile([c.lon for c in circles], len(points))
    centre_lats = np.tile([c.lat for c in circles], len(points))
    radii = np.tile([c.radius_m for c in circles], len(points))
    _, _, distances = GEOD.inv(centre_lons, centre_lats, lons, lats)
    inside = (distances <= radii).reshape(len(points), len(circles)).any(axis=1)
    return np.asarray(points[~inside], dtype=np.float64)


def points_in_circle(circle: Circle, count: int, seed: int) -> NDArray[np.float64]:
    """Random points in the circle, plus its boundary and the points where child circles meet."""
    rng = np.random.default_rng(seed)
    azimuths = np.concatenate([rng.uniform(0, 360, count), np.arange(0, 360, 7.5), np.arange(0, 360, 7.5)])
    fractions = np.concatenate([np.sqrt(rng.uniform(0, 1, count)), np.ones(48), np.full(48, 0.5)])
    lons, lats, _ = GEOD.fwd(
        np.full(len(azimuths), circle.lon),
        np.full(len(azimuths), circle.lat),
        azimuths,
        fractions * circle.radius_m,
    )
    return np.column_stack([np.append(lons, circle.lon), np.append(lats, circle.lat)])


@PROPERTIES
@given(area=areas(), radius_m=st.floats(500.0, MAX_CIRCLE_RADIUS_M))
def test_circles_cover_the_area(area, radius_m):
    circles = cover_with_circles(area, max_radius_m=radius_m)
    assert circles
    assert len({circle.id for circle in circles}) == len(circles)
    assert all(circle.radius_m <= radius_m for circle in circles)
    assert len(uncovered(sample_points(area, 200, seed=2), circles)) == 0


@PROPERTIES
@given(
    lon=st.floats(-179, 179),
    lat=st.floats(-80, 80),
    radius_m=st.floats(10.0, MAX_CIRCLE_RADIUS_M),
    parts=st.sampled_from([4, 7]),
)
def test_split_circles_cover_the_parent(lon, lat, radius_m, parts):
    parent = Circle(id="c0-1-2", lon=lon, lat=lat, radius_m=radius_m)
    children = split_circle(parent, parts=parts)
    assert [child.id for child in children] == [f"c0-1-2/{k}" for k in range(parts)]
    limit = 1.02 * radius_m / (np.sqrt(2) if parts == 4 else 2)
    assert all(child.radius_m <= limit for child in children)
    assert len(uncovered(points_in_circle(parent, 300, seed=3), children)) == 0


def test_helsinki_circles():
    area = parse_area([24.90, 60.15, 25.00, 60.20])
    assert len(cover_with_circles(area)) == 1
    small = cover_with_circles(area, max_radius_m=1000.0, id_prefix="t1~")
    assert 10 <= len(small) <= 40
    assert all(circle.id.startswith("t1~0-") for circle in small)


def test_split_with_an_area_drops_children_outside_it():
    area = parse_area([24.90, 60.15, 25.00, 60.20])
    lon, lat, _ = GEOD.fwd(24.90, 60.15, 225.0, 1500.0)  # 1.5 km south-west of the area's corner
    outside = Circle(id="c", lon=lon, lat=lat, radius_m=2000.0)
    assert [child.id for child in split_circle(outside, area=area)] == ["c/0"]  # the north-east child
    assert [child.id for child in split_circle(outside, area=area, parts=7)] == ["c/2"]  # bearing 60°


def test_antimeridian_area_gets_circles_on_both_sides():
    area = parse_area([179.9, -16.6, -179.9, -16.5])
    circles = cover_with_circles(area, max_radius_m=5000.0)
    assert {circle.lon < 0 for circle in circles} == {True, False}
    assert len(circles) < 20
    assert len(uncovered(sample_points(area, 200, seed=5), circles)) == 0


def test_limits():
    area = parse_area([24.90, 60.15, 25.00, 60.20])
    with pytest.raises(InvalidArea, match="area needs more than 10 circles of at most 100 m"):
        cover_with_circles(area, max_radius_m=100.0, max_circles=10)
    with pytest.raises(ValueError, match="max_radius_m"):
        cover_with_circles(area, max_radius_m=60_000.0)
