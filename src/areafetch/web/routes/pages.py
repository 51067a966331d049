"""Server-rendered pages: the map form, an area's progress and results, the queue dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from areafetch.areas import SOURCES, is_configured
from areafetch.categories import CATEGORIES
from areafetch.db.engine import connection
from areafetch.web.deps import EngineDep, SettingsDep
from areafetch.web.routes.areas import AreaId, read_area

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
    categories = [{"name": name, "label": category.label} for name, category in CATEGORIES.items()]
    return templates.TemplateResponse(
        request,
        "index.html",
        {"map": _map(settings), "sources": sources, "categories": categories, "page": "index"},
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
        {"map": _map(settings), "area": area, "categories": categories, "page": "area"},
    )


@router.get("/jobs")
async def jobs_page(request: Request) -> HTMLResponse:
    """The queue dashboard: counts, recent jobs, limiters, workers."""
    return templates.TemplateResponse(request, "jobs.html", {"page": "jobs"})
