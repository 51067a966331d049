"""Server-rendered pages: the map form, the areas made so far, an area's progress and results, the
queue dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from areafetch.areas import SOURCES, is_configured
from areafetch.areas.categories import CATEGORIES, GROUPS
from areafetch.areas.states import AREA_STATES
from areafetch.db.engine import connection
from areafetch.errors import InvalidField
from areafetch.web.deps import EngineDep, SettingsDep
from areafetch.web.routes.areas import AreaId, list_areas_route, parse_when, read_area
from areafetch.web.routes.jobs import JobId

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

templates = Jinja2Templates(
    env=Environment(loader=PackageLoader("areafetch.web", "templates"), autoescape=select_autoescape())
)

_SOURCE_LABELS = {
    "overpass": "OpenStreetMap (Overpass)",
    "google_places": "Google Places",
    "osm_extract": "Local OSM extract",
}


def _map(settings: SettingsDep) -> dict[str, str]:
    return {"tile_url": settings.map_tile_url, "attribution": settings.map_attribution}


@router.get("/")
async def index_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Select an area, sources and categories; see the estimate; submit."""
    sources = [
        {"name": name, "label": _SOURCE_LABELS.get(name, name), "available": is_configured(name, settings)}
        for name in SOURCES
    ]
    groups = [
        {
            "label": group_label,
            "categories": [
                {
                    "name": c.name,
                    "label": c.label,
                    "keywords": " ".join([c.name, *(f"{k}={v}" for k, v in c.osm_tags)]),
                }
                for c in CATEGORIES.values()
                if c.group == group
            ],
        }
        for group, group_label in GROUPS.items()
    ]
    return templates.TemplateResponse(
        request,
        "index.html",
        {"map": _map(settings), "sources": sources, "category_groups": groups, "page": "index"},
    )


@router.get("/areas")
async def areas_page(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    state: Annotated[str, Query(max_length=20)] = "",
    name: Annotated[str, Query(max_length=200)] = "",
    created_after: Annotated[str, Query(max_length=40)] = "",
    created_before: Annotated[str, Query(max_length=40)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """The areas made so far, newest first, with filters and a page at a time (a form's empty
    fields mean "any")."""
    if state and state not in AREA_STATES:
        raise InvalidField("state", f"unknown state {state!r}; one of {', '.join(AREA_STATES)}")
    after, before = (
        parse_when("created_after", created_after),
        parse_when("created_before", created_before),
    )
    filters = {"state": state, "name": name, "created_after": after, "created_before": before}
    page = None
    if not settings.protect_reads:  # with protected reads the list is the API's, behind a token
        page = await list_areas_route(
            engine,
            None,
            state=[state] if state else None,
            name=name or None,
            created_after=created_after,
            created_before=created_before,
            limit=50,
            cursor=cursor,
        )
    older = {
        key: value
        for key, value in (
            ("state", state),
            ("name", name),
            ("created_after", created_after),
            ("created_before", created_before),
        )
        if value
    }
    return templates.TemplateResponse(
        request,
        "areas.html",
        {"page": "areas", "areas": page, "states": AREA_STATES, "filters": filters, "older": older},
    )


@router.get("/areas/{area_id}")
async def area_page(
    request: Request, area_id: AreaId, settings: SettingsDep, engine: EngineDep
) -> HTMLResponse:
    """An area's live progress, then its places, summary and downloads."""
    async with connection(engine) as conn:
        area = await read_area(conn, area_id)
    categories = {name: category.label for name, category in CATEGORIES.items()}
    return templates.TemplateResponse(
        request,
        "area.html",
        {
            "map": _map(settings),
            "area": area,
            "categories": categories,
            "page": "area",
            "google_display": settings.google_display,
            "retention_days": settings.google_retention_days,
        },
    )


@router.get("/jobs")
async def jobs_page(request: Request) -> HTMLResponse:
    """The operator's console: counts, charts, search, bulk actions, recent jobs, limiters, workers."""
    return templates.TemplateResponse(request, "jobs.html", {"page": "jobs"})


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: JobId) -> HTMLResponse:
    """One job: data, result, failure, stack traces, its own log, timings; retry or cancel."""
    return templates.TemplateResponse(request, "job.html", {"page": "jobs", "job_id": job_id})
