"""Access: bearer tokens on write (and optionally read) routes, the per-client submission limit,
body size and JSON depth limits, all on the in-process app with real Redis and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from areafetch.config import Settings
from areafetch.web.access import json_depth_exceeds, token_matches
from areafetch.web.app import create_app
from tests.helpers import REDIS_URL, free_port

pytestmark = pytest.mark.reliability

TOKEN_A = "tok-a-0123456789abcdef"
TOKEN_B = "tok-b-fedcba9876543210"
BBOX = [24.93, 60.16, 24.94, 60.17]

ApiFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_api(settings: Settings) -> ApiFactory:
    """An in-process client of an app built with these settings overridden."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(Settings.model_validate({**settings.model_dump(), **overrides}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield client
        await delete_submission_limits(settings)

    return make


async def delete_submission_limits(settings: Settings) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        pattern = f"{{{settings.limiter_namespace}:submit:{settings.queue_prefix}:*"
        keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- settings ---------------------------------------------------------------------------------


def test_tokens_shorter_than_16_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(api_tokens=f"{TOKEN_A},short-secret")

    assert "shorter than 16" in str(caught.value)
    assert "short-secret" not in str(caught.value)
    assert TOKEN_A not in str(caught.value)


def test_tokens_are_split_trimmed_and_hidden() -> None:
    settings = Settings(api_tokens=f" {TOKEN_A} ,{TOKEN_B},")

    assert settings.api_token_list == (TOKEN_A, TOKEN_B)
    assert TOKEN_A not in repr(settings)
    assert TOKEN_A not in str(settings.model_dump())
    assert Settings(api_tokens="").api_token_list == ()


def test_token_matches_compares_every_token() -> None:
    assert token_matches(TOKEN_B, [TOKEN_A, TOKEN_B])
    assert not token_matches(TOKEN_A[:-1], [TOKEN_A, TOKEN_B])
    assert not token_matches("", [TOKEN_A])


# --- tokens -----------------------------------------------------------------------------------

WRITES = [
    ("/api/jobs/test", {"message": "hi"}, 202),
    (
        "/api/areas/estimate",
        {"name": "x", "bbox": BBOX, "sources": ["overpass"], "categories": ["cafe"]},
        200,
    ),
    ("/api/areas", {"name": "x", "bbox": BBOX, "sources": ["overpass"], "categories": ["cafe"]}, 202),
    ("/api/jobs/unknown-job/retry", None, 404),
    ("/api/jobs/unknown-job/cancel", None, 404),
]


@pytest.mark.parametrize(("path", "body", "allowed"), WRITES)
async def test_writes_need_a_valid_token_when_tokens_are_configured(
    make_api: ApiFactory, path: str, body: object, allowed: int
) -> None:
    async with make_api(api_tokens=f"{TOKEN_A},{TOKEN_B}") as api:
        missing = await api.post(path, json=body)
        wrong = await api.post(path, json=body, headers=bearer(TOKEN_A + "x"))
        basic = await api.post(path, json=body, headers={"Authorization": f"Basic {TOKEN_A}"})
        good = await api.post(path, json=body, headers=bearer(TOKEN_B))

    for refused in (missing, wrong, basic):
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"] == "Bearer"
        assert TOKEN_A not in refused.text
    assert good.status_code == allowed, good.text


