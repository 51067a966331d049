"""Every route and page (read from the app's routes, so a new one is covered without editing this
test) with PostgreSQL down, Redis down and both down: 503 naming the service (pages: a human message),
never a 500, never a hang; /healthz stays 200, /readyz names what is down, /metrics still serves this
process's own metrics with the workers' part marked missing."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from areafetch.config import Settings
from areafetch.web.app import create_app
from tests.helpers import area_client, free_port

pytestmark = pytest.mark.reliability

ANSWER_WITHIN_S = 5.0
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[24.94, 60.17], [24.95, 60.17], [24.95, 60.175], [24.94, 60.175], [24.94, 60.17]]],
}
AREA = {"name": "outage", "area": SQUARE, "sources": ["overpass"], "categories": ["cafe"]}
# A valid body where a route takes one, so the request gets as far as the services; any other
# (new) route gets `{}`, which must still never be a 500.
BODIES: dict[str, dict[str, Any]] = {
    "/api/areas": AREA,
    "/api/areas/estimate": AREA,
    "/api/jobs/test": {"message": "outage"},
}
SCENARIOS = {"postgresql": ["postgresql"], "redis": ["redis"], "both": ["redis", "postgresql"]}


def app_requests() -> list[tuple[str, str]]:
    app = create_app(Settings(environment="test"))
    found = sorted(
        {
            (method, str(context.path_format))
            for context in iter_route_contexts(app.routes)
            for method in getattr(context.original_route, "methods", None) or ()
            if method != "HEAD"
        }
    )
    assert ("GET", "/api/areas/{area_id}") in found, found
    assert ("GET", "/areas/{area_id}") in found, found
    return found


def concrete(path: str) -> str:
    path = path.replace("{area_id}", str(uuid.uuid4()))
    return re.sub(r"\{[^}]+\}", "1", path)


def down_settings(settings: Settings, services: list[str]) -> Settings:
    dead = free_port()  # nothing listens there: connection refused, as when the service is stopped
    update: dict[str, Any] = {}
    if "redis" in services:
        update["redis_url"] = f"redis://127.0.0.1:{dead}/0"
    if "postgresql" in services:
        update["database_url"] = f"postgresql://postgres@127.0.0.1:{dead}/areafetch"
    return settings.model_copy(update=update)


async def answer(client: httpx.AsyncClient, method: str, path: str) -> tuple[httpx.Response, str, float]:
    page = not path.startswith("/api") and path not in ("/metrics", "/readyz", "/healthz", "/openapi.json")
    headers = {"accept": "text/html"} if page else {"accept": "application/json"}
    started = time.monotonic()
    async with client.stream(
        method, concrete(path), json=BODIES.get(path, {}) if method != "GET" else None, headers=headers
    ) as response:
        text = (
            ""
            if "event-stream" in response.headers.get("content-type", "")
            else (await response.aread()).decode()
        )
    return response, text, time.monotonic() - started


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_every_route_answers_an_outage_clearly(settings: Settings, scenario: str) -> None:
    down = SCENARIOS[scenario]
    failures: list[str] = []
    async with area_client(down_settings(settings, down)) as client:
        for method, path in app_requests():
            response, text, took_s = await asyncio.wait_for(answer(client, method, path), ANSWER_WITHIN_S * 2)
            where = f"{method} {path} ({scenario} down): {response.status_code} {text[:200]!r}"
            if took_s > ANSWER_WITHIN_S:
                failures.append(f"{where} took {took_s:.1f}s")
            if response.status_code >= 500 and response.status_code != 503:
                failures.append(where)
            if response.status_code == 503 and not any(service in text.lower() for service in down):
                failures.append(f"{where}: does not name {down}")
            html = response.headers["content-type"].startswith("text/html")
            if response.status_code == 503 and html and "temporarily unavailable" not in text:
                failures.append(f"{where}: no human message")
        assert not failures, "\n".join(failures)

        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert [name for name, check in ready.json()["checks"].items() if check != "ok"] == [
            name for name in ("redis", "postgresql") if name in down
        ]
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert "areafetch_" in metrics.text.replace("areafetch_worker_metrics_up", "")
        up = "0" if "redis" in down else "1"
        assert f"\nareafetch_worker_metrics_up {up}\n" in metrics.text


async def test_routes_that_need_a_service_answer_503_not_a_guess(settings: Settings) -> None:
    """A read of an area cannot say 404 without PostgreSQL, nor a job's 404 without Redis."""
    async with area_client(down_settings(settings, ["redis", "postgresql"])) as client:
        for path in (f"/api/areas/{uuid.uuid4()}", f"/api/areas/{uuid.uuid4()}/places", "/api/jobs/j1"):
            assert (await client.get(path)).status_code == 503, path
        page = await client.get(f"/areas/{uuid.uuid4()}", headers={"accept": "text/html"})
        assert page.status_code == 503
        assert "temporarily unavailable" in page.text
        created = await client.post("/api/areas", json=AREA)
        assert created.status_code == 503
        assert "redis" in created.json()["detail"]
