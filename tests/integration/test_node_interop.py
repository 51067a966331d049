"""Node.js BullMQ 5.x producers and the Python worker: the example in `examples/node-producer/`,
installed from the npm registry, adds jobs to the test Redis while `areafetch worker` runs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from areafetch.areas import plan_job_id
from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE, TEST_JOB, TEST_QUEUE
from areafetch.db import create_engine
from areafetch.db.areas import get_area
from areafetch.jobs import find_spec
from tests.fakes.otlp_collector import OtlpCollector, ReceivedSpan
from tests.helpers import ProcessFactory, db_row, eventually, settings_env

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "node-producer"
CACHE = REPO / ".cache" / "node-producer"  # git-ignored: node_modules survive between runs


# The example pins BullMQ 5.x (the story's choice); the current major must interoperate too (with
# the bullmq-otel major made for it: 1.x asks for BullMQ 5, 2.x for 6).
CURRENT_MAJOR_BULLMQ = {"bullmq": "6.7.0", "bullmq-otel": "2.0.1"}


def _install(tmp_path_factory: pytest.TempPathFactory, *, versions: dict[str, str] | None = None) -> Path:
    """A copy of the example whose dependencies come from the npm registry (installed once, cached)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed to test Node.js interop (install Node.js 20+ with npm)")
    package = json.loads((EXAMPLE / "package.json").read_text())
    package["dependencies"].update(versions or {})
    manifest = json.dumps(package, indent=2).encode()
    installed = CACHE / hashlib.sha256(manifest).hexdigest()[:16]
    if not (installed / "node_modules" / "bullmq" / "package.json").exists():
        staging = CACHE / f"staging-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        (staging / "package.json").write_bytes(manifest)
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.fail(f"npm install failed in {staging}:\n{result.stdout}\n{result.stderr}")
        try:
            staging.rename(installed)  # atomic: a concurrent run installs its own copy and drops it
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    work = tmp_path_factory.mktemp("node-producer")
    shutil.copytree(EXAMPLE, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("node_modules"))
    (work / "package.json").write_bytes(manifest)
    (work / "node_modules").symlink_to(installed / "node_modules", target_is_directory=True)
    return work


@pytest.fixture(scope="module")
def node_producer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _install(tmp_path_factory)


@pytest.fixture(scope="module")
def node_producer_current_major(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _install(tmp_path_factory, versions=CURRENT_MAJOR_BULLMQ)


@dataclass
class NodeRun:
    code: int
    records: list[dict[str, Any]]
    stderr: str

    def one(self, event: str) -> dict[str, Any]:
        found = [record for record in self.records if record.get("event") == event]
        assert len(found) == 1, f"expected one {event!r} in {self.records}\nstderr: {self.stderr}"
        return found[0]

    def all(self, event: str) -> list[dict[str, Any]]:
        return [record for record in self.records if record.get("event") == event]


async def run_node(
    work: Path,
    settings: Settings,
    *args: str,
    stdin: str | None = None,
    api_url: str | None = None,
    api_token: str | None = None,
    traceparent: str | None = None,
) -> NodeRun:
    env = {
        **os.environ,
        **({"TRACEPARENT": traceparent} if traceparent else {}),
        "REDIS_URL": settings.redis_url,
        "QUEUE_PREFIX": settings.queue_prefix,
        "WAIT_TIMEOUT_MS": "60000",
    }
    if api_url:
        env["AREAFETCH_API_URL"] = api_url
    if api_token:
        env["AREAFETCH_API_TOKEN"] = api_token
    proc = await asyncio.create_subprocess_exec(
        "node",
        "src/run.js",
        *args,
        cwd=work,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), timeout=90)
    records = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return NodeRun(proc.returncode or 0, records, err.decode())


def _j(value: Any) -> str:
    return json.dumps(value)


async def test_test_job_from_node_completes_and_node_reads_the_result(
    node_producer: Path, settings: Settings, processes: ProcessFactory
) -> None:
    worker = await processes.worker(settings_env(settings))

    run = await run_node(
        node_producer, settings, "test", _j({"message": "from node", "work_ms": 100}), _j({"jobId": "node-1"})
    )

    assert run.code == 0, run.stderr
    assert run.one("added")["jobId"] == "node-1"  # a custom jobId works
    completed = run.one("completed")  # QueueEvents' completed event reached Node
    assert completed["returnvalue"]["message"] == "from node"  # BullMQ 5 parses it for the listener
    outcome = run.one("outcome")
    assert outcome["completed"] is True
    assert outcome["result"]["message"] == "from node"  # job.returnvalue, parsed by the Zod result schema
    assert outcome["result"]["worker_pid"] == worker.pid
    assert outcome["job"]["state"] == "completed"
    assert outcome["job"]["progress"] == 100
    assert [record["data"] for record in run.all("progress")] == [50, 100]
    row = await db_row(settings, "node-1")
    assert row is not None
    assert (row["runs"], row["queue"], row["payload"]) == (
        1,
        TEST_QUEUE,
        {"message": "from node", "fail": False, "work_ms": 100, "cpu_ms": 0},
    )
    assert worker.events("job.completed", job_id="node-1")


