"""Areas: submit one for retrieval, follow its progress and summary, list them, delete one."""

from __future__ import annotations

import base64
import binascii
import functools
import os
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)
from shapely.geometry import mapping
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.areas import Source, plan_job_id, unconfigured_reason
from areafetch.areas.categories import CATEGORIES, MAX_INCLUDED_TYPES, google_types
from areafetch.areas.osm_filters import MAX_OSM_FILTERS, osm_filter_category, parse_osm_filter
from areafetch.areas.schedules import RefreshEvery, parse_refresh_every
from areafetch.areas.states import AREA_STATES, UNFINISHED_STATES, AreaState
from areafetch.config import Settings
from areafetch.db import areas as area_queries
from areafetch.db import runs as run_queries
from areafetch.db.area_reads import AreaFilter, AreaOverview, list_areas
from areafetch.db.engine import connection, transaction
from areafetch.errors import AreaNotFound, AreaStateConflict, InvalidArea, InvalidField, ServiceUnavailable
from areafetch.geo import measured_area
from areafetch.jobs import AreaSummary
from areafetch.queue import enqueue_area_plan
from areafetch.queue.schedules import remove_refresh_schedule, upsert_refresh_schedule
from areafetch.web.deps import (
    EngineDep,
    QueuesDep,
    ReadAccessDep,
    SettingsDep,
    SubmitSlotDep,
    WriteAccessDep,
)

router = APIRouter(prefix="/api/areas", tags=["areas"])

AreaId = Annotated[uuid.UUID, Path(description="the area's id")]


def _valid_osm_tag(value: str) -> str:
    parse_osm_filter(value)
    return value


OsmTag = Annotated[str, Field(max_length=100), AfterValidator(_valid_osm_tag)]


class AreaCreate(BaseModel):
    """An area to retrieve: a GeoJSON Polygon/MultiPolygon (`area`) or a `bbox`, not both."""

    model_config = ConfigDict(extra="forbid", strict=True)  # JSON's types as they are

    name: str = Field(min_length=1, max_length=200)
    area: dict[str, Any] | None = Field(default=None, description="GeoJSON Polygon or MultiPolygon, WGS84")
    bbox: tuple[StrictFloat, StrictFloat, StrictFloat, StrictFloat] | None = Field(
        default=None,
        description="[west, south, east, north]",
        strict=False,  # a JSON array is a tuple here
    )
    sources: list[Source] = Field(min_length=1, max_length=3)
    categories: list[str] = Field(
        default_factory=list, max_length=len(CATEGORIES), description=", ".join(CATEGORIES)
    )
    osm_tags: list[OsmTag] = Field(
        default_factory=list,
        max_length=MAX_OSM_FILTERS,
        description="any OSM tag, for the overpass and osm_extract sources: `key=value` or a bare `key` "
        "(any value), e.g. shop=bakery, craft, cuisine=sushi; the places carry category `osm:<filter>`",
    )
    refresh_every: StrictInt | Annotated[str, Field(max_length=100)] | None = Field(
        default=None,
        description="refresh on a schedule: seconds, an interval such as `6h` or `1d`, or a 5-field "
        "cron expression (UTC); each refresh is a new run of the area",
    )

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; known: {', '.join(CATEGORIES)}")
        return list(dict.fromkeys(value))

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, value: list[Source]) -> list[Source]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _something_to_fetch(self) -> AreaCreate:
        if not self.categories and not self.osm_tags:
            raise ValueError("give `categories`, `osm_tags` or both")
        if self.sources == ["google_places"] and self.osm_tags:
            raise ValueError(
                "google_places only: Google has no equivalent of `osm_tags`; add overpass or "
                "osm_extract for them, or ask Google for `categories`"
            )
        if "google_places" in self.sources and not self.categories:
            raise ValueError(
                "google_places: Google has no equivalent of `osm_tags`; name `categories` for it or leave "
                "google_places out"
            )
        return self

    @property
    def all_categories(self) -> list[str]:
        """The named categories, then each OSM filter as its category `osm:<filter>`."""
        return self.categories + [osm_filter_category(tag) for tag in dict.fromkeys(self.osm_tags)]

    @model_validator(mode="after")
    def _one_geometry(self) -> AreaCreate:
        if (self.area is None) == (self.bbox is None):
            raise ValueError("give exactly one of `area` (GeoJSON) and `bbox`")
        return self

    @model_validator(mode="after")
    def _google_type_cap(self) -> AreaCreate:
        if "google_places" in self.sources and len(google_types(self.categories)) > MAX_INCLUDED_TYPES:
            raise ValueError(
                f"categories: these ask Google for {len(google_types(self.categories))} place types; "
                f"a Nearby Search takes at most {MAX_INCLUDED_TYPES}: choose fewer categories for google_places"
            )
        return self


