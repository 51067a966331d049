"""Test helpers: run `areafetch` as child processes, read their JSON logs, await conditions."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr

from areafetch.config import Settings
from areafetch.db import create_engine, get_test_job_run
from areafetch.db.engine import async_url
from areafetch.queue import JobPublic, Queues, find_job
from areafetch.web.app import create_app

T = TypeVar("T")

ADMIN_DATABASE_URL = os.environ.get(
    "AREAFETCH_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("AREAFETCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def dsn(database_url: str) -> str:
    """The database URL as asyncpg takes it."""
    return async_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a child process needs to build the same Settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AREAFETCH_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, tuple):  # a list setting (AREAFETCH_OVERPASS_URLS) is comma-separated
            value = ",".join(str(item) for item in value)
        if isinstance(value, dict):
            value = json.dumps(value)  # how pydantic-settings reads a dict setting (AREAFETCH_GOOGLE_PRICES)
        env[f"AREAFETCH_{name.upper()}"] = str(value)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout_s: float, interval_s: float = 0.05, what: str = ""
) -> T:
    """Await `probe()` until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or probe}")
        await asyncio.sleep(interval_s)


async def wait_healthy(base_url: str, child: ChildProcess, *, timeout_s: float) -> None:
    """Await `/healthz` answering 200 from the web app `child` serves (fails if it exits)."""

    async def healthy() -> bool:
        if child.proc.poll() is not None:
            raise AssertionError(f"{child.args} exited early:\n{child.text()}")
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{base_url}/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(healthy, timeout_s=timeout_s, interval_s=0.1, what=f"{base_url}/healthz")


_PROBLEM_LEVELS = ("warning", "error", "critical")


class ChildProcess:
    """An `areafetch` command running as its own OS process, its stderr/stdout in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self._log_file = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "areafetch", *args],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        """The JSON log lines (optionally only those with this event and these fields)."""
        found = []
        for line in self.text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            if event is not None and record.get("event") != event:
                continue
            if all(record.get(key) == value for key, value in match.items()):
                found.append(record)
        return found

    async def wait_for_event(self, event: str, *, timeout_s: float = 30, **match: Any) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            if self.proc.poll() is not None and not self.events(event, **match):
                raise AssertionError(
                    f"{self.args} exited ({self.proc.returncode}) before {event}:\n{self.text()}"
                )
            records = self.events(event, **match)
            return records[0] if records else None

        return await eventually(probe, timeout_s=timeout_s, what=f"{event} {match} in {self.args}")

    def problems(self, last: int = 30) -> str:
        """Its last warning and error lines; the end of its output when it logged none."""
        lines = [json.dumps(record) for record in self.events() if record.get("level") in _PROBLEM_LEVELS]
        return "\n".join(lines[-last:] or self.text().splitlines()[-last:])

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    async def wait_exit(self, timeout_s: float = 30) -> int:
        code = await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout=timeout_s)
        self._log_file.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._log_file.close()


class ProcessFactory:
    """Starts worker and web processes for a test and kills any left running."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.children: list[ChildProcess] = []

    def start(self, args: list[str], env: dict[str, str]) -> ChildProcess:
        log_path = self.tmp_path / f"{args[0]}-{len(self.children)}.log"
        child = ChildProcess(args, env, log_path)
        self.children.append(child)
        return child

    async def worker(self, env: dict[str, str], *args: str, ready: bool = True) -> ChildProcess:
        child = self.start(["worker", *args], env)
        if ready:
            await child.wait_for_event("worker.started")
        return child

    async def web(self, env: dict[str, str]) -> tuple[ChildProcess, str]:
        port = free_port()
        child = self.start(["web", "--host", "127.0.0.1", "--port", str(port)], env)
        base_url = f"http://127.0.0.1:{port}"
        await wait_healthy(base_url, child, timeout_s=30)
        return child, base_url

    def report_sections(self) -> list[tuple[str, str]]:
        """For a failed test's report: what each child logged that went wrong."""
        return [
            (f"{child.log_path.name} (pid {child.pid}): warnings and errors", child.problems())
            for child in self.children
        ]

    def kill_all(self) -> None:
        for child in self.children:
            child.kill()


@contextlib.asynccontextmanager
async def area_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The web app in this process (its lifespan running) and a client for it."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        yield client


# --- jobs and services ------------------------------------------------------------------------


async def finished(queues: Queues, job_id: str, *, timeout_s: float = 30) -> JobPublic:
    async def probe() -> JobPublic | None:
        job = await find_job(queues, job_id)
        return job if job and job.state in {"completed", "failed"} else None

    return await eventually(probe, timeout_s=timeout_s, what=f"job {job_id} to finish")


async def in_state(queues: Queues, job_id: str, state: str, *, timeout_s: float = 30) -> JobPublic:
    async def probe() -> JobPublic | None:
        job = await find_job(queues, job_id)
        return job if job and job.state == state else None

    return await eventually(probe, timeout_s=timeout_s, what=f"job {job_id} to be {state}")


async def db_row(settings: Settings, job_id: str) -> dict[str, object] | None:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            return await get_test_job_run(conn, job_id=job_id)
    finally:
        await engine.dispose()


class RedisServer:
    """A redis-server of this test's own, with AOF persistence as in docker-compose."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for this test"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while (
            subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout
            != b"PONG\n"
        ):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class PostgresServer:
    """A throwaway PostgreSQL of this test's own (run as the `postgres` user: it refuses root)."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not binaries or shutil.which("runuser") is None:
            pytest.skip("needs PostgreSQL server binaries and runuser")
        self.bin = Path(binaries[-1]).parent
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="areafetch-pg-"))
        self.data = self.tmp / "data"
        shutil.chown(self.tmp, "postgres", "postgres")
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/areafetch"

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / tool), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.tmp} -c fsync=off"
        self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.tmp / "log"), "-w", "start"
        )

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.tmp, ignore_errors=True)
