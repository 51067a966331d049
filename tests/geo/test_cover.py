"""NearbyCover against a DISTANCE-ranked stand-in of Nearby Search (the 20 nearest in the circle)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from areafetch.geo._cover import NearbyCover
from areafetch.geo.models import Circle

LON0, LAT0 = 24.94, 60.17
EARTH_RADIUS_M = 6_371_008.8


def nearest_20(circle: Circle, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    phi1, phi2 = math.radians(circle.lat), np.radians(lats)
    a = (
        np.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * np.cos(phi2) * np.sin(np.radians(lons - circle.lon) / 2) ** 2
    )
    distance = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    inside = np.flatnonzero(distance <= circle.radius_m)
    return inside[np.lexsort((inside, distance[inside]))][:20]


def square(side_km: float) -> tuple[shapely.Polygon, float, float]:
    dx = side_km / 2 / (111.32 * math.cos(math.radians(LAT0)))
    dy = side_km / 2 / 110.57
    return shapely.box(LON0 - dx, LAT0 - dy, LON0 + dx, LAT0 + dy), dx, dy


def cover(region: shapely.Polygon, lons: np.ndarray, lats: np.ndarray) -> tuple[set[int], int]:
    nearby = NearbyCover(region)
    found: set[int] = set()
    while (circle := nearby.next_circle()) is not None:
        before = nearby.remaining_m2
        hits = nearest_20(circle, lons, lats)
        found |= {int(i) for i in hits}
        nearby.add_answer(circle, list(zip(lons[hits], lats[hits], strict=True)), capped=len(hits) == 20)
        assert nearby.remaining_m2 < before  # every call proves something not proven before
        assert nearby.calls < 2000
    return found, nearby.calls


@pytest.mark.parametrize("spread", ["uniform", "clustered"])
def test_dense_region_is_complete_within_2_5_times_the_floor(spread: str) -> None:
    region, dx, dy = square(2.0)
    rng = np.random.default_rng(7)
    if spread == "uniform":
        lons = LON0 + rng.uniform(-1.3 * dx, 1.3 * dx, 2000)
        lats = LAT0 + rng.uniform(-1.3 * dy, 1.3 * dy, 2000)
    else:
        lons = LON0 + rng.normal(0, dx / 2, 2000)
        lats = LAT0 + rng.normal(0, dy / 2, 2000)
    found, calls = cover(region, lons, lats)
    inside = {int(i) for i in np.flatnonzero(shapely.contains_xy(region, lons, lats))}
    assert inside <= found
    assert calls <= 2.5 * math.ceil(len(inside) / 20)


def test_an_answer_under_the_cap_finishes_the_region() -> None:
    region, dx, dy = square(5.0)
    lons = np.array([LON0, LON0 + dx / 2, LON0 - dx / 3])
    lats = np.array([LAT0, LAT0 + dy / 2, LAT0 - dy / 4])
    found, calls = cover(region, lons, lats)
    assert (found, calls) == ({0, 1, 2}, 1)


def test_places_stacked_on_one_point_still_end() -> None:
    region, _, _ = square(1.0)
    lons = np.full(45, LON0)
    lats = np.full(45, LAT0)
    nearby = NearbyCover(region)
    circle = nearby.next_circle()
    assert circle is not None
    hits = nearest_20(circle, lons, lats)
    nearby.add_answer(circle, list(zip(lons[hits], lats[hits], strict=True)), capped=True)
    assert nearby.crowded == [(circle.lon, circle.lat)]
    found, calls = cover(region, lons, lats)
    assert len(found) == 20
    assert calls < 50  # the 20 nearest all on one point prove a metre; the rest of the region still ends


def test_after_an_answer_that_proves_nothing_new_the_next_call_is_on_what_remains() -> None:
    region, dx, dy = square(1.0)
    nearby = NearbyCover(region)
    outside = Circle(id="x", lon=LON0 + 3 * dx, lat=LAT0, radius_m=5.0)
    before = nearby.remaining_m2
    nearby.add_answer(outside, [], capped=False)
    assert nearby.remaining_m2 == before
    circle = nearby.next_circle()
    assert circle is not None
    # the lowest point of what remains: a southern corner of the square (which one is rounding)
    assert min(abs(circle.lon - (LON0 - dx)), abs(circle.lon - (LON0 + dx))) < 1e-6
    assert circle.lat == pytest.approx(LAT0 - dy, abs=1e-6)
