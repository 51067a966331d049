"""areafetch on a real Redis Cluster: 3 masters and 3 replicas on loopback ports.

The web app and the worker run as their own processes with `AREAFETCH_REDIS_CLUSTER=true` and a
hash-tagged prefix; the test job, an area through the fake Overpass, the limiter's bound across
processes, and a manual failover of the master that holds the queue's slot in the middle of a
burst of jobs.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest
import shapely

from areafetch.config import Settings
from areafetch.jobs import TestJobPayload
from areafetch.queue import Queues, enqueue_test_job
from tests.fakes.expected import expected_osm_keys
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, eventually, settings_env
from tests.pipeline import (
    CATEGORIES,
    HELSINKI_POLYGON,
    OSM_FILTERS,
    stored_ids,
    submit_and_wait,
    with_upstreams,
)
from tests.ratelimit._procs import HammerSpec, check_bound, run_processes
from tests.redis_cluster import Cluster, running_cluster

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster"), masters=3, replicas=1) as running:
        yield running


def on_cluster(settings: Settings, cluster: Cluster) -> Settings:
    tag = f"{{{settings.queue_prefix}}}"
    return settings.model_copy(update={"redis_url": cluster.url, "redis_cluster": True, "queue_prefix": tag})


def test_a_cluster_without_a_hash_tagged_prefix_refuses_to_start(settings: Settings) -> None:
    env = {**settings_env(settings), "AREAFETCH_REDIS_CLUSTER": "true", "AREAFETCH_QUEUE_PREFIX": "bull"}
    done = subprocess.run(
        [sys.executable, "-m", "areafetch", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "AREAFETCH_QUEUE_PREFIX" in done.stderr
    assert "'{bull}'" in done.stderr


async def test_the_test_job_over_http_on_a_cluster(
    settings: Settings, cluster: Cluster, processes: ProcessFactory
) -> None:
    env = settings_env(on_cluster(settings, cluster))
    await processes.worker(env)
    _, base_url = await processes.web(env)
    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/readyz")).json()["status"] == "ok"
        created = await client.post("/api/jobs/test", json={"message": "on a cluster"})
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]

        async def completed() -> dict[str, object] | None:
            body: dict[str, object] = (await client.get(f"/api/jobs/{job_id}")).json()
            return body if body["state"] == "completed" else None

        job = await eventually(completed, timeout_s=30, what="the test job completed")
    assert job["result"]["message"] == "on a cluster"  # type: ignore[index]


async def test_an_area_through_the_fake_overpass_on_a_cluster(
    area_settings: Settings, cluster: Cluster, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = on_cluster(with_upstreams(area_settings, overpass=overpass_fake), cluster)
    await processes.worker(settings_env(settings))
    area_id, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )
    assert area["state"] == "completed", area["failed_reason"]
    expected = expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS)
    assert sorted(await stored_ids(settings, area_id, "overpass")) == sorted(expected)
    assert not overpass_fake.rejections()


def test_the_limiters_bound_holds_across_processes_on_a_cluster(cluster: Cluster) -> None:
    rate, burst, in_flight = 20.0, 5, 3
    policy = {"rate_per_s": rate, "burst": burst, "max_in_flight": in_flight, "max_wait_s": 30.0}
    name = f"test-{uuid.uuid4().hex}"
    specs = [
        HammerSpec(cluster.url, name, policy, 4.0, cluster=True, call_max_s=0.05, long_call_share=0.2, seed=i)
        for i in range(4)
    ]
    results, _, _ = run_processes(specs)
    figures = check_bound(results, burst=burst, rate_per_s=rate)
    assert figures["max_calls_in_flight"] <= in_flight
    # The rate is used, not just obeyed (the hammer at full utilisation is a load test, alone on the machine).
    assert figures["grants"] >= 0.6 * (burst + rate * 4.0)


async def test_a_failover_of_the_queues_master_in_a_burst_loses_no_job(
    settings: Settings, cluster: Cluster, processes: ProcessFactory
) -> None:
    settings = on_cluster(settings, cluster)
    await processes.worker(settings_env(settings))
    total = 300
    queues = Queues(settings)
    try:
        ids = [
            await enqueue_test_job(queues, TestJobPayload(message=f"m{n}", work_ms=10)) for n in range(total)
        ]
        queue = queues.get("test-jobs")

        async def some_done() -> bool:
            return int((await queue.getJobCounts("completed"))["completed"]) >= 50

        await eventually(some_done, timeout_s=60, what="50 jobs done before the failover")
        master = cluster.master_of(f"{settings.queue_prefix}:test-jobs:wait")
        await asyncio.to_thread(cluster.fail_over_to, cluster.replica_of(master))
        assert cluster.master_of(f"{settings.queue_prefix}:test-jobs:wait") != master

        async def all_done() -> dict[str, int] | None:
            counts: dict[str, int] = await queue.getJobCounts(
                "completed", "failed", "wait", "active", "delayed"
            )
            return counts if counts["completed"] + counts["failed"] >= total else None

        counts = await eventually(all_done, timeout_s=120, interval_s=0.5, what="every job finished")
        assert counts["completed"] == total, counts
        states = {await queue.getJobState(job_id) for job_id in ids}
        assert states == {"completed"}
    finally:
        await queues.close()
