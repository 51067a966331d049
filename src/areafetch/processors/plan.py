"""The plan job: cut an area into tiles, check the call budget, store the tiles, add the fetch flow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from bullmq import UnrecoverableError

from areafetch.db import areas as area_queries
from areafetch.errors import AreafetchError, InvalidArea
from areafetch.geo import AreaPlan, PlannedSource, PlanOptions, plan_area
from areafetch.jobs import AreaRef, PlanAreaResult
from areafetch.processors._shared import fail_area, load_area, log
from areafetch.processors.base import JobContext
from areafetch.queue.flows import add_area_flow

__all__ = ["EXTRACT_TILE_ID", "FetchUnit", "plan_area_job", "plan_fetch_units"]

EXTRACT_TILE_ID = "all"


async def plan_area_job(payload: AreaRef, ctx: JobContext) -> PlanAreaResult:
    """Cut the area into tiles, check the call budget, store the tiles, add the fetch flow."""
    settings = ctx.resources.settings
    area = await load_area(ctx, payload.area_id)
    sources: list[str] = list(area["sources"])
    try:
        async with ctx.resources.engine.begin() as conn:
            fresh = await area_queries.start_planning(conn, area_id=payload.area_id)
        options = PlanOptions(
            max_vertices=settings.max_area_vertices,
            max_area_km2=settings.max_area_km2,
            max_tile_km2=settings.overpass_max_tile_km2,
        )
        planned_sources = cast(
            "list[PlannedSource]", [source for source in sources if source != "osm_extract"]
        )
        calls, units = await ctx.resources.cpu.run(
            plan_fetch_units, area["geometry"], planned_sources, sources, options
        )
        await _check_budget(ctx, calls)
        if fresh:
            async with ctx.resources.engine.begin() as conn:
                await area_queries.store_plan(conn, area_id=payload.area_id, units=units)
        await add_area_flow(
            ctx.resources.flows,
            ctx.resources.redis,
            settings,
            payload.area_id,
            [(source, tile_id) for source, tile_id, _ in units],
        )
    except (InvalidArea, _Refused) as exc:
        await fail_area(ctx, payload.area_id, str(exc))
        raise UnrecoverableError(str(exc)) from exc
    except Exception as exc:
        if ctx.is_last_attempt:
            await fail_area(ctx, payload.area_id, f"planning failed: {exc}")
        raise
    log.info("area.planned", area_id=str(payload.area_id), tiles=len(units), upstream_calls=calls)
    return PlanAreaResult(tiles=len(units), upstream_calls=calls)


class _Refused(AreafetchError):
    """An area needs more upstream calls than it may use."""


FetchUnit = tuple[str, str, dict[str, Any]]


def plan_fetch_units(
    geometry: dict[str, Any], planned: list[PlannedSource], sources: list[str], options: PlanOptions
) -> tuple[dict[str, int], list[FetchUnit]]:
    """Run in the CPU pool: the calls per source and the fetch units, as plain data.

    Plain tuples and dicts, not the `AreaPlan` models (with the whole area): unpickling those cost
    the worker's own process, at normal priority, about 0.2 s for an area of 4,400 tiles.
    """
    plan = plan_area(geometry, planned, options)
    return _calls(plan, sources), _units(plan, sources)


def _calls(plan: AreaPlan, sources: Sequence[str]) -> dict[str, int]:
    """Upstream calls per source, one per fetch job (`_units`): none for a local extract."""
    planned = {"overpass": len(plan.tiles), "google_places": len(plan.circles), "osm_extract": 0}
    return {source: planned[source] for source in sources}


def _units(plan: AreaPlan, sources: Sequence[str]) -> list[FetchUnit]:
    """(source, tile id, geometry) of every fetch job."""
    units: list[FetchUnit] = []
    if "overpass" in sources:
        units += [("overpass", tile.id, tile.model_dump(mode="json")) for tile in plan.tiles]
    if "google_places" in sources:
        units += [("google_places", circle.id, circle.model_dump(mode="json")) for circle in plan.circles]
    if "osm_extract" in sources:
        units.append(("osm_extract", EXTRACT_TILE_ID, {"bbox": list(plan.bbox)}))
    return units


async def _check_budget(ctx: JobContext, calls: dict[str, int]) -> None:
    settings = ctx.resources.settings
    total = sum(calls.values())
    if total > settings.max_upstream_calls_per_job:
        raise _Refused(
            f"the area needs {total} upstream calls ({_describe(calls)}); "
            f"the per-job cap is {settings.max_upstream_calls_per_job} (AREAFETCH_MAX_UPSTREAM_CALLS_PER_JOB)"
        )
    for source, needed in calls.items():
        limiter = ctx.resources.upstreams.limiters.get(source)
        if limiter is not None and needed and not await limiter.can_afford(needed):
            status = await limiter.status()
            raise _Refused(
                f"the area needs {needed} {source} calls but only {status.requests_left} "
                "are left in today's budget"
            )
    if calls.get("google_places") and ctx.resources.upstreams.google_places is None:
        raise _Refused("google_places needs AREAFETCH_GOOGLE_API_KEY")
    if "osm_extract" in calls and ctx.resources.upstreams.osm_extract_path is None:
        raise _Refused("osm_extract needs AREAFETCH_OSM_EXTRACT_PATH")


def _describe(calls: dict[str, int]) -> str:
    return ", ".join(f"{source} {count}" for source, count in calls.items())
