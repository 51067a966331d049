"""What an area would cost before it is submitted: size, tiles, circles and upstream calls."""

from __future__ import annotations

from typing import cast

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.config import Settings
from areafetch.db.place_reads import read_connection, stored_points
from areafetch.errors import InvalidArea, ServiceUnavailable
from areafetch.geo import AreaPlan, PlannedSource, PlanOptions, contains_many, parse_area, plan_area
from areafetch.geo._cover import nearby_call_range
from areafetch.providers.google_prices import NEARBY_SKU, money_refusal, price_usd
from areafetch.ratelimit import Limiter, Upstream, policy_for
from areafetch.web.deps import EngineDep, RedisDep, SettingsDep, WriteAccessDep
from areafetch.web.routes.areas import AreaCreate, check_sources_configured, invalid_field

router = APIRouter(prefix="/api/areas", tags=["areas"])


class SourceEstimate(BaseModel):
    source: str
    upstream_calls: int = Field(description="planned calls before any split")
    requests_left_today: int | None = Field(description="None when the source has no daily budget")
    fits_budget: bool


class GoogleEstimate(BaseModel):
    """What Google will bill: a range of calls and its list price (docs/google.md)."""

    known_places: int = Field(description="places of these categories already stored in the area")
    calls_floor: int = Field(description="ceil(known places / 20), and at least one call per planned circle")
    calls_ceiling: int | None = Field(description="None until some place of the area is known")
    sku: str = Field(description="the Google SKU the calls are billed as")
    usd_floor: float
    usd_ceiling: float | None


class AreaEstimate(BaseModel):
    """The plan of an area, computed as the worker would, with nothing stored or queued."""

    area_km2: float
    tiles: int = Field(description="Overpass tiles")
    circles: int = Field(description="Google Places circles")
    sources: list[SourceEstimate]
    google: GoogleEstimate | None = Field(default=None, description="when google_places is asked for")
    upstream_calls: int = Field(description="planned calls over all sources")
    max_upstream_calls_per_job: int
    fits_per_job_cap: bool
    fits_budget: bool = Field(description="every source's calls fit what is left of today's budget")
    accepted: bool = Field(description="the worker would accept the area now")
    reasons: list[str] = Field(description="why it would be refused, if it would")


@router.post(
    "/estimate", response_model=AreaEstimate, responses={503: {"description": "Redis or PostgreSQL down"}}
)
async def estimate_area(
    body: AreaCreate, settings: SettingsDep, redis: RedisDep, engine: EngineDep, _access: WriteAccessDep
) -> AreaEstimate:
    """Plan an area (same body as `POST /api/areas`) and say whether it fits the cap and the budget."""
    check_sources_configured(body, settings)
    field = "area" if body.area is not None else "bbox"
    planned = cast("list[PlannedSource]", [source for source in body.sources if source != "osm_extract"])
    area = body.area or list(body.bbox or ())
    try:
        plan: AreaPlan = await anyio.to_thread.run_sync(plan_area, area, planned, _plan_options(settings))
    except InvalidArea as exc:
        raise invalid_field(field, str(exc)) from exc
    calls = {source: plan.upstream_calls.get(source, 0) for source in body.sources}
    google = (
        await _google_estimate(engine, plan, body.categories, settings) if "google_places" in calls else None
    )
    if google is not None:
        calls["google_places"] = google.calls_floor
    total = sum(calls.values())
    reasons: list[str] = []
    if total > settings.max_upstream_calls_per_job:
        reasons.append(
            f"the area needs {total} upstream calls; the per-job cap is {settings.max_upstream_calls_per_job}"
        )
    sources = [await _source_estimate(redis, settings, source, needed) for source, needed in calls.items()]
    reasons += [_budget_reason(item, settings) for item in sources if not item.fits_budget]
    fits_budget = all(item.fits_budget for item in sources)
    return AreaEstimate(
        area_km2=round(plan.area_km2, 4),
        tiles=len(plan.tiles) if "overpass" in body.sources else 0,
        circles=len(plan.circles),
        sources=sources,
        google=google,
        upstream_calls=total,
        max_upstream_calls_per_job=settings.max_upstream_calls_per_job,
        fits_per_job_cap=total <= settings.max_upstream_calls_per_job,
        fits_budget=fits_budget,
        accepted=not reasons,
        reasons=reasons,
    )


def _budget_reason(item: SourceEstimate, settings: Settings) -> str:
    if item.source == "google_places":
        reason = money_refusal(item.upstream_calls, item.requests_left_today, settings)
        if reason is not None:
            return reason
    return (
        f"{item.source} needs {item.upstream_calls} calls but only {item.requests_left_today} are left today"
    )


def _plan_options(settings: Settings) -> PlanOptions:
    # The same options the worker's plan job uses (processors/areas.py).
    return PlanOptions(
        max_vertices=settings.max_area_vertices,
        max_area_km2=settings.max_area_km2,
        max_tile_km2=settings.overpass_max_tile_km2,
    )


_UPSTREAMS: dict[str, Upstream] = {"overpass": "overpass", "google_places": "google_places"}


async def _source_estimate(redis: RedisDep, settings: Settings, source: str, needed: int) -> SourceEstimate:
    upstream = _UPSTREAMS.get(source)
    if upstream is None:  # a local extract costs no upstream calls
        return SourceEstimate(
            source=source, upstream_calls=needed, requests_left_today=None, fits_budget=True
        )
    try:
        status = await Limiter(
            redis, source, policy_for(settings, upstream), namespace=settings.limiter_namespace
        ).status()
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", str(exc)) from exc
    fits = not needed or (
        not status.budget_exhausted and (status.requests_left is None or needed <= status.requests_left)
    )
    return SourceEstimate(
        source=source, upstream_calls=needed, requests_left_today=status.requests_left, fits_budget=fits
    )


async def _google_estimate(
    engine: AsyncEngine, plan: AreaPlan, categories: list[str], settings: Settings
) -> GoogleEstimate:
    async with read_connection(engine) as conn:
        points = await stored_points(conn, source="google_places", categories=categories, bbox=plan.bbox)
    area = parse_area(plan.area.model_dump(), max_vertices=10**9, max_area_km2=None)
    known = (
        int(contains_many(area, [lon for lon, _ in points], [lat for _, lat in points]).sum())
        if points
        else 0
    )
    floor, ceiling = nearby_call_range(known, len(plan.circles))
    prices = settings.google_prices
    return GoogleEstimate(
        known_places=known,
        calls_floor=floor,
        calls_ceiling=ceiling,
        sku=NEARBY_SKU,
        usd_floor=price_usd(floor, prices),
        usd_ceiling=None if ceiling is None else price_usd(ceiling, prices),
    )