async def test_node_job_options_are_honoured_by_the_python_worker(
    node_producer: Path, settings: Settings, processes: ProcessFactory
) -> None:
    worker = await processes.worker(settings_env(settings))

    delayed, retried, prioritised, removed = await asyncio.gather(
        run_node(node_producer, settings, "test", _j({"message": "later"}), _j({"delay": 1500})),
        run_node(
            node_producer,
            settings,
            "test",
            _j({"message": "boom", "fail": True}),
            _j({"jobId": "node-retry", "attempts": 4, "backoff": {"type": "exponential", "delay": 200}}),
        ),
        run_node(node_producer, settings, "test", _j({"message": "urgent"}), _j({"priority": 5})),
        run_node(node_producer, settings, "test", _j({"message": "gone"}), _j({"removeOnComplete": True})),
    )

    job = delayed.one("outcome")["job"]
    assert delayed.code == 0, delayed.stderr
    assert job["opts"]["delay"] == 1500
    assert job["processedOn"] - job["timestamp"] >= 1500  # not processed before its delay

    assert retried.code == 1, retried.stderr
    failed = retried.one("outcome")["job"]
    assert (failed["state"], failed["attemptsMade"]) == ("failed", 4)
    assert failed["failedReason"] == "test job failed on purpose: boom"
    assert retried.one("failed")["failedReason"] == "test job failed on purpose: boom"
    starts = [record["timestamp"] for record in worker.events("job.started", job_id="node-retry")]
    assert len(starts) == 4
    gaps = [b - a for a, b in zip(_seconds(starts), _seconds(starts)[1:], strict=False)]
    assert gaps[0] >= 0.2
    assert gaps[1] >= 0.4
    assert gaps[2] >= 0.8

    assert prioritised.code == 0, prioritised.stderr
    assert prioritised.one("outcome")["job"]["opts"]["priority"] == 5

    assert removed.code == 0, removed.stderr
    assert removed.one("completed")  # seen completing, then removed at once
    assert removed.one("outcome")["job"] is None
    assert worker.proc.poll() is None


def _seconds(timestamps: list[str]) -> list[float]:
    return [datetime.fromisoformat(value).timestamp() for value in timestamps]


async def test_invalid_payload_from_node_fails_with_field_errors_and_the_worker_keeps_serving(
    node_producer: Path, settings: Settings, processes: ProcessFactory
) -> None:
    worker = await processes.worker(settings_env(settings))
    rejected = await run_node(node_producer, settings, "test", _j({"message": "", "extra": 1}))
    assert rejected.code == 2  # the Server Action's Zod check refuses it before Redis sees it
    assert set(rejected.one("added")["errors"]) >= {"message"}

    # A producer that skips validation (BullMQ's queue.add directly): the worker refuses it.
    run = await run_node(
        node_producer,
        settings,
        "raw",
        TEST_QUEUE,
        TEST_JOB,
        _j({"message": "", "work_ms": -1, "extra": 1}),
        _j({"jobId": "node-bad", "attempts": 5}),
    )

    assert run.code == 1, run.stderr
    job = run.one("outcome")["job"]
    assert (job["state"], job["attemptsMade"]) == ("failed", 1)  # no retries
    reason = job["failedReason"]
    assert reason.startswith("invalid test payload: ")
    assert "message: String should have at least 1 character" in reason
    assert "work_ms: Input should be greater than or equal to 0" in reason
    assert "extra: Extra inputs are not permitted" in reason
    assert run.one("failed")["failedReason"] == reason
    assert worker.proc.poll() is None
    after = await run_node(node_producer, settings, "test", _j({"message": "after"}))
    assert after.code == 0, after.stderr