def _schedule(body: AreaCreate, settings: Settings) -> RefreshEvery | None:
    if body.refresh_every is None:
        return None
    try:
        return parse_refresh_every(body.refresh_every, min_interval_s=settings.min_refresh_interval_s)
    except ValueError as exc:
        raise InvalidField("refresh_every", str(exc)) from exc


class AreaCreated(BaseModel):
    area_id: uuid.UUID
    job_id: str


class SourceProgress(BaseModel):
    done: int
    total: int


class AreaProgress(BaseModel):
    tiles_done: int
    tiles_total: int
    percent: float
    by_source: dict[str, SourceProgress]


class FailedTile(BaseModel):
    source: str
    tile_id: str
    reason: str


class AreaPublic(BaseModel):
    id: uuid.UUID
    name: str
    state: AreaState = Field(description=", ".join(AREA_STATES))
    progress: AreaProgress
    summary: AreaSummary | None
    failed_reason: str | None
    failed_tiles: list[FailedTile] = Field(
        description="tiles that failed for good, each with its source and reason (a partial area)"
    )
    job_id: str | None
    run: int = Field(description="1 for the area as submitted, then one more per refresh")
    refresh_of: uuid.UUID | None = Field(description="the first run's area id; None for the first run")
    refresh_every: str | None = Field(description="its schedule: seconds between runs, or a cron expression")
    sources: list[str]
    categories: list[str]
    area_km2: float
    bbox: list[float]
    upstream_calls: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@router.post("", status_code=202, response_model=AreaCreated, responses={503: {"description": "Redis down"}})
async def create_area(
    body: AreaCreate, settings: SettingsDep, engine: EngineDep, queues: QueuesDep, _slot: SubmitSlotDep
) -> AreaCreated:
    """Validate an area, store it and queue its retrieval."""
    check_sources_configured(body, settings)
    field = "area" if body.area is not None else "bbox"
    measure = functools.partial(
        measured_area, max_vertices=settings.max_area_vertices, max_area_km2=settings.max_area_km2
    )
    try:
        geometry, area_km2 = await anyio.to_thread.run_sync(measure, body.area or list(body.bbox or ()))
    except InvalidArea as exc:
        raise InvalidField(field, str(exc)) from exc
    schedule = _schedule(body, settings)
    area_id = uuid.uuid4()
    async with transaction(engine) as conn:
        await area_queries.create_area(
            conn,
            area_id=area_id,
            name=body.name,
            geometry=dict(mapping(geometry)),
            bbox=geometry.bounds,
            area_km2=area_km2,
            sources=body.sources,
            categories=body.all_categories,
            job_id=plan_job_id(area_id),
            refresh_every=None if schedule is None else schedule.text,
        )
    if settings.test_fault == "exit_after_area_commit":
        os._exit(70)  # a crash here leaves the area with no job: the workers' reconciler queues it
    try:
        job_id = await enqueue_area_plan(queues, area_id)
        if schedule is not None:
            await upsert_refresh_schedule(queues, area_id, schedule)
    except ServiceUnavailable:
        async with transaction(engine) as conn:  # nothing half-written: no area without its job
            await area_queries.delete_area(conn, area_id=area_id)
        raise
    return AreaCreated(area_id=area_id, job_id=job_id)


class AreaPage(BaseModel):
    areas: list[AreaOverview]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; None on the last")


@router.get("", response_model=AreaPage, responses={422: {"description": "a bad filter or cursor"}})
async def list_areas_route(
    engine: EngineDep,
    _access: ReadAccessDep,
    state: Annotated[list[AreaState] | None, Query(description="only these states")] = None,
    name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="name contains (any case)")
    ] = None,
    created_after: Annotated[str | None, Query(min_length=1, max_length=40, description=_WHEN)] = None,
    created_before: Annotated[str | None, Query(min_length=1, max_length=40, description=_WHEN)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the page before")
    ] = None,
) -> AreaPage:
    """Areas, newest first, a keyset page at a time, filtered by state, name and creation time."""
    where = AreaFilter(
        states=tuple(state or ()),
        name_contains=name,
        created_after=parse_when("created_after", created_after),
        created_before=parse_when("created_before", created_before),
        after=None if cursor is None else _decode_cursor(cursor),
    )
    async with connection(engine) as conn:
        found = await list_areas(conn, limit=limit + 1, where=where)
    page = found[:limit]
    more = len(found) > limit
    return AreaPage(areas=page, next_cursor=_encode_cursor(page[-1]) if more else None)


