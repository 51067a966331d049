"""A raw `bullmq` Python worker whose processor does nothing: the baseline of `bench.queue_overhead`.

Run as its own OS process by the benchmark; the worker options come as one JSON argument (the
same concurrency, lock duration, stalled check and Redis connection options as `areafetch worker`):

    python -m bench._bullmq_noop_worker '{"queue": ..., "prefix": ..., "redis_url": ..., ...}'

Prints ``ready`` once its Worker runs, and on SIGTERM closes it (letting in-flight jobs finish).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

from bullmq import Worker

from areafetch.redis import connection_options


async def nothing(job: Any, token: str) -> None:
    return None


async def serve(options: dict[str, Any]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    worker = Worker(
        options["queue"],
        nothing,
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


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.argv[1])))
