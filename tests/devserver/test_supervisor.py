"""`areafetch dev`: migrations, web and worker as children, clean stop on Ctrl-C."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psutil

from tests.helpers import ProcessFactory, eventually, free_port, wait_healthy


async def test_dev_serves_healthz_processes_a_job_and_stops_cleanly_on_ctrl_c(
    env: dict[str, str], processes: ProcessFactory, tmp_path: Path
) -> None:
    port = free_port()
    started = time.monotonic()
    dev = processes.start(["dev", "--port", str(port), "--data-dir", str(tmp_path / "dev-data")], env)
    base_url = f"http://127.0.0.1:{port}"

    await wait_healthy(base_url, dev, timeout_s=60)
    assert time.monotonic() - started < 60
    children = psutil.Process(dev.pid).children(recursive=True)
    assert len(children) >= 2

    async with httpx.AsyncClient(base_url=base_url) as client:
        job_id = (await client.post("/api/jobs/test", json={"message": "dev"})).json()["job_id"]

        async def completed() -> bool:
            return bool((await client.get(f"/api/jobs/{job_id}")).json()["state"] == "completed")

        await eventually(completed, timeout_s=30, what="job completed in dev")

    async def two_workers() -> bool:
        return len(dev.events("worker.started")) == 2  # `areafetch worker --processes 2` under dev

    await eventually(two_workers, timeout_s=60, what="two worker processes in dev")
    children = psutil.Process(dev.pid).children(recursive=True)
    assert len(children) >= 4  # web, the workers' supervisor, two workers (and embedded servers, if any)

    dev.signal(signal.SIGINT)
    assert await dev.wait_exit(timeout_s=40) == 0
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
