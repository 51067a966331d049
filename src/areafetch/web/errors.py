"""HTTP status codes for our exceptions, chosen in one place (looked up by class hierarchy)."""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from areafetch.errors import (
    AreafetchError,
    AreaNotFound,
    BudgetExhausted,
    InvalidArea,
    InvalidPayload,
    JobNotFound,
    JobStateConflict,
    ServiceUnavailable,
)

__all__ = ["install_error_handlers"]

_STATUS: dict[type[AreafetchError], int] = {
    JobNotFound: 404,
    AreaNotFound: 404,
    JobStateConflict: 409,
    InvalidPayload: 422,
    InvalidArea: 422,
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
    headers = {"Retry-After": "5"} if status == 503 else None
    if status == 503 and "text/html" in request.headers.get("accept", ""):  # a person at a page
        return HTMLResponse(_UNAVAILABLE_PAGE.format(detail=html.escape(str(exc))), status, headers)
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AreafetchError, _handle)
    app.add_exception_handler(RequestValidationError, _handle_invalid)
