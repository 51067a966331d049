"""`areafetch worker --processes N`: the supervisor and its worker processes as real OS processes."""

from __future__ import annotations

import os
import signal
import sys
import time

import psutil
import pytest

from areafetch.jobs import TestJobPayload
from areafetch.queue import Queues, enqueue_test_job
from areafetch.supervisor import QUICK_DEATHS_LIMIT, Supervisor
from tests.helpers import ChildProcess, ProcessFactory, eventually, finished


async def started_workers(supervisor: ChildProcess, count: int) -> list[int]:
    """The pids of the supervisor's workers once `count` of them have logged worker.started."""

    async def probe() -> list[int] | None:
        names = {record["worker"] for record in supervisor.events("worker.started")}
        pids = sorted(int(name.rsplit(":", 1)[1]) for name in names)  # workers are named host:pid
        if len(pids) >= count:
            return pids
        if supervisor.proc.poll() is not None:
            raise AssertionError(f"supervisor exited ({supervisor.proc.returncode}):\n{supervisor.text()}")
        return None

    return await eventually(probe, timeout_s=60, what=f"{count} workers started")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_two_processes_serve_jobs_and_drain_on_sigterm(
    env: dict[str, str], processes: ProcessFactory, queues: Queues
) -> None:
    supervisor = await processes.worker(env, "--processes", "2", ready=False)
    pids = await started_workers(supervisor, 2)
    assert set(pids) == {child.pid for child in psutil.Process(supervisor.pid).children()}

    job_ids = [await enqueue_test_job(queues, TestJobPayload(message=f"m{n}")) for n in range(6)]
    for job_id in job_ids:
        job = await finished(queues, job_id)
        assert job.state == "completed"
        assert job.result["worker_pid"] in pids

    supervisor.signal(signal.SIGTERM)

    assert await supervisor.wait_exit(timeout_s=60) == 0
    assert all(gone(pid) for pid in pids)
    assert len(supervisor.events("worker.stopped")) == 2  # each drained, none killed
    assert not supervisor.events("supervisor.killing_worker")


async def test_a_worker_that_dies_is_replaced(env: dict[str, str], processes: ProcessFactory) -> None:
    supervisor = await processes.worker(env, "--processes", "2", ready=False)
    first, second = await started_workers(supervisor, 2)

    os.kill(first, signal.SIGKILL)

    pids = await started_workers(supervisor, 3)
    replacement = next(pid for pid in pids if pid not in (first, second))
    assert {child.pid for child in psutil.Process(supervisor.pid).children()} == {second, replacement}
    assert supervisor.events("supervisor.worker_exited", pid=first, code=-signal.SIGKILL)


async def test_kill_9_of_the_supervisor_leaves_no_orphan_worker(
    env: dict[str, str], processes: ProcessFactory
) -> None:
    supervisor = await processes.worker(env, "--processes", "2", ready=False)
    pids = await started_workers(supervisor, 2)

    os.kill(supervisor.pid, signal.SIGKILL)  # the supervisor only, not its process group

    async def all_gone() -> bool:
        return all(gone(pid) for pid in pids)

    await eventually(all_gone, timeout_s=60, what="workers exit after their supervisor was killed")
    assert len(supervisor.events("worker.stopped")) == 2  # they drained, as on SIGTERM


def test_workers_dying_at_once_stop_the_supervisor_with_exit_1(capfd: pytest.CaptureFixture[str]) -> None:
    command = [sys.executable, "-c", "raise SystemExit(3)"]  # a worker that cannot start
    started = time.monotonic()

    code = Supervisor(command, 2, grace_s=1).run()

    assert code == 1
    assert time.monotonic() - started < 60
    err = capfd.readouterr().err
    assert f"{QUICK_DEATHS_LIMIT} times in a row (last exit code 3)" in err
