"""How an area is planned, the same for the estimate and the worker's plan job."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from areafetch.areas.sources import RATE_LIMITED_SOURCES, Source
from areafetch.geo import AreaPlan, PlanOptions

if TYPE_CHECKING:
    from areafetch.config import Settings

__all__ = ["calls_per_source", "plan_options", "tiled_sources"]


def plan_options(settings: Settings) -> PlanOptions:
    return PlanOptions(
        max_vertices=settings.max_area_vertices,
        max_area_km2=settings.max_area_km2,
        max_tile_km2=settings.overpass_max_tile_km2,
    )


def tiled_sources(sources: Iterable[Source]) -> list[Source]:
    """The sources the area is cut into tiles or circles for: a local extract is read whole."""
    return [source for source in sources if source in RATE_LIMITED_SOURCES]


def calls_per_source(plan: AreaPlan, sources: Iterable[Source]) -> dict[Source, int]:
    """Upstream calls per requested source before any split, one per fetch job: none for a local extract."""
    return {source: plan.upstream_calls.get(source, 0) for source in sources}
