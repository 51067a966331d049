"""OpenTelemetry traces: where an area's time goes (queue, limiter wait, upstream, database).

Off unless the standard variables ask for it: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, or `OTEL_TRACES_EXPORTER=otlp|console`;
`OTEL_TRACES_EXPORTER=none` turns it off whatever else is set. Spans go out over OTLP/HTTP
(protobuf); the exporter, batch processor and sampler read their own standard variables
(`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_TRACES_SAMPLER`, ...), and
`OTEL_SERVICE_NAME` names the service (default `areafetch-web` / `areafetch-worker`).

The web app's request spans are FastAPI's own (it uses the global tracer provider set here). A
job carries the trace of whoever enqueued it in its options as BullMQ's OpenTelemetry support
stores it (`opts.tm`: the W3C trace-context carrier as JSON, what `bullmq-otel`'s `getMetadata`
writes), so a Node.js producer using BullMQ's telemetry links into the same trace, and so do ours.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Final, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

__all__ = [
    "TRACER",
    "TracingError",
    "configure_tracing",
    "enqueue_span",
    "job_span",
    "limiter_span",
    "record_answer",
    "shutdown_tracing",
    "traced_write",
    "tracing_wanted",
    "upstream_span",
    "with_trace",
]

TRACER: Final = trace.get_tracer("areafetch")
JOB_CONTEXT_OPTION: Final = "tm"
"""The job option BullMQ (Node.js, `bullmq-otel`) keeps a job's trace context in."""
_EXPORTERS: Final = ("otlp", "console", "none")
_provider: Any = None
_NO_SPAN: Final = nullcontext(trace.INVALID_SPAN)
P = ParamSpec("P")
R = TypeVar("R")


class TracingError(ValueError):
    """A tracing variable has a value areafetch cannot honour."""


def tracing_wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard OpenTelemetry variables ask for traces (see the module)."""
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter and exporter not in _EXPORTERS:
        raise TracingError(
            f"OTEL_TRACES_EXPORTER={exporter!r} is not supported: use one of {', '.join(_EXPORTERS)}"
        )
    if exporter == "none" or environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return bool(exporter or endpoint)


def configure_tracing(service_name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Install the SDK's tracer provider for this process when traces are wanted; True if so.

    Raises:
        TracingError: `OTEL_TRACES_EXPORTER` names an exporter areafetch does not ship.
    """
    global _provider
    if _provider is not None or not tracing_wanted(environ):
        return _provider is not None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    return True


def shutdown_tracing() -> None:
    """Export what is buffered and stop (a process's last step)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


@contextmanager
def enqueue_span(queue: str, job_name: str, count: int = 1) -> Iterator[str | None]:
    """A PRODUCER span around adding jobs; yields the carrier to store as each job's `tm` option
    (None when there is no trace to continue)."""
    attributes: dict[str, str | int] = {
        "messaging.system": "bullmq",
        "messaging.operation.type": "send",
        "messaging.destination.name": queue,
        "messaging.bullmq.job.name": job_name,
        "messaging.batch.message_count": count,
    }
    with TRACER.start_as_current_span(f"send {queue}", kind=SpanKind.PRODUCER, attributes=attributes) as span:
        yield _carrier(span)


def with_trace(options: dict[str, Any], carrier: str | None) -> dict[str, Any]:
    """Job options that carry the trace (`tm`, as BullMQ's telemetry stores it), if there is one."""
    return options if carrier is None else {**options, JOB_CONTEXT_OPTION: carrier}


def _carrier(span: Span) -> str | None:
    if not span.get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return json.dumps(carrier, separators=(",", ":"))


def _tracing_off() -> bool:
    """`TRACER` hands out no-op spans: no tracer provider installed (`configure_tracing` found nothing
    to do) and none patched in. Such a span's context handling still costs a worker about a tenth of a
    no-op job. Asked of the proxy itself (what it delegates to): `trace.get_tracer_provider()` reads
    the environment on every call, a measurable share of a short job (bench/queue_overhead.py)."""
    return isinstance(getattr(TRACER, "_tracer", None), trace.NoOpTracer)


def job_span(job: Any, queue: str, attempt: int) -> AbstractContextManager[Span]:
    """A CONSUMER span around one attempt of a job, child of the trace the job carries."""
    opts = getattr(job, "opts", None) or {}
    if _tracing_off() and JOB_CONTEXT_OPTION not in opts:  # a carried trace still passes through
        return _NO_SPAN
    return _consumer_span(job, queue, attempt, opts)


@contextmanager
def _consumer_span(job: Any, queue: str, attempt: int, opts: Mapping[str, Any]) -> Iterator[Span]:
    attributes: dict[str, str | int] = {
        "messaging.system": "bullmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": queue,
        "messaging.message.id": str(job.id),
        "messaging.bullmq.job.name": str(job.name),
        "messaging.bullmq.job.attempt": attempt,
    }
    with TRACER.start_as_current_span(
        f"process {queue} {job.name}",
        context=_job_context(opts),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    ) as span:
        yield span


def _job_context(opts: Mapping[str, Any]) -> otel_context.Context | None:
    """The trace a job carries: `opts.tm` (as stored), or `opts.telemetry.metadata` (as Node's
    Job object shows it); None for none or for a carrier that is not a JSON object of strings."""
    raw = opts.get(JOB_CONTEXT_OPTION)
    if raw is None and isinstance(opts.get("telemetry"), Mapping):
        raw = opts["telemetry"].get("metadata")
    if not isinstance(raw, str):
        return None
    try:
        carrier = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(carrier, dict) or not all(isinstance(v, str) for v in carrier.values()):
        return None
    return propagate.extract(carrier)


@contextmanager
def upstream_span(source: str, url: str) -> Iterator[Span]:
    """A CLIENT span around one upstream call; set `http.response.status_code` and
    `areafetch.upstream.bytes` on it when the answer is in."""
    attributes = {"areafetch.upstream.source": source, "server.address": url, "http.request.method": "POST"}
    with TRACER.start_as_current_span(
        f"upstream {source}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span


def record_answer(span: Span, status: int, size: int) -> None:
    """What an upstream answered, on its span."""
    span.set_attribute("http.response.status_code", status)
    span.set_attribute("areafetch.upstream.bytes", size)
    if status >= 400:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))


@contextmanager
def limiter_span(limiter: str) -> Iterator[Span]:
    """An INTERNAL span around the wait for a limiter's grant (a slot of its rate and a lease)."""
    if _tracing_off():
        yield trace.INVALID_SPAN
        return
    with TRACER.start_as_current_span(
        f"limiter wait {limiter}", attributes={"areafetch.limiter.name": limiter}
    ) as span:
        yield span


def traced_write(
    operation: str, table: str
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate an async database write: a CLIENT span (`{operation} {table}`) around each call."""

    def decorate(write: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        names = {"db.system.name": "postgresql", "db.operation.name": operation, "db.collection.name": table}

        @functools.wraps(write)
        def traced(*args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
            if _tracing_off():  # the write itself: no frame of ours for each of its awaits to pass
                return write(*args, **kwargs)
            return _in_client_span(f"{operation} {table}", names, write(*args, **kwargs))

        return traced

    return decorate


async def _in_client_span(name: str, attributes: dict[str, str], work: Awaitable[R]) -> R:
    with TRACER.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
        return await work
