"""Prometheus metrics: defined once, counted in-process, published by workers through Redis.

Every process counts in its own `REGISTRY` (in-process counters and histograms, no I/O on the
hot path). A worker process publishes a snapshot of it every `PUBLISH_INTERVAL_S` and at
shutdown, as one transaction:

    <prefix>:areafetch:metrics               SET of worker names that have published
    <prefix>:areafetch:metrics:<worker>      HASH  sample → value, expires after `SAMPLES_TTL_S`

The web app's `/metrics` reads the live workers' hashes (SMEMBERS, then one pipelined HGETALL;
names whose hash expired are dropped from the set) and `MergedCollector` merges them with its
own registry: samples with the same name and labels are summed, so counters add up across
workers and histograms add up bucket by bucket. A worker that stops publishing disappears from
the sums when its hash expires (Prometheus reads the drop as a counter reset).

Only counters and histograms are published; gauges would not mean anything summed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from redis.exceptions import RedisError

from areafetch import history
from areafetch.background import stop_task

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from prometheus_client.registry import Collector

__all__ = [
    "JOBS",
    "JOB_DURATION",
    "LIMITER_PAUSES",
    "LIMITER_WAIT",
    "PLACES_WRITTEN",
    "PUBLISH_INTERVAL_S",
    "REGISTRY",
    "SAMPLES_TTL_S",
    "UPSTREAM_CALLS",
    "MergedCollector",
    "MetricsPublisher",
    "WorkerSamples",
    "count_job",
    "count_upstream_call",
    "decode_samples",
    "encode_samples",
    "index_key",
    "read_worker_samples",
    "worker_key",
]

log = logging.getLogger(__name__)

PUBLISH_INTERVAL_S: Final = 5.0
"""How often a worker process writes its samples to Redis."""
SAMPLES_TTL_S: Final = 30
"""How long a worker's samples outlive its last write (six missed intervals)."""

_KEY_SUFFIX: Final = "areafetch:metrics"

REGISTRY: Final = CollectorRegistry(auto_describe=True)
"""The registry of areafetch's own metrics, in every process."""

_DURATION_BUCKETS_S: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_WAIT_BUCKETS_S: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

JOBS: Final = Counter(
    "areafetch_jobs",
    "Job attempts that ended, by queue, job name and outcome (completed, failed, retried).",
    ["queue", "name", "outcome"],
    registry=REGISTRY,
)
JOB_DURATION: Final = Histogram(
    "areafetch_job_duration_seconds",
    "Wall time of job attempts, by queue and job name.",
    ["queue", "name"],
    buckets=_DURATION_BUCKETS_S,
    registry=REGISTRY,
)
UPSTREAM_CALLS: Final = Counter(
    "areafetch_upstream_calls",
    "Requests sent to an upstream, by source and HTTP status code (or timeout/error without one).",
    ["source", "code"],
    registry=REGISTRY,
)
LIMITER_WAIT: Final = Histogram(
    "areafetch_limiter_wait_seconds",
    "Time from asking a limiter for a slot to being granted it, by limiter.",
    ["limiter"],
    buckets=_WAIT_BUCKETS_S,
    registry=REGISTRY,
)
LIMITER_PAUSES: Final = Counter(
    "areafetch_limiter_pauses",
    "Shared pauses set on a limiter (after a 429 or an overloaded upstream), by limiter.",
    ["limiter"],
    registry=REGISTRY,
)
PLACES_WRITTEN: Final = Counter(
    "areafetch_places_written",
    "Places stored for areas, by source.",
    ["source"],
    registry=REGISTRY,
)


def count_job(queue: str, name: str, outcome: str, duration_s: float) -> None:
    """Count one job attempt that ended (`completed`, `failed` or `retried`) after ``duration_s``."""
    jobs, durations = _job_children(queue, name, outcome)
    jobs.inc()
    durations.observe(duration_s)
    if outcome != "retried":
        history.count(history.jobs_series(queue, outcome))


@functools.cache
def _job_children(queue: str, name: str, outcome: str) -> tuple[Any, Any]:
    """The labelled counter and histogram of one kind of job ending: `labels()` validates and locks
    on every call, a measurable share of a short job's cost in the worker."""
    return JOBS.labels(queue, name, outcome), JOB_DURATION.labels(queue, name)


def count_upstream_call(source: str, code: int | str) -> None:
    """Count one request to ``source`` that ended with HTTP ``code`` (or ``"timeout"``/``"error"``)."""
    UPSTREAM_CALLS.labels(source, str(code)).inc()
    history.count(history.upstream_series(source))


# --- the wire format ----------------------------------------------------------------------------

# A sample as published: (family name, family type, sample name, sorted label pairs) → value.
SampleKey = tuple[str, str, str, tuple[tuple[str, str], ...]]


def _published(metric: Metric) -> bool:
    return metric.type in ("counter", "histogram")


def _is_created(sample_name: str) -> bool:
    # The `_created` timestamps would be nonsense summed; Prometheus does not need them.
    return sample_name.endswith("_created")


def encode_samples(registry: Collector) -> dict[str, str]:
    """The counter and histogram samples of ``registry`` as hash fields (JSON key → value)."""
    fields: dict[str, str] = {}
    for metric in registry.collect():
        if not _published(metric):
            continue
        for sample in metric.samples:
            if _is_created(sample.name):
                continue
            key = [metric.name, metric.type, sample.name, sorted(sample.labels.items())]
            fields[json.dumps(key, separators=(",", ":"))] = repr(float(sample.value))
    return fields