async def test_current_bullmq_major_adds_jobs_the_worker_processes_too(
    node_producer_current_major: Path, settings: Settings, processes: ProcessFactory
) -> None:
    work = node_producer_current_major
    installed = json.loads((work / "node_modules" / "bullmq" / "package.json").read_text())
    assert installed["version"] == CURRENT_MAJOR_BULLMQ["bullmq"]
    worker = await processes.worker(settings_env(settings))

    ok, bad = await asyncio.gather(
        run_node(work, settings, "test", _j({"message": "bullmq 6"}), _j({"jobId": "six", "delay": 300})),
        run_node(work, settings, "raw", TEST_QUEUE, TEST_JOB, _j({"message": ""}), _j({"attempts": 3})),
    )

    assert ok.code == 0, ok.stderr
    assert ok.one("completed")["returnvalue"]["message"] == "bullmq 6"
    assert ok.one("outcome")["job"]["progress"] == 100
    assert await db_row(settings, "six") is not None
    assert bad.code == 1, bad.stderr
    job = bad.one("outcome")["job"]
    assert (job["attemptsMade"], job["failedReason"]) == (
        1,
        "invalid test payload: message: String should have at least 1 character",
    )
    assert worker.proc.poll() is None


async def test_area_created_by_node_through_the_api_is_planned_and_node_sees_the_plan(
    node_producer: Path, settings: Settings, processes: ProcessFactory, helsinki_pbf: Path
) -> None:
    token = "node-producer-" + uuid.uuid4().hex  # the API as deployed: writes need a bearer token
    area_settings = settings.model_copy(
        update={"osm_extract_path": helsinki_pbf, "api_tokens": SecretStr(token)}
    )
    env = settings_env(area_settings)
    await processes.worker(env)
    _, api_url = await processes.web(env)
    body = {
        "name": "node area",
        "bbox": [24.94, 60.166, 24.95, 60.175],
        "sources": ["osm_extract"],
        "categories": ["cafe"],
    }

    refused = await run_node(node_producer, settings, "area", _j(body), api_url=api_url)
    assert (refused.code, refused.one("created")["status"]) == (2, 401)

    run = await run_node(node_producer, settings, "area", _j(body), api_url=api_url, api_token=token)

    assert run.code == 0, run.stderr
    created = run.one("created")
    area_id = created["areaId"]
    assert created["jobId"] == plan_job_id(uuid.UUID(area_id))
    assert run.one("added")["jobId"] == created["jobId"]  # the same id: planned once
    outcome = run.one("outcome")
    assert outcome["result"]["tiles"] >= 1
    assert outcome["result"]["upstream_calls"] == {"osm_extract": 0}  # a local file, no calls
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            area = await get_area(conn, area_id=uuid.UUID(area_id))
    finally:
        await engine.dispose()
    assert area is not None
    assert area["state"] != "queued"
    assert area["name"] == "node area"


async def test_node_plan_job_for_a_bad_area_id_is_refused_by_zod(
    node_producer: Path, settings: Settings
) -> None:
    run = await run_node(node_producer, settings, "plan", "not-a-uuid")

    assert run.code == 2
    assert set(run.one("added")["errors"]) == {"area_id"}


# (queue, job name, data, accepted by both?) Zod is at least as strict as Pydantic: it refuses
# what Pydantic would coerce ("5" for an integer); those samples are listed as zod_stricter.
AGREED: list[tuple[str, str, dict[str, Any], bool]] = [
    (TEST_QUEUE, TEST_JOB, {"message": "hi"}, True),
    (TEST_QUEUE, TEST_JOB, {"message": "hi", "fail": True, "work_ms": 10, "cpu_ms": 600_000}, True),
    (TEST_QUEUE, TEST_JOB, {"message": "x" * 200}, True),
    (TEST_QUEUE, TEST_JOB, {"message": "x" * 201}, False),
    (TEST_QUEUE, TEST_JOB, {"message": ""}, False),
    (TEST_QUEUE, TEST_JOB, {}, False),
    (TEST_QUEUE, TEST_JOB, {"message": "hi", "extra": 1}, False),
    (TEST_QUEUE, TEST_JOB, {"message": "hi", "work_ms": -1}, False),
    (TEST_QUEUE, TEST_JOB, {"message": "hi", "cpu_ms": 600_001}, False),
    (TEST_QUEUE, TEST_JOB, {"message": "hi", "work_ms": 1.5}, False),
    (TEST_QUEUE, TEST_JOB, {"message": 5}, False),
    (AREAS_QUEUE, "plan", {"area_id": "7f1c2f0e-8a8b-4c0d-9e6f-2b1a3c4d5e6f"}, True),
    (AREAS_QUEUE, "plan", {"area_id": "nope"}, False),
    (AREAS_QUEUE, "plan", {}, False),
    (AREAS_QUEUE, "plan", {"area_id": "7f1c2f0e-8a8b-4c0d-9e6f-2b1a3c4d5e6f", "x": 1}, False),
    (AREAS_QUEUE, "finalise", {"area_id": "7f1c2f0e-8a8b-4c0d-9e6f-2b1a3c4d5e6f"}, True),
    (
        AREAS_QUEUE,
        "fetch",
        {"area_id": "7f1c2f0e-8a8b-4c0d-9e6f-2b1a3c4d5e6f", "source": "overpass", "tile_id": "t1"},
        True,
    ),
    (
        AREAS_QUEUE,
        "fetch",
        {"area_id": "7f1c2f0e-8a8b-4c0d-9e6f-2b1a3c4d5e6f", "source": "bing", "tile_id": "t1"},
        False,
    ),
    (
        AREAS_QUEUE,
        "fetch",
        {"area_id": "7f1c2f0e-8a8b-4c0d-9e6f-2b1a3c4d5e6f", "source": "overpass", "tile_id": ""},
        False,
    ),
]
ZOD_STRICTER: list[tuple[str, str, dict[str, Any]]] = [
    (TEST_QUEUE, TEST_JOB, {"message": "hi", "work_ms": "5"}),
    (TEST_QUEUE, TEST_JOB, {"message": "hi", "fail": "true"}),
    (AREAS_QUEUE, "plan", {"area_id": "7f1c2f0e8a8b4c0d9e6f2b1a3c4d5e6f"}),
]


