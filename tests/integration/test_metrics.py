"""/metrics: worker processes publish their samples to Redis, the web app sums them with its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE, TEST_QUEUE
from areafetch.jobs import TestJobPayload
from areafetch.metrics import (
    REGISTRY,
    MergedCollector,
    MetricsPublisher,
    WorkerSamples,
    decode_samples,
    encode_samples,
    index_key,
    read_worker_samples,
    worker_key,
)
from areafetch.queue import Queues, enqueue_test_job
from tests.fakes.fixtures import TEST_USER_AGENT, TESTS_PAUSE_AFTER_429_S
from tests.fakes.overpass import OverpassFake
from tests.helpers import REDIS_URL, ProcessFactory, area_client, eventually, settings_env
from tests.pipeline import HELSINKI_POLYGON, finished_area, submit

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    return samples.get((metric, frozenset(labels.items())), 0.0)


def local_samples() -> Samples:
    """What this (the test) process counted itself, which /metrics adds to the workers' samples."""
    return parse(generate_latest(REGISTRY).decode())


# --- the merge --------------------------------------------------------------------------------------


def _registry(jobs: int, waits_s: list[float]) -> CollectorRegistry:
    registry = CollectorRegistry()
    counter = Counter("t_jobs", "jobs", ["queue", "outcome"], registry=registry)
    counter.labels("q", "completed").inc(jobs)
    histogram = Histogram("t_wait_seconds", "wait", ["limiter"], buckets=(0.1, 1.0), registry=registry)
    for wait_s in waits_s:
        histogram.labels("overpass").observe(wait_s)
    return registry


def test_merge_sums_counters_and_histogram_buckets_of_two_workers_and_the_local_registry() -> None:
    worker_a = WorkerSamples("a", decode_samples(encode_samples(_registry(2, [0.05, 0.5]))))
    worker_b = WorkerSamples("b", decode_samples(encode_samples(_registry(3, [0.5, 5.0, 7.0]))))
    local = _registry(1, [])

    text = generate_latest(MergedCollector(local, [worker_a, worker_b])).decode()
    merged = parse(text)

    assert value(merged, "t_jobs_total", queue="q", outcome="completed") == 6
    assert value(merged, "t_wait_seconds_bucket", limiter="overpass", le="0.1") == 1
    assert value(merged, "t_wait_seconds_bucket", limiter="overpass", le="1.0") == 3
    assert value(merged, "t_wait_seconds_bucket", limiter="overpass", le="+Inf") == 5
    assert value(merged, "t_wait_seconds_count", limiter="overpass") == 5
    assert value(merged, "t_wait_seconds_sum", limiter="overpass") == pytest.approx(13.05)
    assert value(merged, "areafetch_metrics_workers") == 2
    assert "_created" not in text  # creation times are not summable
    assert text.count("# TYPE t_jobs_total counter") == 1  # one family, not one per source
    assert text.count("# TYPE t_wait_seconds histogram") == 1


async def test_published_samples_are_read_back_and_an_expired_worker_disappears(settings: Settings) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        prefix = settings.queue_prefix
        for name, jobs in (("host:1", 2), ("host:2", 5)):
            publisher = MetricsPublisher(client, prefix=prefix, worker=name, registry=_registry(jobs, [0.2]))
            assert await publisher.publish()
        assert 0 < await client.ttl(worker_key(prefix, "host:1")) <= 30

        workers = await read_worker_samples(client, prefix)
        assert [worker.worker for worker in workers] == ["host:1", "host:2"]
        merged = parse(generate_latest(MergedCollector(CollectorRegistry(), workers)).decode())
        assert value(merged, "t_jobs_total", queue="q", outcome="completed") == 7
        assert value(merged, "t_wait_seconds_count", limiter="overpass") == 2

        await client.delete(worker_key(prefix, "host:1"))  # as its TTL would
        workers = await read_worker_samples(client, prefix)
        assert [worker.worker for worker in workers] == ["host:2"]
        assert await client.smembers(index_key(prefix)) == {b"host:2"}
    finally:
        await client.aclose()


# --- a worker process, end to end -----------------------------------------------------------------


@pytest.fixture
def overpass_settings(settings: Settings, helsinki_pbf: Path, overpass_fake: OverpassFake) -> Settings:
    return settings.model_copy(
        update={
            "user_agent": TEST_USER_AGENT,
            "overpass_url": overpass_fake.interpreter_url,
            "overpass_rate_per_s": 1.8,
            "overpass_burst": 1,
            "overpass_max_in_flight": 1,
            "overpass_max_wait_s": 60.0,
            "overpass_pause_min_s": TESTS_PAUSE_AFTER_429_S,
            "overpass_max_tile_km2": 2.0,  # one tile
        }
    )


@pytest.fixture
async def metrics_client(overpass_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with area_client(overpass_settings) as client:
        yield client


async def test_metrics_of_a_worker_process_reach_the_web_apps_metrics(
    overpass_settings: Settings, processes: ProcessFactory, metrics_client: httpx.AsyncClient
) -> None:
    worker = await processes.worker(settings_env(overpass_settings))
    queues = Queues(overpass_settings)
    try:
        job_id = await enqueue_test_job(queues, TestJobPayload(message="metrics"))
    finally:
        await queues.close()
    area_id = await submit(metrics_client, area=HELSINKI_POLYGON, sources=["overpass"], categories=["cafe"])
    area = await finished_area(metrics_client, area_id)
    assert area["state"] == "completed", area["failed_reason"]
    await worker.wait_for_event("job.completed", job_id=job_id)

    before = local_samples()  # the test process counts nothing of this, but prove it

    def from_workers(samples: Samples, metric: str, /, **labels: str) -> float:
        return value(samples, metric, **labels) - value(before, metric, **labels)

    async def scraped() -> Samples | None:
        response = await metrics_client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        samples = parse(response.text)
        moved = (
            from_workers(samples, "areafetch_jobs_total", queue=TEST_QUEUE, name="test", outcome="completed")
            >= 1
            and from_workers(
                samples, "areafetch_jobs_total", queue=AREAS_QUEUE, name="fetch", outcome="completed"
            )
            >= 1
        )
        return samples if moved else None

    samples = await eventually(scraped, timeout_s=20, interval_s=0.5, what="worker metrics in /metrics")

    assert value(samples, "areafetch_metrics_workers") == 1
    assert (
        from_workers(samples, "areafetch_jobs_total", queue=AREAS_QUEUE, name="plan", outcome="completed")
        == 1
    )
    assert from_workers(samples, "areafetch_job_duration_seconds_count", queue=TEST_QUEUE, name="test") >= 1
    assert from_workers(samples, "areafetch_upstream_calls_total", source="overpass", code="200") >= 1
    assert from_workers(samples, "areafetch_places_written_total", source="overpass") > 0
    assert from_workers(samples, "areafetch_limiter_wait_seconds_count", limiter="overpass") > 0
    assert value(samples, "process_cpu_seconds_total") > 0  # the web process's own collectors

    # Every line logged inside an area job carries the job and the area.
    area_lines = [line for line in worker.events() if line.get("queue") == AREAS_QUEUE]
    assert area_lines
    assert all(line.get("area_id") == area_id for line in area_lines)
