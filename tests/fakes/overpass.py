"""An Overpass-compatible test server on 127.0.0.1, answering from the real Helsinki extract.

    with OverpassFake.running(rate_per_s=2, penalty_s=5, ban_s=10) as fake:
        os.environ["AREAFETCH_OVERPASS_URL"] = fake.interpreter_url
        ...
        assert not fake.rejections()           # no 429, no 403 happened

    python -m tests.fakes.overpass --port 8123 --rate-per-s 1

Endpoints, like the real server's:
- `POST /api/interpreter` with form field `data=<QL>` (or the QL as raw body; `GET ?data=` too):
  the QL subset of `tests.fakes.overpass_ql`, answered in Overpass's JSON format.
- `GET /api/status`: the real plain-text format (`Rate limit: 2`, `2 slots available now.` or
  `Slot available after: <time>, in <s> seconds.`). Not rate limited, takes no slot; recorded with
  outcome `status` (polling it costs the real server too).
- `GET /api/timestamp`: the data's timestamp.

What it enforces, per client IP, in this order (the settings are `OverpassSettings`):
1. ban: 403 while banned; a request that arrives less than `penalty_s` after a 429 to the same
   client starts a ban of `ban_s` and gets 403 itself.
2. User-Agent: missing, empty or a library default (python-requests, python-httpx, Python-urllib,
   aiohttp, ...) -> 406.
3. QL: unparseable or unsupported -> 400 with an HTML error page (`Error: line N: parse error: ...`).
4. slots: more than `slots` (2) concurrent queries -> 429 (the `rate_limited` page, no Retry-After).
5. rate: a GCRA at `rate_per_s` with `burst` and `jitter_s` tolerance -> 429 likewise.
   Rejected requests neither take a slot nor use up rate.
Then an injected fault, if any (see `OverpassFault`), else the answer, after `latency_s` (time a
query "runs", holding its slot). With `max_elements` set, a query selecting more elements gets a
200 with the first `max_elements` of them and a `remark` runtime error, as the real server does
when a query exceeds its time or memory: clients must split the tile.
Every request is recorded (`fake.requests`; an answered query's `detail` holds `bytes`, and with the
cost model `scanned`, `run_s` and `memory_bytes`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import itertools
import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

import anyio
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes._server import (
    FakeHandle,
    FakeState,
    RequestRecord,
    client_of,
    control_routes,
    disconnecting_response,
    html_page,
    running_fake,
    serve_forever,
)
from tests.fakes.extract import OsmData, OsmElement, load_osm_data
from tests.fakes.overpass_ql import Out, Program, QLError, parse, render_element, run, scan_boxes

GENERATOR = "Overpass API (fake)"
COPYRIGHT = (
    "The data included in this document is from www.openstreetmap.org. The data is made available under ODbL."
)
DEFAULT_BAD_USER_AGENTS = (
    r"^python-requests/",
    r"^python-httpx/",
    r"^Python-urllib/",
    r"^Python/",
    r"^aiohttp/",
    r"^Python/\S+ aiohttp/",
    r"^Wget/",
    r"^libwww-perl/",
    r"^Java/",
    r"^Go-http-client/",
    r"^node-fetch",
    r"^axios/",
    r"^undici",
)
RATE_LIMITED_MESSAGE = (
    "runtime error: open64: 0 Success /osm3s_osm_base Dispatcher_Client::request_read_and_idx::rate_limited. "
    "Please check /api/status for the quota of your IP address."
)
TOO_BUSY_MESSAGE = (
    "runtime error: open64: 0 Success /osm3s_osm_base Dispatcher_Client::request_read_and_idx::timeout. "
    "The server is probably too busy to handle your request."
)


class OsmEdits(BaseModel):
    """Edits mappers made since the extract: what a later query sees (a refresh finds them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deleted: tuple[str, ...] = Field(default=(), description='"node/123", ...: gone from the answers')
    renamed: dict[str, str] = Field(default_factory=dict, description='"node/123" -> its new name tag')
    moved_north_m: dict[str, float] = Field(default_factory=dict, description='"node/123" -> metres north')

    def apply(self, printed: list[tuple[OsmElement, Out]]) -> list[tuple[OsmElement, Out]]:
        edited = []
        for element, out in printed:
            key = f"{element.type}/{element.id}"
            if key in self.deleted:
                continue
            if key in self.renamed:
                element = dataclasses.replace(element, tags={**element.tags, "name": self.renamed[key]})
            if key in self.moved_north_m:
                element = dataclasses.replace(element, lat=element.lat + self.moved_north_m[key] / 111_320.0)
            edited.append((element, out))
        return edited


class OverpassSettings(BaseModel):
    """What the fake enforces. Change them on a running fake with `fake.configure(...)`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slots: int = Field(default=2, ge=1, description="concurrent queries per client ('Rate limit: N')")
    rate_per_s: float | None = Field(
        default=2.0, gt=0, description="queries per second per client; None: no limit"
    )
    burst: int = Field(default=1, ge=1, description="queries allowed back to back before the rate applies")
    jitter_s: float = Field(
        default=0.05, ge=0, description="tolerance for a request that comes slightly early"
    )
    penalty_s: float = Field(default=30.0, ge=0, description="after a 429, a request within this is banned")
    ban_s: float = Field(default=60.0, ge=0, description="how long a ban (403) lasts")
    latency_s: float = Field(default=0.0, ge=0, description="how long each query 'runs', holding its slot")
    max_elements: int | None = Field(default=None, ge=0, description="more selected -> remark + partial data")
    max_elements_remark: Literal["timeout", "memory"] = "timeout"
    check_user_agent: bool = True
    bad_user_agents: tuple[str, ...] = DEFAULT_BAD_USER_AGENTS
    # The cost model (all zero: off). Times are in model seconds, which `time_scale` turns into wall
    # seconds, so a test can run a 25 s query in 25 ms and still see the remark a real one would get.
    scan_s_per_element: float = Field(
        default=0.0, ge=0, description="model seconds per element inside a statement's bbox (scanned)"
    )
    return_s_per_element: float = Field(default=0.0, ge=0, description="model seconds per element printed")
    memory_bytes_per_element: int = Field(
        default=0, ge=0, description="server memory per element printed; over [maxsize:] -> remark; 0: off"
    )
    time_scale: float = Field(default=1.0, gt=0, description="wall seconds per model second")
    cooldown_factor: float = Field(
        default=0.0, ge=0, description="after a query its slot stays taken for this times its run time"
    )
    edits: OsmEdits = Field(default_factory=OsmEdits, description="OSM edits since the extract")

    @classmethod
    def costed(cls, *, time_scale: float = 1.0, **overrides: Any) -> OverpassSettings:
        """The cost model calibrated on overpass-api.de (tests/fakes/README.md), 2 slots, no request rate."""
        values: dict[str, Any] = {"rate_per_s": None, **REAL_COST, "time_scale": time_scale, **overrides}
        return cls.model_validate(values)


REAL_COST: dict[str, float] = {
    "scan_s_per_element": 0.00001,
    "return_s_per_element": 0.0002,
    "memory_bytes_per_element": 2048,
    "cooldown_factor": 1.0,
}
"""`OverpassSettings.costed()`'s figures (see tests/fakes/README.md, "Cost model")."""


@dataclass(frozen=True, slots=True)
class QueryCost:
    """What one query costs the server, in model seconds and bytes."""

    scanned: int
    run_s: float
    memory_bytes: int
    printed: int
    """Elements printed before the query stopped (all of them unless it hit a limit)."""
    remark: str | None


OverpassFaultKind = Literal[
    "remark_timeout",  # 200 JSON, half of the elements, "remark": "runtime error: Query timed out ..."
    "remark_memory",  # 200 JSON, half of the elements, "remark": "runtime error: Query run out of memory ..."
    "truncated",  # 200, complete HTTP response whose JSON body is cut off in the middle
    "disconnect",  # 200 headers, half of the body, then the connection drops (chunked, no end)
    "html_error",  # 200 with an HTML error page instead of JSON
    "busy",  # 504 "The server is probably too busy to handle your request."
    "rate_limited",  # 429 rate_limited page (and, as for a real 429, the penalty period starts)
    "slow",  # the normal answer, after delay_s
    "http_error",  # `status` (e.g. 500, 502) with an HTML body
]


class OverpassFault(BaseModel):
    """An answer to force on the next `count` queries that pass the ban/UA/parse/slot/rate checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: OverpassFaultKind
    count: int = Field(default=1, ge=1)
    delay_s: float = Field(default=0.0, ge=0, description="wait before answering (any kind; `slow` needs it)")
    status: int = Field(default=500, ge=400, le=599, description="for http_error")


@dataclass
class ClientState:
    tat: float = 0.0
    """GCRA theoretical arrival time (monotonic)."""
    inflight: int = 0
    last_429: float | None = None
    banned_until: float = 0.0
    cooling: list[float] = field(default_factory=list)
    """When each slot that is cooling down after a query becomes free again (monotonic)."""
    running: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    """seq -> (start time, timeout, maxsize) of the queries running now (for /api/status)."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _client_number(client: str) -> int:
    try:
        return int(ipaddress.ip_address(client)) % 4294967296
    except ValueError:
        return abs(hash(client)) % 4294967296


def _html(status: int, message: str) -> Response:
    body = html_page(f'<p><strong style="color:#FF0000">Error</strong>: {message} </p>\n')
    return Response(body, status_code=status, media_type="text/html; charset=utf-8")


def render_json(data: OsmData, elements: list[dict[str, Any]], remark: str | None = None) -> str:
    """Overpass's JSON layout: header, one element block per element, remark after the elements."""
    parts = [
        "{\n",
        '  "version": 0.6,\n',
        f'  "generator": "{GENERATOR}",\n',
        '  "osm3s": {\n',
        f'    "timestamp_osm_base": "{data.timestamp}",\n',
        f'    "copyright": {json.dumps(COPYRIGHT)}\n',
        "  },\n",
        '  "elements": [\n\n',
        ",\n".join(json.dumps(element, indent=2, ensure_ascii=False) for element in elements),
        "\n\n  ]",
    ]
    if remark is not None:
        parts.append(f',\n"remark": {json.dumps(remark, ensure_ascii=False)}')
    parts.append("\n}\n")
    return "".join(parts)


def timeout_remark(line: int, timeout_s: int, statement: str = "query") -> str:
    return f'runtime error: Query timed out in "{statement}" at line {line} after {timeout_s} seconds.'


def memory_remark(line: int, maxsize: int) -> str:
    return (
        f'runtime error: Query run out of memory in "query" at line {line} '
        f"using about {maxsize // 2**20} MB of RAM."
    )


class OverpassApp:
    """The Starlette app and its state (one per server)."""

    def __init__(self, data: OsmData, settings: OverpassSettings) -> None:
        self.data = data
        self.state: FakeState[OverpassSettings, OverpassFault] = FakeState(settings, OverpassFault)
        self.clients: dict[str, ClientState] = {}
        self._pids = itertools.count(1)
        self._bad_ua: list[re.Pattern[str]] = []
        self._compile_user_agents()
        self._lons = np.fromiter((e.lon for e in data.elements), dtype=float, count=len(data.elements))
        self._lats = np.fromiter((e.lat for e in data.elements), dtype=float, count=len(data.elements))
        routes = [
            Route("/api/interpreter", self.interpreter, methods=["GET", "POST"]),
            Route("/api/status", self.status, methods=["GET"]),
            Route("/api/timestamp", self.timestamp, methods=["GET"]),
            *control_routes(
                self.state,
                OverpassSettings,
                on_reset=self.clients.clear,
                on_configure=self._compile_user_agents,
            ),
        ]
        self.app = Starlette(routes=routes)

    @property
    def settings(self) -> OverpassSettings:
        return self.state.settings

    def _compile_user_agents(self) -> None:
        self._bad_ua = [re.compile(pattern) for pattern in self.settings.bad_user_agents]

    def _bad_user_agent(self, user_agent: str) -> bool:
        return not user_agent.strip() or any(p.search(user_agent) for p in self._bad_ua)

    async def _query_text(self, request: Request) -> str:
        if request.method == "GET":
            return request.query_params.get("data", "")
        raw = (await request.body()).decode("utf-8", errors="replace")
        content_type = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in content_type or raw.startswith("data="):
            values = parse_qs(raw, keep_blank_values=True).get("data")
            if values:
                return values[0]
        return raw

    def _gcra_next_allowed(self, client: ClientState, now: float) -> float:
        """When the rate allows this client's next query (<= now: allowed now)."""
        rate = self.settings.rate_per_s
        if rate is None:
            return now
        interval = 1.0 / rate
        tau = (self.settings.burst - 1) * interval + self.settings.jitter_s
        return max(client.tat, now) - tau

    def _gcra_take(self, client: ClientState, now: float) -> None:
        rate = self.settings.rate_per_s
        if rate is not None:
            client.tat = max(client.tat, now) + 1.0 / rate

    async def interpreter(self, request: Request) -> Response:
        started = time.time()
        now = time.monotonic()
        settings = self.settings
        client = self.clients.setdefault(client_of(request), ClientState())
        record = self.state.record

        if client.banned_until > now:
            record(request, started, 403, "banned", detail={"until_s": round(client.banned_until - now, 3)})
            return _banned_page()
        if client.last_429 is not None and now - client.last_429 < settings.penalty_s:
            client.banned_until = now + settings.ban_s
            client.last_429 = None
            record(
                request, started, 403, "banned", detail={"reason": "request within the penalty after a 429"}
            )
            return _banned_page()
        user_agent = request.headers.get("user-agent", "")
        if settings.check_user_agent and self._bad_user_agent(user_agent):
            record(request, started, 406, "bad_user_agent")
            return Response(
                "<html><head><title>406 Not Acceptable</title></head><body><h1>Not Acceptable</h1>"
                "<p>Please identify your application with a User-Agent that names it and a contact.</p>"
                "</body></html>\n",
                status_code=406,
                media_type="text/html; charset=utf-8",
            )
        text = await self._query_text(request)
        try:
            program = parse(text)
        except QLError as exc:
            record(request, started, 400, "bad_request", detail={"error": exc.message, "line": exc.line})
            return _html(400, f"line {exc.line}: parse error: {exc.message}")

        if self._slots_taken(client, now) >= settings.slots:
            client.last_429 = now
            record(request, started, 429, "no_slot")
            return _html(429, RATE_LIMITED_MESSAGE)
        if self._gcra_next_allowed(client, now) > now:
            client.last_429 = now
            record(request, started, 429, "rate_limited")
            return _html(429, RATE_LIMITED_MESSAGE)
        self._gcra_take(client, now)

        seq = next(self._pids)
        client.inflight += 1
        client.running[seq] = (_iso(started), program.timeout_s, program.maxsize)
        run_wall_s = 0.0
        try:
            fault = self.state.take_fault()
            if fault is not None and fault.delay_s:
                await anyio.sleep(fault.delay_s)
            if settings.latency_s:
                await anyio.sleep(settings.latency_s)
            printed = settings.edits.apply(run(self.data, program))
            elements = [render_element(element, out) for element, out in printed]
            line = program.first_query_line
            detail: dict[str, Any] = {"query": text[:2000]}
            cost = self._cost(program, len(elements), line)
            if cost is not None:
                run_wall_s = cost.run_s * settings.time_scale
                detail.update(
                    scanned=cost.scanned, run_s=round(cost.run_s, 6), memory_bytes=cost.memory_bytes
                )
                await anyio.sleep(run_wall_s)
            if fault is not None and fault.kind != "slow":
                return self._fault_response(
                    request, started, fault, elements, program.timeout_s, program.maxsize, line
                )
            if cost is not None and cost.remark is not None:
                body = render_json(self.data, elements[: cost.printed], cost.remark)
                detail["bytes"] = len(body.encode())
                outcome = "remark:timeout" if "timed out" in cost.remark else "remark:memory"
                record(request, started, 200, outcome, elements=cost.printed, detail=detail)
                return Response(body, media_type="application/json")
            max_elements = settings.max_elements
            if max_elements is not None and len(elements) > max_elements:
                remark = (
                    timeout_remark(line, program.timeout_s)
                    if settings.max_elements_remark == "timeout"
                    else memory_remark(line, program.maxsize)
                )
                body = render_json(self.data, elements[:max_elements], remark)
                record(request, started, 200, "remark:max_elements", elements=max_elements, detail=detail)
                return Response(body, media_type="application/json")
            body = render_json(self.data, elements)
            detail["bytes"] = len(body.encode())
            outcome = "ok" if fault is None else "fault:slow"
            record(request, started, 200, outcome, elements=len(elements), detail=detail)
            return Response(body, media_type="application/json")
        finally:
            client.inflight -= 1
            client.running.pop(seq, None)
            if settings.cooldown_factor and run_wall_s:
                client.cooling.append(time.monotonic() + settings.cooldown_factor * run_wall_s)

    def _slots_taken(self, client: ClientState, now: float) -> int:
        """Slots running a query or cooling down after one."""
        client.cooling = [free_at for free_at in client.cooling if free_at > now]
        return client.inflight + len(client.cooling)

    def _cost(self, program: Program, returned: int, line: int) -> QueryCost | None:
        """The model's run time, memory and outcome of a query (None: the cost model is off).

        Memory is exhausted while the query collects its result, before anything is printed;
        time runs out either while scanning (in "query", nothing printed) or while printing
        (in "print", the elements printed so far).
        """
        settings = self.settings
        if not (
            settings.scan_s_per_element or settings.return_s_per_element or settings.memory_bytes_per_element
        ):
            return None
        scanned = sum(self._count_in(box) for box in scan_boxes(program))
        scan_s = scanned * settings.scan_s_per_element
        print_s = returned * settings.return_s_per_element
        memory = returned * settings.memory_bytes_per_element
        timeout_s = program.timeout_s
        if settings.memory_bytes_per_element and memory > program.maxsize:
            return QueryCost(scanned, min(scan_s, timeout_s), memory, 0, memory_remark(line, program.maxsize))
        if scan_s >= timeout_s:
            return QueryCost(scanned, timeout_s, memory, 0, timeout_remark(line, timeout_s))
        if scan_s + print_s > timeout_s:
            printed = int((timeout_s - scan_s) / settings.return_s_per_element)
            remark = timeout_remark(program.last_out_line, timeout_s, "print")
            return QueryCost(scanned, timeout_s, memory, printed, remark)
        return QueryCost(scanned, scan_s + print_s, memory, returned, None)

    def _count_in(self, box: tuple[float, float, float, float] | None) -> int:
        if box is None:
            return len(self.data.elements)
        west, south, east, north = box
        inside = (self._lons >= west) & (self._lons <= east) & (self._lats >= south) & (self._lats <= north)
        return int(np.count_nonzero(inside))

    def _fault_response(
        self,
        request: Request,
        started: float,
        fault: OverpassFault,
        elements: list[dict[str, Any]],
        timeout_s: int,
        maxsize: int,
        line: int,
    ) -> Response:
        outcome = f"fault:{fault.kind}"
        record = self.state.record
        kind = fault.kind
        if kind in ("remark_timeout", "remark_memory"):
            partial = elements[: len(elements) // 2]
            remark = (
                timeout_remark(line, timeout_s) if kind == "remark_timeout" else memory_remark(line, maxsize)
            )
            record(request, started, 200, outcome, elements=len(partial))
            return Response(render_json(self.data, partial, remark), media_type="application/json")
        if kind == "truncated":
            body = render_json(self.data, elements).encode()
            record(request, started, 200, outcome)
            return Response(body[: max(1, len(body) // 2)], media_type="application/json")
        if kind == "disconnect":
            record(request, started, 200, outcome)
            return disconnecting_response(render_json(self.data, elements).encode(), "application/json")
        if kind == "html_error":
            record(request, started, 200, outcome)
            return _html(200, timeout_remark(line, timeout_s))
        if kind == "busy":
            record(request, started, 504, outcome)
            return _html(504, TOO_BUSY_MESSAGE)
        if kind == "rate_limited":
            self.clients.setdefault(client_of(request), ClientState()).last_429 = time.monotonic()
            record(request, started, 429, outcome)
            return _html(429, RATE_LIMITED_MESSAGE)
        assert kind == "http_error"
        record(request, started, fault.status, outcome)
        return _html(fault.status, f"the fake server answers {fault.status} as told")

    async def status(self, request: Request) -> Response:
        now = time.monotonic()
        wall = time.time()
        settings = self.settings
        client_ip = client_of(request)
        client = self.clients.get(client_ip, ClientState())
        lines = [
            f"Connected as: {_client_number(client_ip)}",
            f"Current time: {_iso(wall)}",
            "Announced endpoint: none",
            f"Rate limit: {settings.slots}",
        ]
        free = max(0, settings.slots - self._slots_taken(client, now))
        blocked_until = max(client.banned_until, self._gcra_next_allowed(client, now))
        if client.last_429 is not None:
            blocked_until = max(blocked_until, client.last_429 + settings.penalty_s)
        if free and blocked_until <= now:
            lines.append(f"{free} slots available now.")
        elif free:
            wait = blocked_until - now
            for _ in range(free):
                lines.append(f"Slot available after: {_iso(wall + wait)}, in {math.ceil(wait)} seconds.")
        for free_at in sorted(client.cooling):
            wait = max(free_at, blocked_until) - now
            lines.append(f"Slot available after: {_iso(wall + wait)}, in {math.ceil(wait)} seconds.")
        lines.append("Currently running queries (pid, space limit, time limit, start time):")
        for seq, (start, timeout_s, maxsize) in sorted(client.running.items()):
            lines.append(f"{seq}\t{maxsize}\t{timeout_s}\t{start}")
        # Recorded (outcome "status"): polling it costs the real server too, so benchmarks count it.
        self.state.record(request, wall, 200, "status")
        return PlainTextResponse("\n".join(lines) + "\n")

    async def timestamp(self, request: Request) -> Response:
        return PlainTextResponse(self.data.timestamp + "\n")


def _banned_page() -> Response:
    return Response(
        "<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1>"
        "<p>Your IP address has been blocked for a while: it kept sending requests after a 429.</p>"
        "</body></html>\n",
        status_code=403,
        media_type="text/html; charset=utf-8",
    )


def build_app(extract_path: Path | None = None, settings: OverpassSettings | None = None) -> Starlette:
    return OverpassApp(load_osm_data(extract_path), settings or OverpassSettings()).app


class OverpassFake(FakeHandle[OverpassFault]):
    """A running fake Overpass server (see the module docstring)."""

    @property
    def interpreter_url(self) -> str:
        """What `AREAFETCH_OVERPASS_URL` should be."""
        return f"{self.url}/api/interpreter"

    @property
    def status_url(self) -> str:
        return f"{self.url}/api/status"

    def rejections(self) -> list[RequestRecord]:
        """Requests answered 429 or 403 (a well-behaved client has none)."""
        return [r for r in self.requests if r.status in (429, 403)]

    @classmethod
    @contextlib.contextmanager
    def running(
        cls,
        extract_path: Path | None = None,
        *,
        in_process: bool = True,
        settings: OverpassSettings | None = None,
        **overrides: Any,
    ) -> Iterator[OverpassFake]:
        """Start a fake on a free port of 127.0.0.1; stop it on exit.

        `overrides` are `OverpassSettings` fields (e.g. `rate_per_s=1, penalty_s=5`).
        `in_process=False` runs it as a separate process (`python -m tests.fakes.overpass`).
        """
        merged = OverpassSettings.model_validate(
            {**(settings or OverpassSettings()).model_dump(), **overrides}
        )
        args = ["--settings-json", merged.model_dump_json()]
        if extract_path is not None:
            args += ["--extract", str(extract_path)]
        with running_fake(
            lambda url, stop: cls(url, OverpassFault, stop),
            lambda: build_app(extract_path, merged),
            "tests.fakes.overpass",
            args,
            in_process,
        ) as fake:
            yield fake


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Overpass-compatible test server answering from an OSM extract"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (the URL is printed)")
    parser.add_argument(
        "--extract", type=Path, default=None, help="an .osm.pbf (default: the Helsinki extract)"
    )
    parser.add_argument("--settings-json", default=None, help="OverpassSettings as JSON")
    parser.add_argument("--slots", type=int, default=None)
    parser.add_argument("--rate-per-s", type=float, default=None)
    parser.add_argument("--burst", type=int, default=None)
    parser.add_argument("--penalty-s", type=float, default=None)
    parser.add_argument("--ban-s", type=float, default=None)
    parser.add_argument("--latency-s", type=float, default=None)
    parser.add_argument("--max-elements", type=int, default=None)
    args = parser.parse_args(argv)
    values: dict[str, Any] = json.loads(args.settings_json) if args.settings_json else {}
    for name in ("slots", "rate_per_s", "burst", "penalty_s", "ban_s", "latency_s", "max_elements"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    settings = OverpassSettings.model_validate(values)
    serve_forever(build_app(args.extract, settings), args.port, args.host)


if __name__ == "__main__":
    main()
