"""/healthz and /readyz, with the services up and with Redis or PostgreSQL unreachable."""

from __future__ import annotations

import httpx

from areafetch.config import Settings
from areafetch.web.app import create_app
from tests.helpers import free_port


async def test_healthz(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_ok(api: httpx.AsyncClient) -> None:
    response = await api.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"redis": "ok", "postgresql": "ok"}}


async def _readyz(settings: Settings) -> httpx.Response:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get("/readyz")


async def test_readyz_503_names_redis_when_it_is_down(settings: Settings) -> None:
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})

    response = await _readyz(down)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["postgresql"] == "ok"
    assert body["checks"]["redis"].startswith("down:")


async def test_readyz_503_names_postgresql_when_it_is_down(settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/x"})

    response = await _readyz(down)

    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "ok"
    assert response.json()["checks"]["postgresql"].startswith("down:")


async def test_enqueue_with_redis_down_is_503_not_500(settings: Settings) -> None:
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    app = create_app(down)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post("/api/jobs/test", json={"message": "hi"})

    assert response.status_code == 503
    assert response.json()["detail"].startswith("redis unavailable")
