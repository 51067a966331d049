"""An area is one trace, from the web request to the worker's upstream calls and database writes,
exported over OTLP/HTTP to a real receiver (`tests.fakes.otlp_collector`)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from areafetch.config import Settings
from tests.fakes.otlp_collector import OtlpCollector, ReceivedSpan
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, eventually, settings_env
from tests.pipeline import HELSINKI_POLYGON, finished_area, with_upstreams

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP's SpanKind numbers


def tracing_env(settings: Settings, collector: OtlpCollector) -> dict[str, str]:
    return {
        **settings_env(settings),
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: export soon after a span ends
    }


async def test_an_area_is_one_trace_from_the_request_to_the_upstream_and_the_database(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"overpass_max_tile_km2": Settings.model_fields["overpass_max_tile_km2"].default}
    )
    trace_id, caller = secrets.token_hex(16), secrets.token_hex(8)
    with OtlpCollector.running() as collector:
        env = tracing_env(settings, collector)
        await processes.worker(env)
        _, base_url = await processes.web(env)
        async with httpx.AsyncClient(base_url=base_url) as client:
            response = await client.post(
                "/api/areas",
                json={
                    "name": "traced",
                    "area": HELSINKI_POLYGON,
                    "sources": ["overpass"],
                    "categories": ["cafe"],
                },
                headers={"traceparent": f"00-{trace_id}-{caller}-01"},
            )
            assert response.status_code == 202, response.text
            area = await finished_area(client, response.json()["area_id"])
        assert area["state"] == "completed"

        async def finalised() -> list[ReceivedSpan] | None:
            spans = [span for span in collector.spans() if span.trace_id == trace_id]
            return spans if any(span.name == "process areas finalise" for span in spans) else None

        spans = await eventually(finalised, timeout_s=30, what="the finalise span")

    by_id = {span.span_id: span for span in spans}

    def one(name: str, kind: int, service: str) -> ReceivedSpan:
        found = [
            span for span in spans if span.name == name and span.kind == kind and span.service == service
        ]
        assert len(found) == 1, (name, sorted((s.service, s.name) for s in spans))
        return found[0]

    def parent(span: ReceivedSpan) -> ReceivedSpan:
        return by_id[span.parent_span_id]

    def within(span: ReceivedSpan, ancestor: ReceivedSpan) -> bool:
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            if span is ancestor:
                return True
        return False

    request = next(
        s for s in spans if s.service == "areafetch-web" and s.kind == SERVER and s.parent_span_id == caller
    )
    send_plan = one("send areas", PRODUCER, "areafetch-web")
    assert within(send_plan, request)
    plan = one("process areas plan", CONSUMER, "areafetch-worker")
    assert parent(plan) is send_plan
    assert plan.attributes["messaging.message.id"] == area["job_id"]
    send_flow = one("send areas", PRODUCER, "areafetch-worker")
    assert parent(send_flow) is plan
    fetches = [s for s in spans if s.name == "process areas fetch"]
    assert fetches
    assert all(parent(fetch) is send_flow for fetch in fetches)
    upstream = [s for s in spans if s.name == "upstream overpass"]
    assert upstream
    assert all(s.kind == CLIENT for s in upstream)
    assert all(s.attributes["http.response.status_code"] == 200 for s in upstream)
    assert sum(s.attributes["areafetch.upstream.bytes"] for s in upstream) > 1000
    waits = [s for s in spans if s.name.startswith("limiter wait overpass")]
    assert len(waits) == len(upstream)
    assert all(parent(wait) in upstream for wait in waits)
    writes = [s for s in spans if s.name == "upsert places"]
    assert writes
    assert all(any(within(write, fetch) for fetch in fetches) for write in writes)
    finalise = one("process areas finalise", CONSUMER, "areafetch-worker")
    assert parent(finalise) is send_flow
    _assert_attributes(plan.attributes)


def _assert_attributes(attributes: dict[str, Any]) -> None:
    assert attributes["messaging.system"] == "bullmq"
    assert attributes["messaging.destination.name"] == "areas"
    assert attributes["messaging.bullmq.job.attempt"] == 1
