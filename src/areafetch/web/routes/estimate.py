"""What an area would cost before it is submitted: size, tiles, circles and upstream calls."""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.areas import RATE_LIMITED_SOURCES, Source
from areafetch.areas.budget import budget_refusals, fits_budget
from areafetch.areas.google_prices import money_refusal, nearby_sku, price_usd
from areafetch.areas.planning import calls_per_source, plan_options, tiled_sources
from areafetch.config import Settings
from areafetch.db.engine import connection
from areafetch.db.place_reads import stored_points
from areafetch.errors import InvalidArea, InvalidField, ServiceUnavailable
from areafetch.geo import AreaPlan, contains_many, parse_area, plan_area
from areafetch.geo._cover import nearby_call_range
from areafetch.ratelimit import LimiterStatus
from areafetch.ratelimit.pools import deployment_limiters, source_statuses
from areafetch.web.deps import EngineDep, RedisDep, SettingsDep, WriteAccessDep
from areafetch.web.routes.areas import AreaCreate, check_sources_configured

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
    area = body.area or list(body.bbox or ())
    options = plan_options(settings)
    try:
        plan: AreaPlan = await anyio.to_thread.run_sync(plan_area, area, tiled_sources(body.sources), options)
    except InvalidArea as exc:
        raise InvalidField(field, str(exc)) from exc
    calls = calls_per_source(plan, body.sources)
    google = (
        await _google_estimate(engine, plan, body.categories, settings) if "google_places" in calls else None
    )
    if google is not None:
        calls["google_places"] = google.calls_floor
    total = sum(calls.values())
    statuses = await _limiter_statuses(redis, settings, calls)
    reasons = budget_refusals(
        calls,
        statuses,
        max_calls_per_job=settings.max_upstream_calls_per_job,
        google_money=lambda needed, left: money_refusal(needed, left, settings),
    )
    sources = [
        SourceEstimate(
            source=source,
            upstream_calls=needed,
            requests_left_today=statuses[source].requests_left if source in statuses else None,
            fits_budget=fits_budget(needed, statuses.get(source)),
        )
        for source, needed in calls.items()
    ]
    return AreaEstimate(
        area_km2=round(plan.area_km2, 4),
        tiles=len(plan.tiles) if "overpass" in body.sources else 0,
        circles=len(plan.circles),
        sources=sources,
        google=google,
        upstream_calls=total,
        max_upstream_calls_per_job=settings.max_upstream_calls_per_job,
        fits_per_job_cap=total <= settings.max_upstream_calls_per_job,
        fits_budget=all(item.fits_budget for item in sources),
        accepted=not reasons,
        reasons=reasons,
    )


async def _limiter_statuses(
    redis: RedisDep, settings: Settings, calls: dict[Source, int]
) -> dict[Source, LimiterStatus]:
    """Today's budget of every rate-limited source the area calls (a local extract has none)."""
    try:
        return await source_statuses(
            deployment_limiters(redis, settings), [s for s in calls if s in RATE_LIMITED_SOURCES]
        )
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", str(exc)) from exc


async def _google_estimate(
    engine: AsyncEngine, plan: AreaPlan, categories: list[str], settings: Settings
) -> GoogleEstimate:
    async with connection(engine) as conn:
        points = await stored_points(conn, sources=["google_places"], categories=categories, bbox=plan.bbox)
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
        sku=nearby_sku(settings),
        usd_floor=price_usd(floor, prices, nearby_sku(settings)),
        usd_ceiling=None if ceiling is None else price_usd(ceiling, prices, nearby_sku(settings)),
    )
