"""Raw `bullmq` Python workers, the baselines of `bench.queue_overhead`.

- no-op: the processor returns at once;
- by hand (``"database_url"`` given): the processor does the test job's work the way one would
  write it without areafetch: progress 50, the same row upserted into ``test_job_runs`` with a
  prepared asyncpg statement, progress 100, a result dict. Against it, areafetch's ratio is the
  cost of its own path (validation, logging, metrics, SQLAlchemy), not of the work.

Run as its own OS process by the benchmark; the worker options come as one JSON argument (the
same concurrency, lock duration, stalled check and Redis connection options as `areafetch worker`):

    python -m bench._bullmq_noop_worker '{"queue": ..., "prefix": ..., "redis_url": ..., ...}'

Prints ``ready`` once its Worker runs, and on SIGTERM closes it (letting in-flight jobs finish).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from bullmq import Worker

from areafetch.redis import connection_options

UPSERT = """
    INSERT INTO test_job_runs (job_id, queue, name, payload, result, attempt, started_at, finished_at)
    VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8)
    ON CONFLICT (job_id) DO UPDATE SET result = EXCLUDED.result, attempt = EXCLUDED.attempt,
        started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, runs = test_job_runs.runs + 1
"""
BY_HAND_NAME = "test-by-hand"  # its rows are told apart from areafetch's by this name

Processor = Callable[[Any, str], Awaitable[Any]]


async def nothing(job: Any, token: str) -> None:
    return None


def by_hand(pool: asyncpg.Pool) -> Processor:
    async def process(job: Any, token: str) -> dict[str, Any]:
        started_at = datetime.now(UTC)
        await job.updateProgress(50)
        result = {
            "message": job.data["message"],
            "worker_pid": os.getpid(),
            "started_at": started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "cpu_iterations": 0,
        }
        await pool.execute(
            UPSERT, job.id, job.queue.name, BY_HAND_NAME, json.dumps(job.data), json.dumps(result),
            job.attemptsMade + 1, started_at, datetime.now(UTC),
        )  # fmt: skip
        await job.updateProgress(100)
        return result

    return process


async def serve(options: dict[str, Any]) -> None:
    pool = (
        await asyncpg.create_pool(options["database_url"], min_size=1)
        if options.get("database_url")
        else None
    )
    processor: Processor = nothing if pool is None else by_hand(pool)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    worker = Worker(
        options["queue"],
        processor,
        {
            "autorun": False,
            "prefix": options["prefix"],
            "concurrency": options["concurrency"],
            "lockDuration": options["lock_duration_ms"],
            "stalledInterval": options["stalled_interval_ms"],
            "maxStalledCount": options["max_stalled_count"],
            "connection": connection_options(
                options["redis_url"], socket_timeout_s=options["socket_timeout_s"]
            ),
        },
    )
    task = asyncio.ensure_future(worker.run())
    print("ready", flush=True)
    await stop.wait()
    await worker.close()
    await task
    if pool is not None:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.argv[1])))