_WHEN = "ISO 8601 date and time, e.g. 2026-12-04T12:00:00Z (UTC when no offset is given)"


def parse_when(field: str, value: str | None) -> datetime | None:
    """An ISO 8601 date and time from a query (UTC when it names no offset); "" and None are none."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidField(field, f"{value!r} is not an ISO 8601 date and time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _encode_cursor(area: AreaOverview) -> str:
    raw = f"{area.created_at.isoformat()}|{area.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, area_id = raw.split("|")
        return datetime.fromisoformat(created_at), uuid.UUID(area_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidField("cursor", "not a cursor this API gave out") from exc


@router.delete(
    "/{area_id}",
    status_code=204,
    responses={404: {"description": "no such area"}, 409: {"description": "the area is still running"}},
)
async def delete_area(
    area_id: AreaId, engine: EngineDep, queues: QueuesDep, _token: WriteAccessDep
) -> Response:
    """Delete a finished area, its links, and the places no other area links to; the first run of
    an area takes its later runs with it."""
    async with transaction(engine) as conn:
        runs = await run_queries.series(conn, area_id=area_id, lock=True)
        if not runs:
            raise AreaNotFound(f"no area with id {area_id}")
        doomed = runs if runs[0]["id"] == area_id else [run for run in runs if run["id"] == area_id]
        for run in doomed:
            if run["state"] in UNFINISHED_STATES:
                raise AreaStateConflict(
                    f"run {run['run']} of area {runs[0]['id']} is {run['state']}; "
                    "it can be deleted once it has finished"
                )
        if doomed[0]["refresh_every"] is not None:  # Redis first: down, and nothing is deleted (503)
            await remove_refresh_schedule(queues, doomed[0]["id"])
        for run in reversed(doomed):  # the latest first: a place a later run shares stays for the earlier
            await area_queries.purge_places_of_only(conn, area_id=run["id"])
            await area_queries.delete_area(conn, area_id=run["id"])
    return Response(status_code=204)


@router.get("/{area_id}", response_model=AreaPublic, responses={404: {"description": "no such area"}})
async def get_area(area_id: AreaId, engine: EngineDep, _access: ReadAccessDep) -> AreaPublic:
    """An area's state, progress (tiles done / total, per source) and summary."""
    async with connection(engine) as conn:
        return await read_area(conn, area_id)


async def read_area(conn: AsyncConnection, area_id: uuid.UUID) -> AreaPublic:
    """The area as the API shows it; raises `AreaNotFound`."""
    area = await area_queries.get_area(conn, area_id=area_id)
    if area is None:
        raise AreaNotFound(f"no area with id {area_id}")
    per_source = await area_queries.tile_progress(conn, area_id=area_id)
    total = area["tiles_total"]
    progress = AreaProgress(
        tiles_done=area["tiles_done"],
        tiles_total=total,
        percent=_percent(area),
        by_source={
            source: SourceProgress(done=done, total=all_) for source, (done, all_) in per_source.items()
        },
    )
    failed = [
        FailedTile(source=source, tile_id=tile_id, reason=reason)
        for source, tile_id, reason in await area_queries.failed_tiles(conn, area_id=area_id)
    ]
    return AreaPublic.model_validate({**area, "progress": progress, "failed_tiles": failed})


def _percent(area: dict[str, Any]) -> float:
    """Work done, not tiles done: a split adds tiles but not work, so the figure never falls."""
    work_total, work_done = float(area["work_total"]), float(area["work_done"])
    if work_total:
        return round(min(100.0, 100.0 * work_done / work_total), 1)
    total = int(area["tiles_total"])
    return round(100.0 * int(area["tiles_done"]) / total, 1) if total else 0.0


def check_sources_configured(body: AreaCreate, settings: Settings) -> None:
    for source in body.sources:
        reason = unconfigured_reason(source, settings)
        if reason is not None:
            raise InvalidField("sources", reason)