def _pydantic_accepts(queue: str, name: str, data: dict[str, Any]) -> dict[str, Any] | None:
    spec = find_spec(queue, name)
    assert spec is not None
    try:
        return spec.dump_payload(spec.payload_model.model_validate(data))
    except ValidationError:
        return None


async def test_zod_schemas_accept_and_refuse_what_the_pydantic_models_do(
    node_producer: Path, settings: Settings
) -> None:
    samples = [{"queue": q, "name": n, "data": d} for q, n, d, _ in AGREED] + [
        {"queue": q, "name": n, "data": d} for q, n, d in ZOD_STRICTER
    ]

    run = await run_node(node_producer, settings, "validate", stdin=json.dumps(samples))

    assert run.code == 0, run.stderr
    verdicts = run.one("verdicts")["verdicts"]
    for (queue, name, data, accepted), verdict in zip(AGREED, verdicts, strict=False):
        python = _pydantic_accepts(queue, name, data)
        assert (python is not None, verdict["ok"]) == (accepted, accepted), (queue, name, data, verdict)
        if accepted:
            assert verdict["data"] == python  # the same defaults filled in
    for (queue, name, data), verdict in zip(ZOD_STRICTER, verdicts[len(AGREED) :], strict=True):
        assert _pydantic_accepts(queue, name, data) is not None
        assert verdict["ok"] is False, (queue, name, data)


def test_example_pins_exact_versions_and_commits_no_lockfile() -> None:
    manifest = json.loads((EXAMPLE / "package.json").read_text())
    versions = manifest["dependencies"]
    assert set(versions) == {
        "bullmq",
        "ioredis",
        "zod",
        # BullMQ's OpenTelemetry support, and what a traced request of the example runs in.
        "bullmq-otel",
        "@opentelemetry/api",
        "@opentelemetry/context-async-hooks",
        "@opentelemetry/core",
    }
    assert all(version[0].isdigit() for version in versions.values()), versions
    assert versions["bullmq"].startswith("5.")
    assert not (EXAMPLE / "package-lock.json").exists() or _ignored(EXAMPLE / "package-lock.json")


def _ignored(path: Path) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO, check=False).returncode == 0


async def test_a_job_added_by_node_bullmq_with_telemetry_continues_the_producer_trace(
    node_producer: Path, settings: Settings, processes: ProcessFactory
) -> None:
    """The example's Queue uses BullMQ's OpenTelemetry support (bullmq-otel): the job carries the
    trace it was added in, and the Python worker's span for it is a child of the producer's span."""
    trace_id, producer_span = secrets.token_hex(16), secrets.token_hex(8)
    with OtlpCollector.running() as collector:
        env = {
            **settings_env(settings),
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        await processes.worker(env)
        traceparent = f"00-{trace_id}-{producer_span}-01"
        run = await run_node(
            node_producer, settings, "test", _j({"message": "traced"}), traceparent=traceparent
        )
        assert run.code == 0, run.stderr
        job_id = run.one("added")["jobId"]

        async def job_span() -> ReceivedSpan | None:
            spans = [s for s in collector.spans() if s.name == f"process {TEST_QUEUE} test"]
            return next((s for s in spans if s.attributes.get("messaging.message.id") == job_id), None)

        span = await eventually(job_span, timeout_s=30, what="the worker's span of the node job")
    assert span.service == "areafetch-worker"
    assert span.trace_id == trace_id
    assert span.parent_span_id == producer_span
