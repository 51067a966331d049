"""Tracing: off unless the standard variables ask for it; a job carries its trace as BullMQ's
telemetry stores it (`opts.tm`); spans nest from the enqueue to the job."""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from areafetch import tracing
from areafetch.tracing import (
    TracingError,
    enqueue_span,
    job_span,
    traced_write,
    tracing_wanted,
    with_trace,
)


class Kept(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> Kept:
    """areafetch's spans go to a provider of this test's (the process's global one stays a no-op)."""
    exporter = Kept()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "TRACER", provider.get_tracer("areafetch"))
    return exporter


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
    ],
)
def test_tracing_is_off_unless_the_standard_variables_ask_for_it(
    environ: dict[str, str], wanted: bool
) -> None:
    assert tracing_wanted(environ) is wanted


def test_an_exporter_areafetch_does_not_ship_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(TracingError, match="OTEL_TRACES_EXPORTER='zipkin' is not supported"):
        tracing_wanted({"OTEL_TRACES_EXPORTER": "zipkin"})


async def test_a_job_continues_the_trace_it_was_enqueued_in(kept: Kept) -> None:
    with enqueue_span("areas", "plan") as carrier:
        options = with_trace({"jobId": "j1"}, carrier)
    assert carrier is not None
    assert json.loads(options["tm"])["traceparent"].startswith("00-")
    job = SimpleNamespace(id="j1", name="plan", opts=options)
    with job_span(job, "areas", attempt=2):
        pass
    send, process = kept.spans
    assert (send.name, send.kind) == ("send areas", SpanKind.PRODUCER)
    assert (process.name, process.kind) == ("process areas plan", SpanKind.CONSUMER)
    assert process.context.trace_id == send.context.trace_id
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id
    assert process.attributes is not None
    assert process.attributes["messaging.bullmq.job.attempt"] == 2


@pytest.mark.parametrize(
    "opts",
    [
        {"tm": json.dumps({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})},
        {
            "telemetry": {
                "metadata": json.dumps(
                    {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
                )
            }
        },
    ],
)
async def test_a_job_from_node_bullmq_telemetry_is_a_child_of_its_producer(
    kept: Kept, opts: dict[str, object]
) -> None:
    with job_span(SimpleNamespace(id="n1", name="test", opts=opts), "test-jobs", attempt=1):
        pass
    [span] = kept.spans
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"


@pytest.mark.parametrize(
    "tm", ["not json", "[1, 2]", json.dumps({"traceparent": 5}), json.dumps({"traceparent": "garbage"})]
)
async def test_a_bad_carrier_starts_a_new_trace(kept: Kept, tm: str) -> None:
    with job_span(SimpleNamespace(id="x", name="test", opts={"tm": tm}), "test-jobs", attempt=1):
        pass
    [span] = kept.spans
    assert span.parent is None


async def test_a_database_write_is_a_client_span_inside_its_job(kept: Kept) -> None:
    @traced_write("upsert", "places")
    async def write(count: int) -> int:
        return count

    with job_span(SimpleNamespace(id="j", name="fetch", opts={}), "areas", attempt=1):
        assert await write(3) == 3
    db, job = kept.spans
    assert (db.name, db.kind) == ("upsert places", SpanKind.CLIENT)
    assert db.parent is not None
    assert db.parent.span_id == job.context.span_id
