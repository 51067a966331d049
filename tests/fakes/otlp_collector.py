"""An OpenTelemetry collector stand-in: an OTLP/HTTP receiver of traces on 127.0.0.1.

    with OtlpCollector.running() as collector:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.url
        ...
        spans = collector.spans()

`POST /v1/traces` with `Content-Type: application/x-protobuf` and an `ExportTraceServiceRequest`
body (optionally gzip-encoded), as the OTLP specification's HTTP transport defines it
(https://opentelemetry.io/docs/specs/otlp/#otlphttp); answers 200 with an empty
`ExportTraceServiceResponse`. A body that is not one is a 400 (the exporter then logs and drops
the batch, as with a real collector). JSON encoding is not accepted (415), as the exporter never
sends it here.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes._server import ThreadServer

PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any] = field(hash=False)


class OtlpCollector:
    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])
        self.url = ""

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    async def _traces(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != PROTOBUF:
            return Response("only application/x-protobuf", status_code=415)
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest()
        try:
            export.ParseFromString(body)
        except DecodeError as exc:
            return Response(f"not an ExportTraceServiceRequest: {exc}", status_code=400)
        received = [
            ReceivedSpan(
                service=_service(resource_spans.resource.attributes),
                name=span.name,
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_span_id=span.parent_span_id.hex(),
                kind=span.kind,
                attributes={a.key: _value(a.value) for a in span.attributes},
            )
            for resource_spans in export.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self._lock:
            self._spans.extend(received)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF)

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[OtlpCollector]:
        collector = cls()
        server = ThreadServer(collector.app)
        collector.url = server.url
        server.start()
        try:
            yield collector
        finally:
            server.stop()


def _service(attributes: Any) -> str:
    return next((a.value.string_value for a in attributes if a.key == "service.name"), "")


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)
