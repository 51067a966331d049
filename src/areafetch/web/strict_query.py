"""Query strings hold only the parameters a route declares: anything else is a 422 naming it, not
silently ignored (a misspelt filter would otherwise return everything)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from areafetch.errors import InvalidField

__all__ = ["reject_unknown_query_parameters"]


async def reject_unknown_query_parameters(request: Request) -> None:
    """An app-wide dependency: 422 for a query parameter an `/api/` route does not declare (probes
    and pages stay lenient)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None or not request.query_params or not request.url.path.startswith("/api/"):
        return
    known = _query_names(dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        choices = ", ".join(sorted(known)) or "none"
        raise InvalidField(
            unknown[0],
            f"unknown query parameter {unknown[0]!r} (this route takes: {choices})",
            location="query",
        )


def _query_names(dependant: Any) -> set[str]:
    """The query parameters of a route and of every dependency it has (`fastapi.dependencies.models.Dependant`)."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
