"""Text Search rectangles: planned from known places, cut when an answer reaches 60, and counted."""

from __future__ import annotations

import numpy as np
import shapely

from areafetch.geo._text_cover import (
    TEXT_FILL,
    TEXT_MAX_RESULTS,
    plan_text_rectangles,
    split_capped,
    text_call_estimate,
    text_pages,
)

REGION = shapely.box(24.90, 60.15, 24.98, 60.19)


def _points(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = np.column_stack([rng.normal(24.94, 0.01, n), rng.normal(60.17, 0.005, n)])
    return np.clip(centre, [24.90, 60.15], [24.98, 60.19])


def _inside(bbox: tuple[float, float, float, float], points: np.ndarray) -> int:
    west, south, east, north = bbox
    return int(
        (
            (points[:, 0] >= west)
            & (points[:, 0] <= east)
            & (points[:, 1] >= south)
            & (points[:, 1] <= north)
        ).sum()
    )


def test_planned_rectangles_tile_the_region_and_each_holds_at_most_the_fill() -> None:
    known = _points(1000)
    rectangles = plan_text_rectangles(REGION, "cafe", known, id_prefix="c")
    assert len(rectangles) == int(np.ceil(1000 / (TEXT_FILL * TEXT_MAX_RESULTS)))
    assert all(_inside(r.bbox, known) <= TEXT_FILL * TEXT_MAX_RESULTS for r in rectangles)
    union = shapely.union_all([shapely.box(*r.bbox) for r in rectangles])
    assert union.symmetric_difference(REGION).area < 1e-12  # the bbox exactly, without overlap
    assert abs(sum(shapely.box(*r.bbox).area for r in rectangles) - REGION.area) < 1e-12
    assert {r.google_type for r in rectangles} == {"cafe"}
    assert len({r.id for r in rectangles}) == len(rectangles)


def test_nothing_known_is_one_rectangle_and_rectangles_outside_the_region_are_left_out() -> None:
    assert len(plan_text_rectangles(REGION, "cafe", np.empty((0, 2)), id_prefix="c")) == 1
    triangle = shapely.Polygon([(24.90, 60.15), (24.98, 60.15), (24.90, 60.19)])
    known = np.column_stack([np.linspace(24.901, 24.979, 400), np.linspace(60.151, 60.189, 400)])
    rectangles = plan_text_rectangles(triangle, "cafe", known, id_prefix="c")
    assert all(shapely.intersects(triangle, shapely.box(*r.bbox)) for r in rectangles)
    assert len(rectangles) < int(np.ceil(400 / (TEXT_FILL * TEXT_MAX_RESULTS)))


def test_a_capped_rectangle_is_cut_in_four_by_the_places_it_returned() -> None:
    [rectangle] = plan_text_rectangles(REGION, "bar", np.empty((0, 2)), id_prefix="c")
    returned = _points(60, seed=2)
    children = split_capped(REGION, rectangle, returned)
    assert len(children) == 4
    assert [_inside(child.bbox, returned) for child in children] == [15, 15, 15, 15]
    assert all(child.id.startswith(rectangle.id + "/") for child in children)


def test_pages_and_the_estimate_count_what_google_bills() -> None:
    assert [text_pages(n) for n in (0, 1, 20, 21, 40, 59, 60, 500)] == [1, 1, 1, 2, 2, 3, 3, 3]
    known = {"cafe": _points(100, seed=3), "bar": np.empty((0, 2))}
    # 100 cafés in rectangles of at most 48: 3 rectangles of 3 pages at most; the bar query is 1 call.
    assert 1 + 3 <= text_call_estimate(REGION, known) <= 1 + 3 * 3
