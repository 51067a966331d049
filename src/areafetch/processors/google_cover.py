"""The Google fetch of one planned circle: Nearby Search calls placed by `NearbyCover` until the
circle's share of the area is proven complete (see `areafetch.geo._cover`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import shapely

from areafetch.areas import Place
from areafetch.errors import UpstreamRejected
from areafetch.geo import Circle, circle_polygon
from areafetch.geo._cover import NearbyCover
from areafetch.log import get_logger
from areafetch.providers.google_places import NearbyResult

__all__ = ["circle_region", "fetch_circle_region"]

log = get_logger("areafetch.google")


def circle_region(circle: Circle, area: Any) -> Any:
    """The part of the area a planned circle answers for: its lattice cell's (or, for a circle
    planned before cells were recorded, its own disc's) intersection with the area."""
    shape = shapely.box(*circle.cell) if circle.cell is not None else circle_polygon(circle)
    return shapely.intersection(area, shape)


async def fetch_circle_region(
    circle: Circle, area: Any, search: Callable[[Circle], Awaitable[NearbyResult]], *, max_calls: int
) -> list[Place]:
    """Every place of the circle's region, asking only where nothing is proven yet.

    Raises:
        UpstreamRejected: the region would need more than `max_calls` calls.
    """
    region = circle_region(circle, area)
    found: list[Place] = []
    if region.is_empty:
        return found
    cover = NearbyCover(region, max_radius_m=circle.radius_m, id_prefix=circle.id)
    while (asked := cover.next_circle()) is not None:
        if cover.calls >= max_calls:
            raise UpstreamRejected(
                f"circle {circle.id} still has {cover.remaining_m2:.0f} m² unproven after {cover.calls} "
                f"calls (AREAFETCH_MAX_UPSTREAM_CALLS_PER_JOB = {max_calls})"
            )
        result = await search(asked)
        found += result.places
        cover.add_answer(asked, result.returned, capped=result.capped)
    if cover.crowded:
        log.warning("google.crowded", circle=circle.id, points=cover.crowded[:10])
    log.debug("google.covered", circle=circle.id, calls=cover.calls, places=len(found))
    return found
