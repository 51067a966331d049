"""Fixtures on real services: a throwaway PostgreSQL database per run, a Redis key prefix per test,
and factories for the worker and web processes, started as the OS processes they are in production."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import structlog
from fastapi import FastAPI

from areafetch.config import Settings
from areafetch.db import migrate
from areafetch.db.engine import async_url
from areafetch.queue import Queues
from areafetch.web.app import create_app
from tests.fakes.fixtures import (
    TEST_USER_AGENT,
    TESTS_PAUSE_AFTER_429_S,
    google_places_fake,
    helsinki_data,
    helsinki_pbf,
    overpass_fake,
)
from tests.helpers import ADMIN_DATABASE_URL, REDIS_URL, ProcessFactory, dsn, settings_env
from tests.pipeline import OVERPASS_RATE

__all__ = ["google_places_fake", "helsinki_data", "helsinki_pbf", "overpass_fake"]  # the test upstreams


def _runs_for_a_minute(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None or "integration" in item.path.parts


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The minute-long cross-process tests first: xdist hands out the first tests round robin, so
    they run side by side from the start instead of one worker finishing them alone at the end."""
    items.sort(key=lambda item: not _runs_for_a_minute(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that ran `areafetch` processes shows what they logged that went wrong: a CI
    log keeps only the report, not the processes' log files."""
    report = yield
    factory = getattr(item, "funcargs", {}).get("processes")
    if report.failed and isinstance(factory, ProcessFactory):
        report.sections.extend(factory.report_sections())
    return report


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, migrated database for this test run; dropped at the end."""
    name = f"areafetch_test_{uuid.uuid4().hex[:12]}"
    url = async_url(ADMIN_DATABASE_URL).set(drivername="postgresql", database=name)
    database_url = url.render_as_string(hide_password=False)
    migrate(database_url)
    yield database_url

    async def drop() -> None:
        conn = await asyncpg.connect(dsn(ADMIN_DATABASE_URL))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture(autouse=True)
def _nothing_learned(request: pytest.FixtureRequest) -> None:
    """A test with its own fake Overpass starts with nothing learned about Overpass (the densities and
    cell capacities a deployment keeps between areas), whatever tests ran before it in this database."""
    if "overpass_fake" not in request.fixturenames:
        return
    database_url: str = request.getfixturevalue("database_url")

    async def forget() -> None:
        conn = await asyncpg.connect(dsn(database_url))
        try:
            await conn.execute("TRUNCATE place_density, cell_capacity")
        finally:
            await conn.close()

    asyncio.run(forget())


@pytest.fixture
def queue_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def settings(database_url: str, queue_prefix: str) -> AsyncIterator[Settings]:
    """Settings for one test: its own queue prefix (its keys are deleted afterwards)."""
    yield Settings(
        environment="test",
        redis_url=REDIS_URL,
        database_url=database_url,
        queue_prefix=queue_prefix,
        limiter_namespace=f"{queue_prefix}:limiter",  # this test's limits, apart from every other run's
        job_backoff_ms=200,
        shutdown_grace_s=10,
        log_format="json",
        cpu_workers=1,
        # Places stored by earlier tests in this run's database would make `auto` depend on the
        # order of tests; the tests of the choice set it themselves.
        google_method="nearby",
        # Every test has its own queue prefix but shares this run's database: a worker's reconciler
        # would take other tests' unfinished areas for areas whose jobs Redis lost, and requeue (on
        # its own queues, against its own fakes) or fail them. The reconciler's tests set it.
        reconcile_after_s=86_400.0,
    )
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{queue_prefix}:*", count=1000)]
        keys += [key async for key in client.scan_iter(match=f"{{{queue_prefix}:limiter:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The web app in this process, with its lifespan running."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessFactory]:
    """Starts `areafetch` commands as OS processes; kills whatever is still running at the end."""
    factory = ProcessFactory(tmp_path)
    yield factory
    factory.kill_all()


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return settings_env(settings)


@pytest.fixture
async def queues(settings: Settings) -> AsyncIterator[Queues]:
    """The producer side, as the web app uses it."""
    producer = Queues(settings)
    yield producer
    await producer.close()


@pytest.fixture
def area_settings(settings: Settings, helsinki_pbf: Path) -> Settings:
    """Settings for the area pipeline against the test upstreams and the Helsinki extract."""
    return settings.model_copy(
        update={
            "user_agent": TEST_USER_AGENT,
            "osm_extract_path": helsinki_pbf,
            "overpass_rate_per_s": OVERPASS_RATE,
            "overpass_burst": 1,
            "overpass_max_in_flight": 1,
            "overpass_max_wait_s": 120.0,
            "overpass_pause_min_s": TESTS_PAUSE_AFTER_429_S,
            "overpass_max_tile_km2": 0.08,
            "google_places_rate_per_s": 8.0,  # 5 + 60 * 8 = 485 calls a minute, under the fake's 600
            "google_places_burst": 5,
            "max_split_depth": 8,
            "lock_duration_ms": 5000,
            "stalled_interval_ms": 2000,
            "worker_concurrency": 4,
        }
    )


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """For a test that configures logging as a process does: the tests after it keep theirs."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)
