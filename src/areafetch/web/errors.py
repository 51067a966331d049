"""The error boundary: every domain error's HTTP status, headers and body, chosen in one place
(looked up by class hierarchy). Routes and dependencies raise domain errors, never HTTP ones."""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from areafetch.errors import (
    AreafetchError,
    AreaNotFound,
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


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AreafetchError)
    status = _status_for(exc)
    return JSONResponse(_body(exc), status_code=status, headers=_headers(exc, status))


def _body(exc: AreafetchError) -> dict[str, object]:
    if isinstance(exc, InvalidField):  # the shape of FastAPI's own validation errors
        return {
            "detail": [{"type": "value_error", "loc": ["body", exc.field], "msg": exc.message, "input": None}]
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AreafetchError, _handle)