def decode_samples(fields: Mapping[str, str] | Mapping[bytes, bytes]) -> dict[SampleKey, float]:
    """The inverse of `encode_samples`; fields that do not parse are skipped."""
    samples: dict[SampleKey, float] = {}
    for raw_key, raw_value in fields.items():
        try:
            family, typ, name, labels = json.loads(raw_key)
            value = float(raw_value)
            pairs = tuple((str(k), str(v)) for k, v in labels)
        except (ValueError, TypeError):
            continue
        samples[(str(family), str(typ), str(name), pairs)] = value
    return samples


def index_key(prefix: str) -> str:
    """The set of worker names that published samples under the queue prefix ``prefix``."""
    return f"{prefix}:{_KEY_SUFFIX}"


def worker_key(prefix: str, worker: str) -> str:
    """The hash holding one worker's samples."""
    return f"{prefix}:{_KEY_SUFFIX}:{worker}"


# --- the worker side ------------------------------------------------------------------------------


class MetricsPublisher:
    """Writes this process's samples to Redis every ``interval_s``, and once more on `stop`.

    Args:
        redis: the worker's client.
        prefix: the queue prefix (``Settings.queue_prefix``).
        worker: the worker's name (``host:pid``), unique among live workers.
        registry: what to publish.
        interval_s: seconds between writes.
        ttl_s: how long the samples outlive the last write.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        worker: str,
        registry: Collector = REGISTRY,
        interval_s: float = PUBLISH_INTERVAL_S,
        ttl_s: int = SAMPLES_TTL_S,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._worker = worker
        self._registry = registry
        self._interval_s = interval_s
        self._ttl_s = ttl_s
        self._task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"metrics-publisher:{self._worker}")

    async def stop(self) -> None:
        """Stop the loop and publish the final counts."""
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task)
        await self.publish()

    async def publish(self) -> bool:
        """One write (a MULTI of DEL, HSET, EXPIRE, SADD); False, logged, when Redis is unreachable."""
        fields = encode_samples(self._registry)
        key = worker_key(self._prefix, self._worker)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                if fields:
                    pipe.hset(key, mapping=fields)  # type: ignore[arg-type]  # redis-py: invariant key type
                    pipe.expire(key, self._ttl_s)
                    pipe.sadd(index_key(self._prefix), self._worker)
                await pipe.execute()
            await history.flush(self._redis, self._prefix)
        except (RedisError, OSError) as exc:
            log.warning("metrics publish failed, retrying in %.0f s: %s", self._interval_s, exc)
            return False
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.publish()


# --- the web side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSamples:
    """One live worker's published samples."""

    worker: str
    samples: dict[SampleKey, float] = field(default_factory=dict)


async def read_worker_samples(redis: aioredis.Redis, prefix: str) -> list[WorkerSamples]:
    """The samples of every worker whose hash has not expired; expired names leave the index."""
    names = sorted(
        name.decode() if isinstance(name, bytes) else str(name)
        for name in await redis.smembers(index_key(prefix))
    )
    if not names:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(worker_key(prefix, name))
        replies: list[Mapping[bytes, bytes]] = await pipe.execute()
    gone = [name for name, fields in zip(names, replies, strict=True) if not fields]
    if gone:
        await redis.srem(index_key(prefix), *gone)
    return [
        WorkerSamples(name, decode_samples(fields))
        for name, fields in zip(names, replies, strict=True)
        if fields
    ]


class MergedCollector:
    """This process's registry and the workers' samples as one set of families, summed.

    Args:
        local: this process's registry (its counters and histograms are merged; the rest passes).
        workers: what `read_worker_samples` returned.
    """

    def __init__(self, local: Collector, workers: Sequence[WorkerSamples]) -> None:
        self._local = local
        self._workers = workers

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        passed: list[Metric] = []
        for metric in self._local.collect():
            if not _published(metric):
                passed.append(metric)
                continue
            families[metric.name] = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            into = values.setdefault(metric.name, {})
            for sample in metric.samples:
                if not _is_created(sample.name):
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    into[key] = into.get(key, 0.0) + sample.value
        for worker in self._workers:
            for (family, typ, name, labels), value in worker.samples.items():
                if family not in families:
                    families[family] = Metric(family, family, typ)
                elif families[family].type != typ:
                    continue  # a worker of another version; do not mix kinds
                into = values.setdefault(family, {})
                into[(name, labels)] = into.get((name, labels), 0.0) + value
        for name, metric in families.items():
            for (sample_name, labels), value in _ordered(metric.type, values.get(name, {})):
                metric.add_sample(sample_name, dict(labels), value)
            yield metric
        yield from passed
        reporting = GaugeMetricFamily(
            "areafetch_metrics_workers", "Worker processes whose published samples are merged in."
        )
        reporting.add_metric([], len(self._workers))
        yield reporting


def _ordered(
    typ: str, samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]
) -> Iterator[tuple[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """Histogram samples grouped per label set, buckets by ascending ``le``, then count and sum."""
    if typ != "histogram":
        yield from samples.items()
        return

    def order(item: tuple[tuple[str, tuple[tuple[str, str], ...]], float]) -> tuple[object, ...]:
        (name, labels), _ = item
        le = dict(labels).get("le")
        base = tuple(pair for pair in labels if pair[0] != "le")
        rank = 0 if le is not None else 1 if name.endswith("_count") else 2
        return (base, rank, float(le) if le is not None else 0.0, name)

    yield from sorted(samples.items(), key=order)
