"""Choosing Nearby Search or Text Search per circle, from the places known around it."""

from __future__ import annotations

import numpy as np
import shapely

from areafetch.areas.categories import google_types
from areafetch.geo import cover_with_circles
from areafetch.geo._cover import simulate_nearby_calls
from areafetch.processors.google_cover import KnownPlaces, choose_method, circle_region

AREA = shapely.box(24.90, 60.15, 24.98, 60.19)
[CIRCLE] = cover_with_circles(AREA)


def _scatter(n: int, seed: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    return [
        (float(x), float(y))
        for x, y in zip(rng.uniform(24.90, 24.98, n), rng.uniform(60.15, 60.19, n), strict=True)
    ]


def test_known_places_cover_every_type_of_the_categories_even_without_places() -> None:
    known = KnownPlaces.of({"cafe": _scatter(5, 1)}, ["cafe", "dentist", "osm:shop=bakery"], fill=0.5)
    assert list(known.by_type) == google_types(["cafe", "dentist"]) == ["cafe", "dentist", "dental_clinic"]
    assert [len(points) for points in known.by_type.values()] == [5, 0, 0]
    assert known.any
    assert len(known.every()) == 5


def test_dense_places_of_two_types_are_asked_with_text_search() -> None:
    known = KnownPlaces.of(
        {"cafe": _scatter(400, 2), "restaurant": _scatter(800, 3)}, ["cafe", "restaurant"], fill=0.8
    )
    method = choose_method(CIRCLE, AREA, known)
    assert method.name == "text"
    assert method.text_calls is not None
    assert method.nearby_calls is not None
    assert method.text_calls < method.nearby_calls


def test_a_few_places_of_many_types_are_asked_with_nearby_search() -> None:
    # Text Search asks each of the 14 types at least once; one Nearby call can ask them all.
    categories = [
        "cafe",
        "restaurant",
        "bar",
        "pharmacy",
        "bank",
        "dentist",
        "bakery",
        "hotel",
        "supermarket",
        "fuel",
        "school",
        "library",
    ]
    by_category = {name: _scatter(2, seed) for seed, name in enumerate(categories)}
    method = choose_method(CIRCLE, AREA, KnownPlaces.of(by_category, categories, fill=0.5))
    assert method.name == "nearby"
    assert method.text_calls is not None
    assert method.text_calls >= len(google_types(categories))


def test_nothing_known_is_nearby_search_and_the_setting_forces_either() -> None:
    nothing = KnownPlaces.of({}, ["cafe"], fill=0.5)
    assert choose_method(CIRCLE, AREA, nothing).name == "nearby"
    dense = KnownPlaces.of({"cafe": _scatter(2000, 4)}, ["cafe"], fill=0.8)
    assert choose_method(CIRCLE, AREA, dense, "nearby").name == "nearby"
    assert choose_method(CIRCLE, AREA, nothing, "text").name == "text"


def test_the_nearby_simulation_stops_counting_at_its_rival() -> None:
    region = circle_region(CIRCLE, AREA)
    points = np.asarray(_scatter(1000, 5))
    full = simulate_nearby_calls(region, points, max_radius_m=CIRCLE.radius_m, stop_after=10_000)
    assert full >= 1000 / 20
    assert simulate_nearby_calls(region, points, max_radius_m=CIRCLE.radius_m, stop_after=10) == 10
