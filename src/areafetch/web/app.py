"""The app factory: routes, error handlers and the lifespan; nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from areafetch import __version__
from areafetch.config import Settings, get_settings
from areafetch.log import configure_logging
from areafetch.tracing import configure_tracing, shutdown_tracing
from areafetch.web.access import BodyLimitMiddleware, document_access
from areafetch.web.deps import submit_slot
from areafetch.web.errors import install_error_handlers
from areafetch.web.routes import (
    area_actions,
    area_events,
    area_runs,
    areas,
    categories,
    estimate,
    health,
    jobs,
    pages,
    places,
    queues,
)
from areafetch.web.routes import metrics as metrics_routes
from areafetch.web.state import AppState
from areafetch.web.strict_query import reject_unknown_query_parameters

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the web app; resources are opened in the lifespan, not here."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = AppState.open(settings)
        app.state.areafetch = state
        try:
            yield
        finally:
            await state.close()
            shutdown_tracing()

    app = FastAPI(
        title="areafetch",
        version=__version__,
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query_parameters)],
    )
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth
    )
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(categories.router)
    app.include_router(estimate.router)  # before areas: /api/areas/estimate is not an area id
    app.include_router(areas.router)
    app.include_router(area_actions.router)
    app.include_router(area_runs.router)
    app.include_router(area_events.router)
    app.include_router(places.router)
    app.include_router(queues.router)
    app.include_router(pages.router)
    # Leaflet's files come from the `django-js-lib-leaflet` wheel (no npm, nothing vendored).
    app.mount(
        "/static/leaflet", StaticFiles(packages=[("js_lib_leaflet", "static/js_lib_leaflet")]), name="leaflet"
    )
    app.mount("/static/app", StaticFiles(packages=[("areafetch.web", "static")]), name="static")
    app.include_router(metrics_routes.router)
    document_access(app, submit_slot=submit_slot)
    return app


def create_app_from_env() -> FastAPI:
    """uvicorn's factory for `areafetch web`: settings and logging from the environment."""
    settings = get_settings()
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    configure_tracing("areafetch-web")  # before the app: FastAPI's request spans use its provider
    return create_app(settings)
