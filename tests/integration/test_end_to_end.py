"""The story's acceptance test: web app and worker as separate processes, a test job over HTTP."""

from __future__ import annotations

import httpx

from areafetch.config import Settings
from tests.helpers import ProcessFactory, db_row, eventually


async def test_test_job_over_http_is_processed_by_the_worker_process(
    settings: Settings, env: dict[str, str], processes: ProcessFactory
) -> None:
    worker = await processes.worker(env)
    web, base_url = await processes.web(env)
    assert worker.pid != web.pid

    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/readyz")).json()["status"] == "ok"
        created = await client.post("/api/jobs/test", json={"message": "from the story"})
        assert created.status_code == 202
        job_id = created.json()["job_id"]

        async def completed() -> dict[str, object] | None:
            body: dict[str, object] = (await client.get(f"/api/jobs/{job_id}")).json()
            return body if body["state"] == "completed" else None

        job = await eventually(completed, timeout_s=30, what="job completed over HTTP")

    assert job["attempts_made"] == 1
    assert job["result"]["message"] == "from the story"  # type: ignore[index]
    row = await db_row(settings, job_id)
    assert row is not None
    assert row["payload"] == {"message": "from the story", "fail": False, "work_ms": 0, "cpu_ms": 0}
    line = await worker.wait_for_event("job.completed", job_id=job_id)
    assert line["name"] == "test"
    assert isinstance(line["duration_ms"], int)
