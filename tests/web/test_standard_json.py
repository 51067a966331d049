"""Hostile bodies on every write route (read from the app's routes, so a new route is covered):
anything beyond standard JSON is a 4xx naming the problem and where, never a 500 or an echo."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from areafetch.config import Settings
from areafetch.web.app import create_app
from tests.helpers import area_client

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def write_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(environment="test"))
    found = [
        # Fixed ids: every xdist worker must collect the same test names.
        (
            method,
            str(context.path_format).replace("{area_id}", str(uuid.UUID(int=1))).replace("{job_id}", "j1"),
        )
        for context in iter_route_contexts(app.routes)  # included routers' routes, with their prefixes
        if isinstance(context.original_route, APIRoute)
        for method in sorted((context.original_route.methods or set()) & WRITE_METHODS)
    ]
    assert len(found) >= 5, found  # areas, estimate, test job, retry, cancel at least
    return found


JSON = {"content-type": "application/json"}

# (body, headers, status, where, what the message says)
HOSTILE = [
    (b'{"name": NaN}', JSON, 422, ["body", "name"], "NaN is not a JSON number"),
    (b'{"a": {"b": [1, -Infinity]}}', JSON, 422, ["body", "a", "b", 1], "-Infinity is not a JSON number"),
    (b'{"x": 1e999}', JSON, 422, ["body", "x"], "too large for a double"),
    (b'{"x": -1e400}', JSON, 422, ["body", "x"], "too large for a double"),
    (b'{"x": ' + b"9" * 5000 + b"}", JSON, 422, ["body", "x"], "beyond 64 bits"),
    (b'{"x": 9223372036854775808}', JSON, 422, ["body", "x"], "beyond 64 bits"),
    (b'{"name": "a", "name": "b"}', JSON, 422, ["body", "name"], "key 'name' appears twice"),
    (b'{"o": {"k": 1, "k": 1}}', JSON, 422, ["body", "o", "k"], "key 'k' appears twice"),
    (b"[" * 5000 + b"]" * 5000, JSON, 422, ["body"], "nested deeper"),
    (b'{"name": "\xff\xfe"}', JSON, 400, None, "not UTF-8 (byte 10)"),
    (b'{"name": "x"}', {"content-type": "text/plain"}, 415, None, "must be JSON"),
    (b"name=x", {"content-type": "application/x-www-form-urlencoded"}, 415, None, "must be JSON"),
    (b'{"name": "x"}', {}, 415, None, "must be JSON"),
]


@pytest.mark.parametrize(("method", "path"), write_routes())
@pytest.mark.parametrize(("content", "headers", "status", "loc", "message"), HOSTILE)
async def test_non_standard_json_is_refused_naming_where(
    api: httpx.AsyncClient,
    method: str,
    path: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    loc: list[str | int] | None,
    message: str,
) -> None:
    response = await api.request(method, path, content=content, headers=headers)

    assert response.status_code == status, response.text
    detail = json.loads(response.text)["detail"]  # the answer itself is standard JSON
    if loc is None:
        assert message in detail
    else:
        assert [error["loc"] for error in detail] == [loc]
        assert message in detail[0]["msg"]
        assert detail[0]["input"] is None  # never echoed


async def test_a_standard_body_still_reaches_the_route(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/jobs/test", json={"message": "ok", "delay_ms": 1.5e3})

    assert response.status_code == 422  # the route's own validation: a float is not an int of ms
    assert response.json()["detail"][0]["loc"] == ["body", "delay_ms"]


def test_app_fixture_is_the_real_app(app: FastAPI) -> None:
    paths = {context.path_format for context in iter_route_contexts(app.routes)}
    assert "/api/areas" in paths


async def test_an_unknown_query_parameter_of_an_api_route_is_a_422_naming_it(settings: Settings) -> None:
    async with area_client(settings) as client:
        response = await client.get("/api/areas", params={"stat": "failed"})  # misspelt `state`
        assert response.status_code == 422
        (error,) = response.json()["detail"]
        assert error["loc"] == ["query", "stat"]
        assert "this route takes: created_after, created_before, cursor, limit, name, state" in error["msg"]
        assert (await client.get("/api/areas", params={"state": "failed"})).status_code == 200
        assert (await client.get("/healthz", params={"probe": "1"})).status_code == 200  # probes stay lenient
