"""The Google fetch of one planned circle: Nearby Search calls placed by `NearbyCover`, or Text Search
rectangles per type, until the circle's share of the area is proven complete.

Which one is asked (`AREAFETCH_GOOGLE_METHOD=auto`) is decided per circle from the places already
known around it: the planned Text Search rectangles are counted (`text_call_estimate`) and the
Nearby cover is run against those places locally (`simulate_nearby_calls`); the cheaper is used.
With nothing known, Nearby Search: it adapts to whatever it finds, while a Text Search rectangle
that holds more than 60 places throws its 3 pages away. docs/google.md gives the measurements.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import shapely
from numpy.typing import NDArray

from areafetch.areas import Place
from areafetch.areas.categories import CATEGORIES, google_types
from areafetch.areas.osm_filters import is_osm_filter
from areafetch.errors import UpstreamRejected
from areafetch.geo import Circle, circle_polygon
from areafetch.geo._cover import NearbyCover, simulate_nearby_calls
from areafetch.geo._text_cover import (
    TEXT_FILL,
    TEXT_MAX_RESULTS,
    TextRectangle,
    plan_text_rectangles,
    split_capped,
    text_call_estimate,
)
from areafetch.log import get_logger
from areafetch.providers.google_places import NearbyResult, TextPage

__all__ = [
    "GoogleMethod",
    "GoogleSearches",
    "KnownPlaces",
    "choose_method",
    "circle_region",
    "fetch_circle_region",
]

log = get_logger("areafetch.google")

MethodName = Literal["nearby", "text"]


def circle_region(circle: Circle, area: Any) -> Any:
    """The part of the area a planned circle answers for: its lattice cell's (or, for a circle
    planned before cells were recorded, its own disc's) intersection with the area."""
    shape = shapely.box(*circle.cell) if circle.cell is not None else circle_polygon(circle)
    return shapely.intersection(area, shape)


@dataclass(frozen=True, slots=True)
class KnownPlaces:
    """The places known around a circle, per Google type of the categories (every type present: Text
    Search asks each one, known places or not), and the share of a 60-result Text Search a planned
    rectangle is filled with: less when the places are only a proxy for Google's."""

    by_type: Mapping[str, NDArray[np.float64]]
    fill: float = TEXT_FILL

    @classmethod
    def of(
        cls,
        by_category: Mapping[str, Sequence[tuple[float, float]]],
        categories: Sequence[str],
        *,
        fill: float,
    ) -> KnownPlaces:
        """A type gets the places of every category that has it."""
        known: dict[str, list[tuple[float, float]]] = {t: [] for t in google_types(categories)}
        for name in categories:
            if is_osm_filter(name):
                continue
            for google_type in CATEGORIES[name].google_types:
                known[google_type] += by_category.get(name, [])
        by_type = {t: np.asarray(points, dtype=float).reshape(-1, 2) for t, points in known.items()}
        return cls(by_type, fill)

    @property
    def any(self) -> bool:
        return any(len(points) for points in self.by_type.values())

    def every(self) -> NDArray[np.float64]:
        """Every known place once."""
        return np.unique(np.vstack([np.empty((0, 2)), *self.by_type.values()]), axis=0)


@dataclass(frozen=True, slots=True)
class GoogleMethod:
    """How a circle's region is asked, and the calls each way was expected to take (None: unknown)."""

    name: MethodName
    nearby_calls: int | None = None
    text_calls: int | None = None


def choose_method(
    circle: Circle, area: Any, known: KnownPlaces, setting: Literal["auto", "nearby", "text"] = "auto"
) -> GoogleMethod:
    """Run in the CPU pool: the cheaper way to ask the circle's region, from the places known around
    it (those just outside the region included: a circle finds them too)."""
    if setting != "auto":
        return GoogleMethod(setting)
    region = circle_region(circle, area)
    if region.is_empty or not known.any:
        return GoogleMethod("nearby")
    text = text_call_estimate(region, known.by_type, fill=known.fill)
    # Counting past the Text estimate is wasted work: one more call decides it.
    nearby = simulate_nearby_calls(region, known.every(), max_radius_m=circle.radius_m, stop_after=text + 1)
    return GoogleMethod("text" if text < nearby else "nearby", nearby_calls=nearby, text_calls=text)


@dataclass(frozen=True, slots=True)
class GoogleSearches:
    """The billed calls a fetch makes: one Nearby Search, one Text Search page."""

    nearby: Callable[[Circle], Awaitable[NearbyResult]]
    text: Callable[[TextRectangle, str | None], Awaitable[TextPage]]
    page_delay_s: float


async def fetch_circle_region(
    circle: Circle,
    area: Any,
    searches: GoogleSearches,
    *,
    method: GoogleMethod,
    known: KnownPlaces,
    max_calls: int,
) -> list[Place]:
    """Every place of the circle's region, asking only where nothing is proven yet.

    Raises:
        UpstreamRejected: the region would need more than `max_calls` calls.
    """
    region = circle_region(circle, area)
    if region.is_empty:
        return []
    if method.name == "text":
        return await _text_cover(circle, region, searches, known, max_calls)
    return await _nearby_cover(circle, region, searches, max_calls)


async def _nearby_cover(circle: Circle, region: Any, searches: GoogleSearches, max_calls: int) -> list[Place]:
    found: list[Place] = []
    cover = NearbyCover(region, max_radius_m=circle.radius_m, id_prefix=circle.id)
    while (asked := cover.next_circle()) is not None:
        _check_calls(circle, cover.calls, max_calls, f"{cover.remaining_m2:.0f} m² unproven")
        result = await searches.nearby(asked)
        found += result.places
        cover.add_answer(asked, result.returned, capped=result.capped)
    if cover.crowded:
        log.warning("google.crowded", circle=circle.id, points=cover.crowded[:10])
    log.debug("google.covered", circle=circle.id, method="nearby", calls=cover.calls, places=len(found))
    return found


async def _text_cover(
    circle: Circle,
    region: Any,
    searches: GoogleSearches,
    known: KnownPlaces,
    max_calls: int,
) -> list[Place]:
    found: list[Place] = []
    calls = 0
    pending = [
        rectangle
        for google_type, points in known.by_type.items()
        for rectangle in plan_text_rectangles(
            region, google_type, points, id_prefix=circle.id, fill=known.fill
        )
    ]
    while pending:
        rectangle = pending.pop()
        returned: list[tuple[float, float]] = []
        token: str | None = None
        while True:
            _check_calls(circle, calls, max_calls, f"{len(pending) + 1} rectangles unasked")
            page = await searches.text(rectangle, token)
            calls += 1
            found += page.places
            returned += page.returned
            token = page.next_page_token
            if token is None:
                break
            await asyncio.sleep(searches.page_delay_s)  # Google accepts a page token only after a delay
        if len(returned) >= TEXT_MAX_RESULTS:
            pending += split_capped(region, rectangle, np.asarray(returned, dtype=float))
    log.debug("google.covered", circle=circle.id, method="text", calls=calls, places=len(found))
    return found


def _check_calls(circle: Circle, calls: int, max_calls: int, left: str) -> None:
    if calls >= max_calls:
        raise UpstreamRejected(
            f"circle {circle.id} still has {left} after {calls} calls "
            f"(AREAFETCH_MAX_UPSTREAM_CALLS_PER_JOB = {max_calls})"
        )
