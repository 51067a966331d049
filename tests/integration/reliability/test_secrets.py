"""Secrets never leak: a worker and a web process run with a Google key and API tokens, meet errors
(a Google 403, a failing job, refused tokens, bad bodies), and then every place a secret could end up
is searched for them: both processes' logs (at DEBUG), every Redis key of the test, the areas table,
/metrics and every HTTP answer."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from areafetch.config import Settings
from areafetch.db import create_engine
from tests.fakes.google_places import GooglePlacesFake
from tests.helpers import REDIS_URL, ProcessFactory, eventually, settings_env

pytestmark = pytest.mark.reliability

GOOGLE_KEY = "AIzaSy-areafetch-secret-google-key-7Q"  # not the fake's key: every call gets 403
TOKEN_A = "tok-A-never-show-me-0123456789"
TOKEN_B = "tok-B-never-show-me-9876543210"
SECRETS = (GOOGLE_KEY, TOKEN_A, TOKEN_B, "secret-google-key", "never-show-me")
BBOX = [24.935, 60.165, 24.945, 60.17]


def assert_no_secret(where: str, content: str) -> None:
    for secret in SECRETS:
        assert secret not in content, f"{secret!r} found in {where}"


async def redis_dump(prefix: str, limiter_namespace: str) -> str:
    """Every key and value of the test's prefix (and the limiters), as text."""
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    parts: list[str] = []
    try:
        for pattern in (f"{prefix}:*", f"{{{limiter_namespace}:*"):
            async for key in client.scan_iter(match=pattern, count=1000):
                kind = await client.type(key)
                value: object
                if kind == "string":
                    value = await client.get(key)
                elif kind == "hash":
                    value = await client.hgetall(key)
                elif kind == "list":
                    value = await client.lrange(key, 0, -1)
                elif kind == "set":
                    value = sorted(await client.smembers(key))
                elif kind == "zset":
                    value = await client.zrange(key, 0, -1, withscores=True)
                elif kind == "stream":
                    value = await client.xrange(key)
                else:
                    value = kind
                parts.append(f"{key} {value!r}")
    finally:
        await client.aclose()
    assert parts, "nothing found in Redis: the dump is looking in the wrong place"
    return "\n".join(parts)


async def areas_rows(settings: Settings) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT row_to_json(a)::text FROM areas a"))).scalars().all()
            tile_rows = (await conn.execute(text("SELECT row_to_json(t)::text FROM tiles t"))).scalars().all()
    finally:
        await engine.dispose()
    return "\n".join([*rows, *tile_rows])


async def test_key_and_tokens_never_appear_anywhere(
    settings: Settings, processes: ProcessFactory, google_places_fake: GooglePlacesFake, tmp_path: Path
) -> None:
    env = settings_env(settings) | {
        "AREAFETCH_GOOGLE_API_KEY": GOOGLE_KEY,
        "AREAFETCH_GOOGLE_PLACES_URL": google_places_fake.url,
        "AREAFETCH_API_TOKENS": f"{TOKEN_A},{TOKEN_B}",
        "AREAFETCH_PROTECT_READS": "true",
        "AREAFETCH_LOG_LEVEL": "DEBUG",
        "AREAFETCH_LOG_FORMAT": "json",
        "AREAFETCH_JOB_ATTEMPTS": "2",
        "AREAFETCH_GOOGLE_PLACES_RATE_PER_S": "20",
    }
    worker = await processes.worker(env)
    web, base_url = await processes.web(env)
    good = {"Authorization": f"Bearer {TOKEN_A}"}
    answers: list[httpx.Response] = []

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as api:
        area_body = {"name": "leak?", "bbox": BBOX, "sources": ["google_places"], "categories": ["cafe"]}
        created = await api.post("/api/areas", json=area_body, headers=good)
        assert created.status_code == 202, created.text
        area_id = created.json()["area_id"]
        failing = await api.post("/api/jobs/test", json={"message": "boom", "fail": True}, headers=good)
        assert failing.status_code == 202, failing.text
        job_id = failing.json()["job_id"]
        answers += [created, failing]

        # Refusals and errors of every kind, with the tokens (right, wrong, truncated) in play.
        answers += [
            await api.post("/api/areas", json=area_body),
            await api.post("/api/areas", json=area_body, headers={"Authorization": f"Bearer {TOKEN_A}x"}),
            await api.post("/api/areas", json=area_body, headers={"Authorization": f"Bearer {TOKEN_B[:-1]}"}),
            await api.post("/api/areas", json={**area_body, "bbox": [1, 2, 3]}, headers=good),
            await api.post(
                "/api/areas",
                content=b"{" * 200 + b"}" * 200,
                headers=good | {"content-type": "application/json"},
            ),
            await api.post("/api/areas", content=b"x" * (3 * 1024 * 1024), headers=good),
            await api.get(f"/api/areas/{area_id}"),
            await api.get("/api/jobs/nope", headers={"Authorization": f"Bearer {GOOGLE_KEY}"}),
            await api.post("/api/jobs/nope/cancel", headers=good),
        ]

        async def area_failed() -> dict[str, object] | None:
            area: dict[str, object] = (await api.get(f"/api/areas/{area_id}", headers=good)).json()
            return area if area["state"] in {"failed", "completed"} else None

        area = await eventually(area_failed, timeout_s=60, interval_s=0.2, what="the area to fail")
        assert area["state"] == "failed"
        assert "403" in str(area["failed_reason"]) or "PERMISSION_DENIED" in str(area["failed_reason"])

        async def job_failed() -> dict[str, object] | None:
            job: dict[str, object] = (await api.get(f"/api/jobs/{job_id}", headers=good)).json()
            return job if job["state"] == "failed" else None

        await eventually(job_failed, timeout_s=30, interval_s=0.2, what="the failing test job")
        answers += [
            await api.get(f"/api/areas/{area_id}", headers=good),
            await api.get(f"/api/areas/{area_id}/places", headers=good),
            await api.get(f"/api/jobs/{job_id}", headers=good),
            await api.get(f"/api/jobs/{area['job_id']}", headers=good),
            await api.get("/api/queues", headers=good),
            await api.get("/openapi.json"),
            await api.get("/"),
            await api.get("/jobs"),
            await api.get(f"/areas/{area_id}"),
        ]

        async def worker_metrics_published() -> httpx.Response | None:
            scrape = await api.get("/metrics")
            return scrape if "areafetch_upstream_calls_total{" in scrape.text else None

        metrics = await eventually(
            worker_metrics_published, timeout_s=15, interval_s=0.5, what="the worker's upstream call counts"
        )

    assert any(record.status == 403 for record in google_places_fake.requests)
    for response in answers:
        assert_no_secret(
            f"{response.request.method} {response.request.url.path} → {response.status_code}",
            f"{dict(response.headers)} {response.text}",
        )
    assert "areafetch_upstream_calls_total" in metrics.text
    assert_no_secret("/metrics", metrics.text)
    assert_no_secret("Redis", await redis_dump(settings.queue_prefix, settings.limiter_namespace))
    assert_no_secret("PostgreSQL", await areas_rows(settings))
    worker.signal()
    web.signal()
    await worker.wait_exit()
    await web.wait_exit()
    for child in (worker, web):
        log = child.text()
        assert log.count("\n") > 5, log  # it did log
        assert_no_secret(f"the log of {child.args[0]}", log)