async def test_without_tokens_writes_are_open(api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/jobs/test", json={"message": "hi"})).status_code == 202


async def test_reads_are_public_unless_protected(make_api: ApiFactory) -> None:
    async with make_api(api_tokens=TOKEN_A) as api:
        assert (await api.get("/api/queues")).status_code == 200
        assert (await api.get("/api/jobs/nope")).status_code == 404
    async with make_api(api_tokens=TOKEN_A, protect_reads=True) as api:
        for path in (
            "/api/queues",
            "/api/jobs/nope",
            f"/api/areas/{'0' * 32}",
            f"/api/areas/{'0' * 32}/places",
        ):
            assert (await api.get(path)).status_code == 401, path
        assert (await api.get("/api/queues", headers=bearer(TOKEN_A))).status_code == 200
        assert (await api.get("/healthz")).status_code == 200  # probes and pages stay public
        assert (await api.get("/jobs")).status_code == 200


async def test_openapi_shows_the_bearer_scheme(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()

    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"HTTPBearer": []} in schema["paths"]["/api/areas"]["post"]["security"]


# --- submission rate limit ----------------------------------------------------------------------


async def test_submissions_over_the_limit_get_429_at_once(make_api: ApiFactory) -> None:
    async with make_api(api_tokens=f"{TOKEN_A},{TOKEN_B}", submit_rate_per_s=0.5, submit_burst=3) as api:
        started = time.monotonic()
        codes = [
            (await api.post("/api/jobs/test", json={"message": "hi"}, headers=bearer(TOKEN_A))).status_code
            for _ in range(5)
        ]
        refused = await api.post("/api/jobs/test", json={"message": "hi"}, headers=bearer(TOKEN_A))
        elapsed = time.monotonic() - started
        other_client = await api.post("/api/jobs/test", json={"message": "hi"}, headers=bearer(TOKEN_B))

    assert codes == [202, 202, 202, 429, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    assert elapsed < 1.0  # nobody slept for a slot
    assert other_client.status_code == 202  # one limit per client


async def test_submissions_without_tokens_are_limited_per_address(make_api: ApiFactory) -> None:
    async with make_api(submit_rate_per_s=0.1, submit_burst=1) as api:
        first = await api.post("/api/jobs/test", json={"message": "hi"})
        second = await api.post("/api/jobs/test", json={"message": "hi"})

    assert (first.status_code, second.status_code) == (202, 429)
    assert int(second.headers["retry-after"]) >= 9


async def test_submissions_with_redis_down_get_503(make_api: ApiFactory) -> None:
    async with make_api(redis_url=f"redis://127.0.0.1:{free_port()}/0") as api:
        response = await api.post("/api/jobs/test", json={"message": "hi"})

    assert response.status_code == 503
    assert "redis" in response.json()["detail"]


# --- bodies -----------------------------------------------------------------------------------


async def test_body_over_the_limit_by_content_length_is_413(make_api: ApiFactory) -> None:
    async with make_api(max_body_bytes=4096) as api:
        response = await api.post("/api/jobs/test", content=b"{" + b" " * 5000 + b"}")

    assert response.status_code == 413


async def test_streamed_body_over_the_limit_is_413(make_api: ApiFactory) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    async with make_api(max_body_bytes=4096) as api:
        response = await api.post(
            "/api/jobs/test", content=chunks(), headers={"content-type": "application/json"}
        )

    assert response.status_code == 413


async def test_deeply_nested_json_is_422_not_500(api: httpx.AsyncClient) -> None:
    for depth in (100, 100_000):
        body = (
            '{"name": "x", "sources": ["overpass"], "categories": ["cafe"], "area": '
            + "[" * depth
            + "]" * depth
            + "}"
        )
        response = await api.post("/api/areas", content=body, headers={"content-type": "application/json"})

        assert response.status_code == 422, (depth, response.text[:200])
        assert "nested deeper" in response.json()["detail"][0]["msg"]


async def test_oversized_geojson_within_the_body_limit_is_422(api: httpx.AsyncClient) -> None:
    ring = [[24.9 + i * 1e-6, 60.1] for i in range(60_000)] + [[24.9, 60.2], [24.9, 60.1]]
    body = {
        "name": "x",
        "area": {"type": "Polygon", "coordinates": [ring]},
        "sources": ["overpass"],
        "categories": ["cafe"],
    }

    response = await api.post("/api/areas", json=body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "area"]


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert not json_depth_exceeds(b'{"a": "' + b"[" * 500 + b'"}', 10)
    assert not json_depth_exceeds(b'{"a": "\\"' + b"[" * 500 + b'"}', 10)
    assert json_depth_exceeds(b"[" * 11 + b"]" * 11, 10)
    assert not json_depth_exceeds(b"[[]]" * 100, 10)


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_in_a_bbox_are_422(api: httpx.AsyncClient, bad: str) -> None:
    body = f'{{"name": "x", "bbox": [{bad}, 60.16, 24.94, 60.17], "sources": ["overpass"], "categories": ["cafe"]}}'

    response = await api.post("/api/areas", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 422, response.text
