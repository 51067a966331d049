"""The worker process (the story's `worker/index.ts`), top to bottom.

`areafetch worker` → `run_worker`: open the shared resources (PostgreSQL engine, Redis
client, CPU process pool), wait until Redis answers, start one bullmq `Worker` per
queue inside the running loop, then wait for SIGTERM/SIGINT. Each job is validated
against its spec (an invalid payload fails at once, never retried), handed to its
processor, and logged on start, completion and failure with its duration. On a signal
the workers stop taking jobs, in-flight jobs get `shutdown_grace_s` to finish, then
they are force-closed (a second signal forces at once); connections close; exit 0.
Job outcomes and durations are counted in-process and published to Redis for the web app's
`/metrics` every few seconds and once more at shutdown (see `areafetch.metrics`).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from bullmq import FlowProducer, UnrecoverableError, Worker
from redis.asyncio import Redis
from redis.exceptions import RedisError

from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE
from areafetch.cpu import CpuPool
from areafetch.db import create_engine, open_driver_pool
from areafetch.errors import InvalidPayload, ServiceUnavailable
from areafetch.event_loop import running_loop_name
from areafetch.job_log import bound, job_log
from areafetch.jobs import JobSpec, find_spec
from areafetch.log import get_logger
from areafetch.metrics import MetricsPublisher, count_job
from areafetch.processors import PROCESSORS, JobContext, Resources
from areafetch.processors.reconcile import run_reconciler
from areafetch.processors.upstreams import open_upstreams
from areafetch.queue import Queues
from areafetch.queue.schedules import upsert_retention_schedule
from areafetch.queue.scripts import move_active_to_wait
from areafetch.redaction import redacted_url
from areafetch.redis import bullmq_connection, client_for
from areafetch.tracing import job_span

__all__ = ["WorkerProcess", "run_worker", "served_queues"]

log = get_logger("areafetch.worker")

BullmqProcessor = Callable[[Any, str], Awaitable[Any]]

# Imported by each CPU pool process when it starts: where an area's planning lives
# (`plan_fetch_units`, with the geometry libraries it imports), the job every area starts with.
_CPU_MODULES = ("areafetch.processors.plan", "areafetch.conflation.matcher")


def served_queues() -> tuple[str, ...]:
    """Every queue that has at least one processor."""
    return tuple(dict.fromkeys(spec.queue for spec in PROCESSORS))


async def run_worker(
    settings: Settings, *, concurrency: int | None = None, queues: Iterable[str] | None = None
) -> None:
    """Run a worker process until SIGTERM/SIGINT; returns after a clean shutdown."""
    process = WorkerProcess(settings, concurrency=concurrency, queues=queues)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, process.request_stop, signum)
    try:
        await process.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


class WorkerProcess:
    """One OS process serving one or more queues with bullmq Workers."""

    def __init__(
        self, settings: Settings, *, concurrency: int | None = None, queues: Iterable[str] | None = None
    ) -> None:
        self.settings = settings
        self.concurrency = concurrency or settings.worker_concurrency
        self.queue_names = tuple(queues or served_queues())
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._workers: list[Worker] = []
        self._log = log  # bound at the start of serving (`_serve`), once logging is configured

    # --- lifecycle ------------------------------------------------------------------------

    def request_stop(self, signum: int | None = None) -> None:
        """Signal handler: the first call stops gracefully, a second forces."""
        if self._stop.is_set():
            log.warning("worker.force_requested", signal=signum)
            self._force.set()
            return
        log.info("worker.stopping", signal=signum, grace_s=self.settings.shutdown_grace_s)
        self._stop.set()

    async def run(self) -> None:
        resources = await self._open_resources()
        publisher = MetricsPublisher(resources.redis, prefix=self.settings.queue_prefix, worker=self.name)
        try:
            if await self._wait_for_redis():
                await self._serve(resources, publisher)
        finally:
            if publisher.started:
                await publisher.stop()  # the last counts, jobs finished during the grace period included
            await self._close_resources(resources)
        log.info("worker.stopped", worker=self.name)

    async def _serve(self, resources: Resources, publisher: MetricsPublisher) -> None:
        """Take jobs until asked to stop, then let the ones in flight finish (or force them)."""
        await self._warm_up(resources)
        # structlog's advice for a hot logger: the module's is a proxy that assembles the logger anew
        # on every call; a bound one skips that (two lines per job).
        self._log = log.bind()
        gc.freeze()  # what starting made lives as long as the process: no collection scans it again
        if AREAS_QUEUE in self.queue_names:
            await self._schedule_retention()
        publisher.start()
        reconciler = asyncio.ensure_future(
            run_reconciler(self.settings, engine=resources.engine, redis=resources.redis, worker=self.name)
        )
        self._workers = [self._start_worker(name, resources) for name in self.queue_names]
        log.info(
            "worker.started",
            worker=self.name,
            queues=list(self.queue_names),
            concurrency=self.concurrency,
            loop=running_loop_name(),
            redis=redacted_url(self.settings.redis_url),
        )
        await self._stop.wait()
        reconciler.cancel()
        await self._close_workers(resources.redis)

    async def _open_resources(self) -> Resources:
        settings = self.settings
        driver_pool = await open_driver_pool(settings.database_url, max_size=self.concurrency)
        redis = client_for(settings)
        return Resources(
            settings=settings,
            engine=create_engine(settings.database_url, pool_size=settings.database_pool_size),
            driver_pool=driver_pool,
            redis=redis,
            cpu=CpuPool(settings.cpu_workers, preload=_CPU_MODULES, nice=settings.cpu_nice),
            upstreams=open_upstreams(settings, redis),
            flows=FlowProducer({"prefix": settings.queue_prefix, "connection": bullmq_connection(settings)}),
        )

    async def _wait_for_redis(self) -> bool:
        """Ping until Redis answers (it may start after us); False when stopped meanwhile.

        Pings once per try, with a client of its own: the shared one retries for about half a
        minute before it gives up, and the operator would see nothing until then."""
        probe = client_for(self.settings, retries=0)
        delay_s = 0.2
        try:
            while not self._stop.is_set():
                try:
                    await probe.ping()
                    return True
                except (RedisError, OSError) as exc:
                    log.warning("redis.unreachable", error=str(exc), retry_in_s=delay_s)
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=delay_s)
                except TimeoutError:
                    delay_s = min(delay_s * 2, 5.0)
            return False
        finally:
            await probe.aclose()

    async def _schedule_retention(self) -> None:
        queues = Queues(self.settings, connection_retries=1)
        try:
            await upsert_retention_schedule(queues)
        except ServiceUnavailable as exc:  # the next worker to start adds it
            log.warning("retention.not_scheduled", error=str(exc)[:300])
        finally:
            await queues.close()

    async def _warm_up(self, resources: Resources) -> None:
        """Start the CPU pool's processes and the first upstream connection's machinery now, so that
        the first jobs do not wait for them (an area's calls wait for its planning, and a late call
        can break the upstream's rate)."""
        started = time.perf_counter()
        await asyncio.gather(resources.cpu.start(), resources.upstreams.warm_up())
        log.info("worker.warmed_up", cpu_processes=resources.cpu.size, duration_ms=_elapsed_ms(started))

    def _start_worker(self, queue_name: str, resources: Resources) -> Worker:
        settings = self.settings
        worker = Worker(
            queue_name,
            self._processor_for(queue_name, resources),
            {
                "autorun": False,
                "name": self.name,
                "prefix": settings.queue_prefix,
                "concurrency": self.concurrency,
                "lockDuration": settings.lock_duration_ms,
                "stalledInterval": settings.stalled_interval_ms,
                "maxStalledCount": settings.max_stalled_count,
                "connection": bullmq_connection(settings),
            },
        )
        worker.on("error", lambda err, *_: log.warning("bullmq.error", queue=queue_name, error=repr(err)))
        worker.on("stalled", lambda job_id, *_: log.warning("job.stalled", queue=queue_name, job_id=job_id))
        task = asyncio.ensure_future(worker.run())
        task.add_done_callback(self._on_worker_exit)
        return worker

    def _on_worker_exit(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None and not self._stop.is_set():
            log.error("worker.crashed", error=repr(task.exception()))
            self._stop.set()

    async def _close_workers(self, redis: Redis) -> None:
        """Stop taking jobs; give in-flight ones the grace period (or until a second signal); then force
        and hand the interrupted jobs back to `wait` at once (not after their locks expire)."""
        closing = [asyncio.ensure_future(worker.close()) for worker in self._workers]
        all_closed: asyncio.Future[Any] = asyncio.gather(*closing, return_exceptions=True)
        forced: asyncio.Future[Any] = asyncio.ensure_future(self._force.wait())
        await asyncio.wait(
            [all_closed, forced], timeout=self.settings.shutdown_grace_s, return_when=asyncio.FIRST_COMPLETED
        )
        forced.cancel()
        if not all_closed.done():
            unfinished = [
                worker for worker, task in zip(self._workers, closing, strict=True) if not task.done()
            ]
            # Taken before close(force=True): once forced, bullmq neither completes nor fails these jobs.
            in_flight = [
                (queue_name, str(job.id), str(token))
                for queue_name, worker in zip(self.queue_names, self._workers, strict=True)
                if worker in unfinished
                for job, token in list(worker.jobs)
            ]
            log.warning("worker.force_closing", jobs_in_flight=len(in_flight))
            await asyncio.gather(*(worker.close(force=True) for worker in unfinished), return_exceptions=True)
            await self._hand_back(redis, in_flight)
        await all_closed

    async def _hand_back(self, redis: Redis, in_flight: list[tuple[str, str, str]]) -> None:
        """Move force-closed jobs from `active` back to `wait`, releasing our locks, so any worker takes
        them now; a job whose lock is no longer ours (it finished, or was taken over) is left alone.
        Its attempts are not counted: bullmq counts an attempt when a job completes or fails."""
        if not in_flight:
            return
        for queue_name, job_id, token in in_flight:
            try:
                moved = await move_active_to_wait(
                    redis, self.settings.queue_prefix, queue_name, job_id, token
                )
            except (RedisError, OSError) as exc:  # the lock expires; the stalled check recovers it
                log.warning("job.hand_back_failed", queue=queue_name, job_id=job_id, error=str(exc))
                continue
            if moved:
                log.info("job.handed_back", queue=queue_name, job_id=job_id)
            else:
                log.info("job.not_handed_back", queue=queue_name, job_id=job_id)

    async def _close_resources(self, resources: Resources) -> None:
        await resources.flows.close()
        await resources.upstreams.aclose()
        resources.cpu.close()
        await resources.engine.dispose()
        await resources.driver_pool.close()
        await resources.redis.aclose()

    # --- jobs -----------------------------------------------------------------------------

    def _processor_for(self, queue_name: str, resources: Resources) -> BullmqProcessor:
        # A partial, not a closure: every frame between bullmq and the processor is passed again each
        # time the job's awaits resume, a dozen times for a short job.
        return functools.partial(self._process_job, queue_name=queue_name, resources=resources)

    async def _process_job(self, job: Any, token: str, *, queue_name: str, resources: Resources) -> Any:
        attempt = int(job.attemptsMade) + 1
        fields = {"job_id": str(job.id), "queue": queue_name, "name": job.name, "attempt": attempt}
        started = time.perf_counter()
        # Every line logged while the job runs (processors, providers, the limiter) carries its ids.
        with job_span(job, queue_name, attempt), bound(job):
            self._log.info("job.started", **fields)
            if attempt > 1:
                await job_log(
                    f"attempt {attempt} of {job.opts.get('attempts') or 1}; the last: {job.failedReason}"
                )
            try:
                spec, work = self._start_work(job, queue_name, resources, attempt)
                result = spec.result_model.model_validate(await work).model_dump(mode="json")
            except asyncio.CancelledError:
                self._log.warning("job.interrupted", **fields, duration_ms=_elapsed_ms(started))
                raise
            except Exception as exc:
                final = isinstance(exc, UnrecoverableError) or attempt >= int(job.opts.get("attempts") or 1)
                count_job(queue_name, str(job.name), "failed" if final else "retried", _elapsed_s(started))
                self._log.warning(
                    "job.failed",
                    **fields,
                    duration_ms=_elapsed_ms(started),
                    error=str(exc) or type(exc).__name__,
                    will_retry=not final,
                )
                raise
            count_job(queue_name, str(job.name), "completed", _elapsed_s(started))
            self._log.info("job.completed", **fields, duration_ms=_elapsed_ms(started))
        return result

    def _start_work(
        self, job: Any, queue_name: str, resources: Resources, attempt: int
    ) -> tuple[JobSpec[Any, Any], Awaitable[Any]]:
        """The job's spec and its processor's work, not yet awaited (one frame fewer to resume)."""
        spec = find_spec(queue_name, str(job.name))
        processor = PROCESSORS.get(spec) if spec else None
        if spec is None or processor is None:
            raise UnrecoverableError(f"unknown job name {job.name!r} on queue {queue_name!r}")
        try:
            payload = spec.parse_payload(job.data)
        except InvalidPayload as exc:
            raise UnrecoverableError(str(exc)) from exc
        ctx = JobContext(
            resources=resources,
            job_id=str(job.id),
            queue=queue_name,
            name=spec.name,
            attempt=attempt,
            max_attempts=int(job.opts.get("attempts") or 1),
            bullmq_job=job,
        )
        return spec, processor(payload, ctx)


def _elapsed_s(started: float) -> float:
    return time.perf_counter() - started


def _elapsed_ms(started: float) -> int:
    return round(_elapsed_s(started) * 1000)
