"""Queue overhead: jobs per second through areafetch's worker against raw bullmq, Python and Node.js.

Three variants, each worker its own OS process, all on the local Redis with the same worker
settings (areafetch's defaults: concurrency, lock duration, stalled check) and the same job
options (attempts, backoff, removeOnComplete/removeOnFail, as `default_job_options`):

- ``areafetch``: ``areafetch worker --queue test-jobs``, serving test jobs with ``work_ms=0`` and
  ``cpu_ms=0``: the whole worker path (payload validation, structured logs, metrics, the test
  job's two progress updates and its row upserted into PostgreSQL, result validation).
  Jobs are added with areafetch's own ``enqueue_many`` (bullmq ``addBulk``).
- ``areafetch_quiet``: the same with ``AREAFETCH_LOG_LEVEL=WARNING``: no ``job.started`` and
  ``job.completed`` lines (failures are still logged), to show what the two lines per job cost.
- ``bullmq``: a raw `bullmq` Python Worker whose processor returns at once
  (`bench/_bullmq_noop_worker.py`); jobs added with ``Queue.addBulk``.
- ``by_hand``: a raw `bullmq` Python Worker doing the test job's work written by hand (progress
  50, the same row upserted with a prepared asyncpg statement, progress 100): the ratio against
  it is what areafetch's own path costs (validation, logging, metrics, SQLAlchemy), the ratio
  against the no-op what the whole job costs.
- ``node``: Node.js BullMQ 5 (from the npm registry, `bench/node/`), processor returns at once.

For 1, 2 and 4 worker processes per variant (areafetch's as ``areafetch worker --processes N``, one
supervisor and its N workers; the others N processes started side by side): all report ready, then in
each of ``ROUNDS`` rounds, variant after variant (the order rotating each round), the variant's
queue is paused, ``JOBS`` jobs are added (4,000; set ``AREAFETCH_BENCH_QUEUE_JOBS`` for more or
fewer: with 2,000 single rounds spread by ±7 %), the queue is resumed and the clock runs from the
resume to the last job's ``finishedOn`` (the newest score in the completed set: the bench polls every
100 ms only to see that the queue has drained, and costs the workers next to no CPU); no job may fail.
The worker processes' CPU time per job (user + system, from psutil) is recorded too: unlike
jobs/s, other load on the machine barely moves it. So is where the rest of the machine's CPU went
(Redis, PostgreSQL, the bench, the rest) and the share of both cores that was busy. A second worker
process can only use the time one process leaves idle, at no less CPU per job, so 1 / busy (with one
process) is the most two can reach over one on this machine: the "2-process ceiling". Figures are medians over the rounds; the
ratio areafetch / raw bullmq Python is taken per round (the two ran side by side) and its median
reported.

    python -m bench queue_overhead        (or: python -m bench.queue_overhead)

Set ``AREAFETCH_BENCH_PROFILE=DIR`` to run each areafetch worker under cProfile, counting CPU
time (`bench/_profiled.py`; one ``DIR/worker-<prefix>-<n>.prof`` each, written when it stops; N
processes are then started side by side, not under a supervisor).
Needs node and npm for the Node.js variant (installed once into ``.cache/bench-node/``); without
them that variant is skipped. Takes about 15 minutes on this 2-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg
import psutil
import redis
from bullmq import Queue
from sqlalchemy import func, select

from areafetch.config import Settings
from areafetch.constants import TEST_QUEUE
from areafetch.db import create_engine, test_job_runs
from areafetch.jobs import TEST_JOB_SPEC, TestJobPayload
from areafetch.queue import Queues, default_job_options, enqueue_many
from areafetch.redis import connection_options
from bench._infra import REDIS_URL, bench_database, delete_keys, plain_dsn
from bench._report import Figure, Report, at_least, save

PROFILE_DIR = os.environ.get("AREAFETCH_BENCH_PROFILE")

REPO = Path(__file__).resolve().parent.parent
NODE_SOURCE = Path(__file__).parent / "node"
NODE_CACHE = REPO / ".cache" / "bench-node"  # git-ignored; node_modules survive between runs

Variant = Literal["areafetch", "areafetch_quiet", "bullmq", "by_hand", "node"]
VARIANTS: tuple[Variant, ...] = ("areafetch", "areafetch_quiet", "bullmq", "by_hand", "node")
AREAFETCH_VARIANTS: tuple[Variant, ...] = ("areafetch", "areafetch_quiet")
LABELS = {
    "areafetch": "areafetch worker (test job)",
    "areafetch_quiet": "areafetch worker, log level WARNING",
    "bullmq": "raw bullmq Python, no-op",
    "by_hand": "raw bullmq Python, the test job's work by hand",
    "node": "Node.js BullMQ 5.81.5, no-op",
}
PROCESS_COUNTS = (1, 2, 4)
ROUNDS = 5
JOBS = int(os.environ.get("AREAFETCH_BENCH_QUEUE_JOBS", "4000"))
ADD_CHUNK = 1000
POLL_S = 0.1
READY_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 120.0
TARGET_RATIO = 0.9
TARGET_SCALING = 1.7


@dataclass(frozen=True)
class Setup:
    tag: str
    settings: Settings  # areafetch's, for the worker options and job options of every variant
    node_dir: Path | None
    logs: Path

    def prefix(self, variant: Variant, processes: int) -> str:
        return f"bq{self.tag}{VARIANTS.index(variant)}{processes}"


# --- worker processes ----------------------------------------------------------------------------


def _worker_options(setup: Setup, prefix: str) -> dict[str, Any]:
    settings = setup.settings
    return {
        "queue": TEST_QUEUE,
        "prefix": prefix,
        "redis_url": settings.redis_url,
        "socket_timeout_s": settings.redis_socket_timeout_s,
        "concurrency": settings.worker_concurrency,
        "lock_duration_ms": settings.lock_duration_ms,
        "stalled_interval_ms": settings.stalled_interval_ms,
        "max_stalled_count": settings.max_stalled_count,
    }


def _areafetch_env(setup: Setup, prefix: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AREAFETCH_")}
    settings = setup.settings
    env.update(
        AREAFETCH_REDIS_URL=settings.redis_url,
        AREAFETCH_DATABASE_URL=settings.database_url,
        AREAFETCH_QUEUE_PREFIX=prefix,
        AREAFETCH_WORKER_CONCURRENCY=str(settings.worker_concurrency),
        AREAFETCH_CPU_WORKERS="1",
        AREAFETCH_LOG_LEVEL="INFO",
        AREAFETCH_LOG_FORMAT="json",
    )
    return env


def _command(
    setup: Setup, variant: Variant, prefix: str, index: int, processes: int = 1
) -> tuple[list[str], dict[str, str], str | BullmqConnections]:
    """The command line, environment and ready marker of one worker process (for areafetch with
    ``processes`` > 1: of its supervisor, ``areafetch worker --processes N``)."""
    options = json.dumps(_worker_options(setup, prefix))
    if variant in AREAFETCH_VARIANTS:
        env = _areafetch_env(setup, prefix)
        if variant == "areafetch_quiet":
            env["AREAFETCH_LOG_LEVEL"] = "WARNING"
        worker = [sys.executable, "-m", "areafetch", "worker", "--queue", TEST_QUEUE]
        if processes > 1:
            worker += ["--processes", str(processes)]
        elif PROFILE_DIR:
            output = Path(PROFILE_DIR) / f"worker-{prefix}-{index}.prof"
            output.parent.mkdir(parents=True, exist_ok=True)
            worker = [sys.executable, "-m", "bench._profiled", str(output), "areafetch", *worker[3:]]
        # At WARNING the worker logs nothing when it starts: its bullmq connections say it is ready.
        return worker, env, '"worker.started"' if variant == "areafetch" else BullmqConnections(prefix)
    if variant in ("bullmq", "by_hand"):
        if variant == "by_hand":
            options = json.dumps(
                {**_worker_options(setup, prefix), "database_url": plain_dsn(setup.settings.database_url)}
            )
        return [sys.executable, "-m", "bench._bullmq_noop_worker", options], dict(os.environ), "ready"
    assert setup.node_dir is not None
    return ["node", str(setup.node_dir / "noop_worker.mjs"), options], dict(os.environ), "ready"


@dataclass(frozen=True)
class BullmqConnections:
    """The ready marker of a worker that logs nothing: its bullmq connections, named after its queue."""

    prefix: str

    def workers(self) -> int:
        """How many workers (distinct client names) are connected to the test queue."""
        name_prefix = f"{self.prefix}:{TEST_QUEUE}:w:"
        client = redis.Redis.from_url(REDIS_URL)
        try:
            return len({c["name"] for c in client.client_list() if c["name"].startswith(name_prefix)})
        finally:
            client.close()


def _process_cpu_s(process: psutil.Process) -> float:
    """User + system CPU seconds one process has used so far."""
    user, system = process.cpu_times()[:2]
    return float(user + system)


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    marker: str | BullmqConnections
    workers: int = 1  # worker processes it runs (a supervisor's children each log the marker)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.proc.args!r} exited early:\n{self.log_path.read_text()[-3000:]}")
        if isinstance(self.marker, BullmqConnections):
            return self.marker.workers() >= self.workers
        return self.log_path.read_text().count(self.marker) >= self.workers

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far by the process and its children (a supervisor's
        workers, a worker's CPU pool)."""
        parent = psutil.Process(self.proc.pid)
        return sum(_process_cpu_s(p) for p in (parent, *parent.children(recursive=True)))


