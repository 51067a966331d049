"""Covering a region with Text Search (New): one query per Google type in each rectangle, paged.

    rectangles = plan_text_rectangles(region, "cafe", known_cafes, id_prefix="c0-0-0")
    while rectangles:
        rectangle = rectangles.pop()
        returned = ...  # every page of the query (at most 3 pages of 20)
        if len(returned) >= TEXT_MAX_RESULTS:
            rectangles += split_capped(region, rectangle, returned)

What an answer proves: Text Search returns at most 60 results over 3 billed pages of 20, ranked by
relevance, inside a `locationRestriction` rectangle. An answer of fewer than 60 holds every place
of its type in its rectangle; one of 60 proves nothing (the 60 are the most relevant, not the
nearest), so its rectangle is cut by the places it returned and asked again. Rectangles tile the
region's bbox without overlap, which circles cannot, but every Google type is its own query.

Rectangles are planned from the places already known there (an earlier Google fetch's, else
OpenStreetMap's): a k-d cut of the bbox so that each holds at most `TEXT_FILL` x 60 known places of
its type, so that most are answered at once and in full.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from areafetch.geo._cells import cut_by_points, points_within
from areafetch.geo.models import BBox

__all__ = [
    "OSM_PROXY_FILL",
    "TEXT_FILL",
    "TEXT_MAX_RESULTS",
    "TEXT_PAGE_SIZE",
    "TextRectangle",
    "plan_text_rectangles",
    "split_capped",
    "text_call_estimate",
    "text_pages",
]

TEXT_MAX_RESULTS: Final = 60
TEXT_PAGE_SIZE: Final = 20
TEXT_FILL: Final = 0.8
"""By default a planned rectangle holds at most this share of 60 known places: room for places not
known yet. Known places that are only a proxy for Google's (OpenStreetMap's) take a lower fill."""
OSM_PROXY_FILL: Final = 0.5
"""The fill when the known places are OpenStreetMap's: Google often lists more places than OSM maps."""
_CAPPED_PARTS: Final = 4


@dataclass(frozen=True, slots=True)
class TextRectangle:
    """One Text Search query: a Google type within a rectangle (west, south, east, north)."""

    id: str
    google_type: str
    bbox: BBox


def plan_text_rectangles(
    region: BaseGeometry,
    google_type: str,
    known: NDArray[np.float64],
    *,
    id_prefix: str,
    fill: float = TEXT_FILL,
) -> list[TextRectangle]:
    """The fewest rectangles over the region's bbox that each hold at most `fill` x 60 of the
    `known` (lon, lat) places of `google_type`; those sharing nothing with the region left out."""
    west, south, east, north = region.bounds
    inside = points_within((west, south, east, north), known)
    parts = max(1, math.ceil(len(inside) / (fill * TEXT_MAX_RESULTS)))
    boxes = cut_by_points((west, south, east, north), inside, parts)
    return _touching(
        region,
        [TextRectangle(f"{id_prefix}/{google_type}/{k}", google_type, box) for k, box in enumerate(boxes)],
    )


def split_capped(
    region: BaseGeometry, rectangle: TextRectangle, returned: NDArray[np.float64]
) -> list[TextRectangle]:
    """A rectangle whose answer reached 60, cut in four by the places it returned."""
    boxes = cut_by_points(rectangle.bbox, points_within(rectangle.bbox, returned), _CAPPED_PARTS)
    return _touching(
        region,
        [TextRectangle(f"{rectangle.id}/{k}", rectangle.google_type, box) for k, box in enumerate(boxes)],
    )


def text_pages(places: int) -> int:
    """The billed calls of one query that holds `places`: a page of 20 each, the empty one included."""
    return max(1, math.ceil(min(places, TEXT_MAX_RESULTS) / TEXT_PAGE_SIZE))


def text_call_estimate(
    region: BaseGeometry, known_by_type: Mapping[str, NDArray[np.float64]], *, fill: float = TEXT_FILL
) -> int:
    """The calls the planned rectangles of every type are expected to take, if the known places are
    all there are."""
    calls = 0
    for google_type, known in known_by_type.items():
        for rectangle in plan_text_rectangles(region, google_type, known, id_prefix="estimate", fill=fill):
            calls += text_pages(len(points_within(rectangle.bbox, known)))
    return calls


def _touching(region: BaseGeometry, rectangles: list[TextRectangle]) -> list[TextRectangle]:
    boxes = shapely.box(*np.asarray([r.bbox for r in rectangles], dtype=float).T)
    shapely.prepare(region)
    keep = shapely.intersects(region, boxes)
    return [rectangle for rectangle, kept in zip(rectangles, keep.tolist(), strict=True) if kept]
