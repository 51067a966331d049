"""HTTP status codes for our exceptions, chosen in one place (looked up by class hierarchy)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AreafetchError)
    status = _status_for(exc)
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AreafetchError, _handle)
