"""The plan job: cut an area into tiles, check the call budget, store the tiles, add the fetch flow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bullmq import UnrecoverableError

from areafetch.areas import Source, unconfigured_reason
from areafetch.areas.budget import budget_refusals
from areafetch.areas.google_prices import money_refusal
from areafetch.areas.planning import calls_per_source, plan_options, tiled_sources
from areafetch.db import areas as area_queries
from areafetch.errors import AreafetchError, InvalidArea
from areafetch.geo import AreaPlan, PlanOptions, plan_area
from areafetch.jobs import AreaRef, PlanAreaResult
from areafetch.processors._shared import fail_area, load_area, log
from areafetch.processors.base import JobContext
from areafetch.processors.overpass_learning import fit_planned_cells
from areafetch.queue.flows import add_area_flow
from areafetch.ratelimit.pools import source_statuses

__all__ = ["EXTRACT_TILE_ID", "FetchUnit", "plan_area_job", "plan_fetch_units"]

EXTRACT_TILE_ID = "all"


async def plan_area_job(payload: AreaRef, ctx: JobContext) -> PlanAreaResult:
    """Cut the area into tiles, check the call budget, store the tiles, add the fetch flow."""
    settings = ctx.resources.settings
    area = await load_area(ctx, payload.area_id)
    if area["state"] == "cancelled":
        return PlanAreaResult(tiles=0, upstream_calls={})
    sources: list[Source] = list(area["sources"])
    try:
        async with ctx.resources.engine.begin() as conn:
            fresh = await area_queries.start_planning(conn, area_id=payload.area_id)
        calls, units = await ctx.resources.cpu.run(
            plan_fetch_units, area["geometry"], sources, plan_options(settings)
        )
        units = await fit_planned_cells(units, area["geometry"], area["categories"], ctx)
        calls = _unit_calls(units, calls)
        await _check_budget(ctx, sources, calls)
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
    geometry: dict[str, Any], sources: list[Source], options: PlanOptions
) -> tuple[dict[Source, int], list[FetchUnit]]:
    """Run in the CPU pool: the calls per source and the fetch units, as plain data.

    Plain tuples and dicts, not the `AreaPlan` models (with the whole area): unpickling those cost
    the worker's own process, at normal priority, about 0.2 s for an area of 4,400 tiles.
    """
    plan = plan_area(geometry, tiled_sources(sources), options)
    return calls_per_source(plan, sources), _units(plan, sources)


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


def _unit_calls(units: Sequence[FetchUnit], calls: dict[Source, int]) -> dict[Source, int]:
    """The planned calls once learning may have cut Overpass cells: one per Overpass unit."""
    if "overpass" not in calls:
        return calls
    return {**calls, "overpass": sum(1 for source, _, _ in units if source == "overpass")}


async def _check_budget(ctx: JobContext, sources: Sequence[Source], calls: dict[Source, int]) -> None:
    """The rules the estimate applies too: the call budget, then whether each source is configured."""
    limiters = ctx.resources.upstreams.limiters
    statuses = await source_statuses(limiters, [source for source, needed in calls.items() if needed])
    settings = ctx.resources.settings
    reasons = budget_refusals(
        calls,
        statuses,
        max_calls_per_job=settings.max_upstream_calls_per_job,
        google_money=lambda needed, left: money_refusal(needed, left, settings),
    )
    reasons += [
        reason for source in sources if (reason := unconfigured_reason(source, ctx.resources.settings))
    ]
    if reasons:
        raise _Refused("; ".join(reasons))
