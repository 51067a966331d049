"""What an area would cost before it is submitted: size, tiles, circles and upstream calls."""

from __future__ import annotations

from typing import cast

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from areafetch.config import Settings
from areafetch.errors import InvalidArea, ServiceUnavailable
from areafetch.geo import AreaPlan, PlannedSource, PlanOptions, plan_area
from areafetch.providers.google_prices import money_refusal, price_usd
from areafetch.ratelimit import Limiter, Upstream, policy_for
from areafetch.web.deps import RedisDep, SettingsDep, WriteAccessDep
from areafetch.web.routes.areas import AreaCreate, check_sources_configured, invalid_field

router = APIRouter(prefix="/api/areas", tags=["areas"])


class SourceEstimate(BaseModel):
    source: str
    upstream_calls: int = Field(description="planned calls before any split")
    requests_left_today: int | None = Field(description="None when the source has no daily budget")
    fits_budget: bool
    usd_at_least: float | None = Field(
        default=None,
        description="Google: the planned calls' list price (AREAFETCH_GOOGLE_PRICES); each planned circle is "
        "at least one billed call, a dense area needs about 2 x places / 20",
    )


class AreaEstimate(BaseModel):
    """The plan of an area, computed as the worker would, with nothing stored or queued."""

    area_km2: float
    tiles: int = Field(description="Overpass tiles")
    circles: int = Field(description="Google Places circles")
    sources: list[SourceEstimate]
    upstream_calls: int = Field(description="planned calls over all sources")
    max_upstream_calls_per_job: int
    fits_per_job_cap: bool
    fits_budget: bool = Field(description="every source's calls fit what is left of today's budget")
    accepted: bool = Field(description="the worker would accept the area now")
    reasons: list[str] = Field(description="why it would be refused, if it would")


@router.post("/estimate", response_model=AreaEstimate, responses={503: {"description": "Redis down"}})
async def estimate_area(
    body: AreaCreate, settings: SettingsDep, redis: RedisDep, _access: WriteAccessDep
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
    usd = price_usd(needed, settings.google_prices) if source == "google_places" else None
    return SourceEstimate(
        source=source,
        upstream_calls=needed,
        requests_left_today=status.requests_left,
        fits_budget=fits,
        usd_at_least=usd,
    )