@contextlib.contextmanager
def worker_processes(setup: Setup, variant: Variant, processes: int) -> Iterator[list[WorkerProcess]]:
    """Start ``processes`` workers of ``variant`` on its own prefix; SIGTERM them all at the end."""
    prefix = setup.prefix(variant, processes)
    supervised = variant in AREAFETCH_VARIANTS and not PROFILE_DIR
    started: list[WorkerProcess] = []
    try:
        for index in range(1 if supervised else processes):
            args, env, marker = _command(setup, variant, prefix, index, processes if supervised else 1)
            log_path = setup.logs / f"{prefix}-{index}.log"
            with log_path.open("wb") as log_file:
                proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT)
            started.append(WorkerProcess(proc, log_path, marker, processes if supervised else 1))
        yield started
    finally:
        for worker in started:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        for worker in started:
            try:
                worker.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()


def wait_ready(workers: list[WorkerProcess]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all(worker.ready() for worker in workers):
        if time.monotonic() > deadline:
            raise RuntimeError("workers not ready in time")
        time.sleep(0.05)


# --- one timed batch -----------------------------------------------------------------------------


def _payload(round_no: int, index: int) -> TestJobPayload:
    return TestJobPayload(message=f"bench {round_no}.{index}")


async def _add_jobs(setup: Setup, variant: Variant, prefix: str, queue: Queue, round_no: int) -> None:
    payloads = [_payload(round_no, index) for index in range(JOBS)]
    if variant in AREAFETCH_VARIANTS:
        queues = Queues(setup.settings.model_copy(update={"queue_prefix": prefix}))
        try:
            for start in range(0, JOBS, ADD_CHUNK):
                await enqueue_many(queues, TEST_JOB_SPEC, payloads[start : start + ADD_CHUNK])
        finally:
            await queues.close()
        return
    for start in range(0, JOBS, ADD_CHUNK):
        chunk = payloads[start : start + ADD_CHUNK]
        await queue.addBulk(
            [
                {
                    "name": TEST_JOB_SPEC.name,
                    "data": payload.model_dump(mode="json"),
                    "opts": {"jobId": uuid.uuid4().hex},
                }
                for payload in chunk
            ]
        )


async def _unfinished(queue: Queue) -> tuple[int, int]:
    """(jobs waiting, paused, prioritized, delayed or active; jobs failed), read in one transaction."""
    keys = queue.keys
    async with queue.client.pipeline(transaction=True) as pipe:
        pipe.llen(keys["wait"]).llen(keys["paused"]).llen(keys["active"])
        pipe.zcard(keys["prioritized"]).zcard(keys["delayed"]).zcard(keys["failed"])
        *pending, failed = await pipe.execute()
    return sum(pending), failed


def _busy_cpu_s(times: Any) -> float:
    """All cores' non-idle seconds in a `psutil.cpu_times()` reading, as `psutil.cpu_percent` counts
    them (guest time is already in user and nice: counted once)."""
    total = sum(times) - getattr(times, "guest", 0) - getattr(times, "guest_nice", 0)
    return float(total - times.idle - times.iowait)


@dataclass(frozen=True)
class Servers:
    """The local Redis and PostgreSQL server processes, whose CPU time each batch splits out."""

    redis: psutil.Process
    postmaster: psutil.Process

    @classmethod
    async def find(cls, settings: Settings) -> Servers:
        """The Redis server (INFO's process_id) and the PostgreSQL postmaster (the parent of a
        backend) of ``settings``; both must run on this machine."""
        client = redis.Redis.from_url(settings.redis_url)
        try:
            redis_pid = int(client.info("server")["process_id"])
        finally:
            client.close()
        conn = await asyncpg.connect(plain_dsn(settings.database_url))
        try:  # the backend ends with the connection: ask for its parent first
            postmaster = psutil.Process(int(await conn.fetchval("SELECT pg_backend_pid()"))).parent()
        finally:
            await conn.close()
        if postmaster is None:
            raise RuntimeError("PostgreSQL's postmaster not found: the benchmark needs a local server")
        return cls(psutil.Process(redis_pid), postmaster)

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds so far: Redis, and PostgreSQL's postmaster with every backend, live or ended."""
        postmaster = self.postmaster.cpu_times()
        backends = 0.0
        for backend in self.postmaster.children():
            with contextlib.suppress(psutil.NoSuchProcess):
                backends += _process_cpu_s(backend)
        postgres = sum(postmaster[:4]) + backends  # user, system, and ended children's user, system
        return {"redis": _process_cpu_s(self.redis), "postgres": postgres}


def _cpu_reading(workers: list[WorkerProcess], servers: Servers) -> dict[str, float]:
    """CPU seconds so far: the machine (all cores, busy), the workers, Redis, PostgreSQL, the bench."""
    return {
        "machine": _busy_cpu_s(psutil.cpu_times()),
        "workers": sum(worker.cpu_s() for worker in workers),
        **servers.cpu_s(),
        "bench": _process_cpu_s(psutil.Process()),
    }


CPU_PARTS = ("workers", "redis", "postgres", "bench", "rest")


@dataclass(frozen=True)
class Batch:
    jobs_per_s: float
    machine_busy: float  # share of all cores busy during the batch (workers, Redis, PostgreSQL, this)
    cpu_ms_per_job: dict[str, float]  # the busy cores' time by whom: CPU_PARTS and "machine"

    def row(self) -> dict[str, float]:
        split = {f"{part}_cpu_ms": ms for part, ms in self.cpu_ms_per_job.items()}
        return {"jobs_per_s": self.jobs_per_s, "machine_busy": self.machine_busy, **split}

    def split(self) -> str:
        return ", ".join(f"{part} {self.cpu_ms_per_job[part]:.3f}" for part in CPU_PARTS)


async def _last_finished_s(queue: Queue) -> float:
    """When the newest completed job finished (epoch seconds, the worker's clock: this machine's)."""
    newest = await queue.client.zrevrange(queue.keys["completed"], 0, 0, withscores=True)
    if not newest:
        raise RuntimeError("no completed job: the batch cannot be timed")
    return float(newest[0][1]) / 1000


async def run_batch(
    setup: Setup, variant: Variant, workers: list[WorkerProcess], servers: Servers, round_no: int
) -> Batch:
    """Add ``JOBS`` jobs to the paused queue, resume it, time until the last is done: jobs/s, the
    worker processes' CPU time per job (which load from other processes does not inflate) and where
    the machine's CPU went."""
    processes = sum(worker.workers for worker in workers)
    prefix = setup.prefix(variant, processes)
    options = {
        "prefix": prefix,
        "connection": connection_options(setup.settings.redis_url, socket_timeout_s=30),
        "defaultJobOptions": default_job_options(setup.settings),
    }
    queue = Queue(TEST_QUEUE, options)
    try:
        await queue.pause()
        await _add_jobs(setup, variant, prefix, queue, round_no)
        if (await _unfinished(queue))[0] != JOBS:
            raise RuntimeError(f"{variant}: expected {JOBS} jobs queued")
        before = _cpu_reading(workers, servers)
        await queue.resume()
        started = time.time()
        deadline = time.perf_counter() + DRAIN_TIMEOUT_S
        while (pending := await _unfinished(queue))[0]:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{variant}: {pending[0]} jobs unfinished after {DRAIN_TIMEOUT_S} s")
            await asyncio.sleep(POLL_S)
        after = _cpu_reading(workers, servers)
        if pending[1]:
            raise RuntimeError(f"{variant}: {pending[1]} jobs failed")
        elapsed = await _last_finished_s(queue) - started
        used = {part: after[part] - before[part] for part in after}
        used["rest"] = used["machine"] - sum(used[part] for part in CPU_PARTS[:-1])
        per_job = {part: seconds * 1000 / JOBS for part, seconds in used.items()}
        busy = used["machine"] / ((psutil.cpu_count() or 1) * elapsed)
        return Batch(JOBS / elapsed, busy, per_job)
    finally:
        await queue.close()


# --- setup and teardown --------------------------------------------------------------------------


def install_node() -> Path | None:
    """`bench/node/` with its dependencies from the npm registry (installed once, cached)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        print("node/npm not found: the Node.js variant is skipped", file=sys.stderr)
        return None
    manifest = (NODE_SOURCE / "package.json").read_bytes()
    installed = NODE_CACHE / hashlib.sha256(manifest).hexdigest()[:16]
    if not (installed / "node_modules" / "bullmq" / "package.json").exists():
        staging = NODE_CACHE / f"staging-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        (staging / "package.json").write_bytes(manifest)
        subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=staging, check=True, timeout=300)
        try:
            staging.rename(installed)
        except OSError:  # a concurrent run installed it first
            shutil.rmtree(staging, ignore_errors=True)
    shutil.copy2(NODE_SOURCE / "noop_worker.mjs", installed / "noop_worker.mjs")  # resolves bullmq there
    return installed


async def _recorded_runs(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            count = select(func.count()).where(test_job_runs.c.name == TEST_JOB_SPEC.name)
            return int(await conn.scalar(count) or 0)
    finally:
        await engine.dispose()


# --- the run -------------------------------------------------------------------------------------


def measure(setup: Setup, variants: tuple[Variant, ...]) -> list[dict[str, Any]]:
    """One row per (variant, process count, round): jobs/s and worker CPU ms per job."""
    rows: list[dict[str, Any]] = []
    servers = asyncio.run(Servers.find(setup.settings))
    for processes in PROCESS_COUNTS:
        with contextlib.ExitStack() as stack:
            pools = {v: stack.enter_context(worker_processes(setup, v, processes)) for v in variants}
            for workers in pools.values():
                wait_ready(workers)
            for round_no in range(ROUNDS):
                shift = round_no % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    batch = asyncio.run(run_batch(setup, variant, pools[variant], servers, round_no))
                    rows.append(
                        {"variant": variant, "processes": processes, "round": round_no, **batch.row()}
                    )
                    print(
                        f"  {processes} process(es), round {round_no + 1}, {variant}: "
                        f"{batch.jobs_per_s:,.0f} jobs/s, machine {batch.machine_busy:.0%} busy, "
                        f"CPU ms/job: {batch.split()}",
                        flush=True,
                    )
    return rows


def _by_round(rows: list[dict[str, Any]], variant: Variant, processes: int, key: str) -> dict[int, float]:
    return {r["round"]: r[key] for r in rows if r["variant"] == variant and r["processes"] == processes}


def _per_round(ours: dict[int, float], theirs: dict[int, float]) -> list[float]:
    """The ratio of two variants' figures in each round (they ran side by side)."""
    return [ours[n] / theirs[n] for n in sorted(ours)]


def summarise(rows: list[dict[str, Any]], variants: tuple[Variant, ...]) -> list[dict[str, Any]]:
    """Per process count: median jobs/s and CPU ms/job of each variant, the median per-round ratio."""
    summary = []
    for processes in PROCESS_COUNTS:
        ours = _by_round(rows, "areafetch", processes, "jobs_per_s")
        noop = _by_round(rows, "bullmq", processes, "jobs_per_s")
        by_hand = _by_round(rows, "by_hand", processes, "jobs_per_s")
        quiet = _by_round(rows, "areafetch_quiet", processes, "jobs_per_s")
        ratios, path_ratios = _per_round(ours, noop), _per_round(ours, by_hand)
        quiet_ratios = _per_round(quiet, by_hand)
        entry: dict[str, Any] = {
            "processes": processes,
            "ratio": statistics.median(ratios),
            "ratios": ratios,
            "path_ratio": statistics.median(path_ratios),
            "path_ratios": path_ratios,
            "quiet_path_ratio": statistics.median(quiet_ratios),
            "quiet_path_ratios": quiet_ratios,
        }
        for v in variants:
            entry[v] = statistics.median(_by_round(rows, v, processes, "jobs_per_s").values())
            entry[f"{v}_busy"] = statistics.median(_by_round(rows, v, processes, "machine_busy").values())
            for part in (*CPU_PARTS, "machine"):
                key = f"{part}_cpu_ms"
                entry[f"{v}_{key}"] = statistics.median(_by_round(rows, v, processes, key).values())
        summary.append(entry)
    return summary


def scaling(summary: list[dict[str, Any]], variant: Variant) -> float:
    """Median jobs/s of ``variant`` with 2 worker processes over that with 1."""
    by_processes = {entry["processes"]: entry[variant] for entry in summary}
    return float(by_processes[2] / by_processes[1])


def ceiling(summary: list[dict[str, Any]], variant: Variant) -> float:
    """The most jobs/s two processes can reach over one: one process left 1 - busy of the machine idle."""
    return float(1 / summary[0][f"{variant}_busy"])


def table(summary: list[dict[str, Any]], variants: tuple[Variant, ...]) -> str:
    header = " | ".join(f"{LABELS[v]}: jobs/s (CPU ms/job)" for v in variants)
    lines = [
        f"{JOBS:,} jobs per batch, {ROUNDS} rounds (median), concurrency {Settings().worker_concurrency} per "
        "process; CPU ms/job = the worker processes' user+system CPU over the batch / jobs; "
        "ratios = areafetch / the raw bullmq Python worker's jobs/s, per round, median:",
        "",
        f"| worker processes | {header} | areafetch / no-op (per round) | areafetch / by hand (per round) "
        "| areafetch at WARNING / by hand (per round) |",
        "| ---: | " + " | ".join("---:" for _ in variants) + " | ---: | ---: | ---: |",
    ]
    for entry in summary:
        cells = " | ".join(f"{entry[v]:,.0f} ({entry[f'{v}_workers_cpu_ms']:.2f})" for v in variants)
        noop = ", ".join(f"{ratio:.2f}" for ratio in entry["ratios"])
        by_hand = ", ".join(f"{ratio:.2f}" for ratio in entry["path_ratios"])
        quiet = ", ".join(f"{ratio:.2f}" for ratio in entry["quiet_path_ratios"])
        lines.append(
            f"| {entry['processes']} | {cells} | {entry['ratio']:.3f} ({noop}) | {entry['path_ratio']:.3f} ({by_hand}) "
            f"| {entry['quiet_path_ratio']:.3f} ({quiet}) |"
        )
    lines += [
        "",
        "Two worker processes against one (areafetch: `areafetch worker --processes 2`, one supervisor); "
        "machine busy = the share of both cores' time not idle during the batch (median), whoever used it; "
        "2-process ceiling = 1 / machine busy with 1 process (a second process can only use the idle "
        "time, at the same CPU per job):",
        "",
        "| variant | jobs/s, 2 processes / 1 | machine busy, 1 process | 2-process ceiling | machine busy, 2 processes |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    one, two = summary[0], summary[1]
    for v in variants:
        lines.append(
            f"| {LABELS[v]} | {scaling(summary, v):.2f} | {one[f'{v}_busy']:.0%} | {ceiling(summary, v):.2f} "
            f"| {two[f'{v}_busy']:.0%} |"
        )
    lines += [
        "",
        "Where the machine's CPU went, ms per job (median): the worker processes, the Redis server, "
        "PostgreSQL (postmaster and backends), this benchmark (producer and poller, mostly idle while "
        "timing), the rest of the machine; machine = all busy cores' time / jobs:",
        "",
        "| variant | processes | " + " | ".join(CPU_PARTS) + " | machine |",
        "| --- | ---: | " + " | ".join("---:" for _ in CPU_PARTS) + " | ---: |",
    ]
    for entry in summary:
        for v in variants:
            cells = " | ".join(f"{entry[f'{v}_{part}_cpu_ms']:.3f}" for part in (*CPU_PARTS, "machine"))
            lines.append(f"| {LABELS[v]} | {entry['processes']} | {cells} |")
    return "\n".join(lines)


def figures(summary: list[dict[str, Any]], variants: tuple[Variant, ...]) -> list[Figure]:
    result = [
        at_least(
            f"areafetch test job / raw bullmq Python no-op, {e['processes']} process(es)",
            e["ratio"],
            TARGET_RATIO,
        )
        for e in summary
    ]
    result += [
        at_least(
            f"areafetch test job / raw bullmq Python doing its work by hand, {e['processes']} process(es)",
            e["path_ratio"],
            TARGET_RATIO,
        )
        for e in summary
    ]
    result += [
        Figure(
            f"areafetch at log level WARNING (no per-job lines) / by hand, {e['processes']} process(es)",
            e["quiet_path_ratio"],
            "ratio",
        )
        for e in summary
    ]
    result.append(
        at_least(
            "areafetch jobs/s, --processes 2 / --processes 1", scaling(summary, "areafetch"), TARGET_SCALING
        )
    )
    result.append(
        Figure(
            "2-process ceiling on this machine (1 / machine busy with 1 process)",
            ceiling(summary, "areafetch"),
            "ratio",
        )
    )
    one = summary[0]
    result += [Figure(f"{LABELS[v]}, 1 process", one[v], "jobs/s") for v in variants]
    result += [
        Figure(f"machine busy with areafetch, {e['processes']} process(es)", e["areafetch_busy"] * 100, "%")
        for e in summary
    ]
    return result


def main() -> Report:
    tag = uuid.uuid4().hex[:10]
    node_dir = install_node()
    variants = VARIANTS if node_dir is not None else tuple(v for v in VARIANTS if v != "node")
    with bench_database() as database_url, tempfile.TemporaryDirectory(prefix="bench-queue-") as logs:
        settings = Settings(redis_url=REDIS_URL, database_url=database_url)
        setup = Setup(tag, settings, node_dir, Path(logs))
        try:
            rows = measure(setup, variants)
            recorded = asyncio.run(_recorded_runs(database_url))
        finally:
            delete_keys(REDIS_URL, f"bq{tag}*")
    expected = JOBS * ROUNDS * len(PROCESS_COUNTS) * len(set(variants) & set(AREAFETCH_VARIANTS))
    if recorded != expected:
        raise RuntimeError(f"areafetch recorded {recorded} test job runs, expected {expected}")
    summary = summarise(rows, variants)
    markdown = table(summary, variants)
    print(markdown)
    data = {"jobs_per_batch": JOBS, "rounds": ROUNDS, "rows": rows, "summary": summary}
    return save(Report("queue_overhead", "Queue overhead", figures(summary, variants), markdown, data))


if __name__ == "__main__":
    main()
