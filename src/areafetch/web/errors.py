"""The error boundary: every domain error's HTTP status, headers and body, chosen in one place
(looked up by class hierarchy). Routes and dependencies raise domain errors, never HTTP ones."""

from __future__ import annotations

import html
import json
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from areafetch.errors import (
    AreafetchError,
    AreaNotFound,
    AreaStateConflict,
    BudgetExhausted,
    InvalidArea,
    InvalidField,
    InvalidPayload,
    JobNotFound,
    JobStateConflict,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)

__all__ = ["install_error_handlers"]

_STATUS: dict[type[AreafetchError], int] = {
    Unauthorized: 401,
    JobNotFound: 404,
    AreaNotFound: 404,
    JobStateConflict: 409,
    AreaStateConflict: 409,
    InvalidPayload: 422,
    InvalidArea: 422,
    InvalidField: 422,
    TooManyRequests: 429,
    BudgetExhausted: 429,
    ServiceUnavailable: 503,
}


def _status_for(exc: AreafetchError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


async def _handle(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AreafetchError)
    status = _status_for(exc)
    headers = _headers(exc, status)
    if status == 503 and "text/html" in request.headers.get("accept", ""):  # a person at a page
        return HTMLResponse(_UNAVAILABLE_PAGE.format(detail=html.escape(str(exc))), status, headers)
    return JSONResponse(_body(exc), status_code=status, headers=headers)


def _body(exc: AreafetchError) -> dict[str, object]:
    if isinstance(exc, InvalidField):  # the shape of FastAPI's own validation errors
        return {
            "detail": [
                {"type": "value_error", "loc": [exc.location, exc.field], "msg": exc.message, "input": None}
            ]
        }
    return {"detail": str(exc)}


def _headers(exc: AreafetchError, status: int) -> dict[str, str] | None:
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    if status == 503:
        return {"Retry-After": "5"}
    return None


_UNAVAILABLE_PAGE = (
    "<!doctype html><title>areafetch: temporarily unavailable</title>"
    "<h1>areafetch is temporarily unavailable</h1>"
    "<p>A service it needs cannot be reached ({detail}). Please try again in a moment.</p>"
)


def _renderable(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error as FastAPI shows it, without an ``input`` that JSON cannot carry (NaN, bytes)."""
    try:
        rendered: dict[str, Any] = jsonable_encoder(error)
        json.dumps(rendered, allow_nan=False)
    except ValueError:
        rendered = jsonable_encoder(
            {key: value for key, value in error.items() if key not in ("input", "ctx")}
        )
        rendered["input"] = None
    return rendered


async def _handle_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": [_renderable(error) for error in exc.errors()]}, status_code=422)


async def _handle_http(request: Request, exc: Exception) -> Response:
    """Starlette's own HTTP errors; a 405's `Allow` lists every method of the path, not only those of
    the first route that matched it (a path served by several routes, e.g. GET and POST /api/areas)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        exc = StarletteHTTPException(405, exc.detail, headers={"Allow": ", ".join(allowed)})
    return await http_exception_handler(request, exc)


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "OPTIONS"})
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AreafetchError, _handle)
    app.add_exception_handler(RequestValidationError, _handle_invalid)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
