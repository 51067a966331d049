"""What both fakes share: running a Starlette app on 127.0.0.1, recording requests, faults and the
control endpoints tests use (`/__control/...`), in-process or as a separate process.

A fake runs either
- in a background thread of the current process (`in_process=True`, the default: quick to start,
  shares the already loaded extract), or
- as its own process (`python -m tests.fakes.overpass --port 0 ...`), so a benchmark's CPU load
  does not slow it down and it does not slow the benchmark down.
Either way the test talks to it through the same `FakeHandle`, over HTTP.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
import uvicorn
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "FAKE READY "


class RequestRecord(BaseModel):
    """One request a fake answered (every endpoint except the control ones)."""

    model_config = ConfigDict(frozen=True)

    seq: int
    started: float = Field(description="wall clock (time.time()) when the request arrived")
    finished: float = Field(description="wall clock when the answer was ready")
    client: str = Field(description="the client's IP address: what limits are kept per")
    method: str
    path: str
    status: int
    outcome: str = Field(
        description=(
            "ok | rate_limited | no_slot | banned | bad_user_agent | bad_request | "
            "bad_key | no_field_mask | quota | fault:<kind> | remark:max_elements | remark:timeout | remark:memory"
        )
    )
    user_agent: str = ""
    elements: int | None = Field(default=None, description="elements/places in the answer, if any")
    detail: dict[str, Any] = Field(default_factory=dict)


S = TypeVar("S", bound=BaseModel)
F = TypeVar("F", bound=BaseModel)


class FakeState(Generic[S, F]):
    """Settings, pending faults and the request log of one fake. Lives on the server's loop."""

    def __init__(self, settings: S, fault_type: type[F]) -> None:
        self.settings = settings
        self.fault_type = fault_type
        self.faults: deque[F] = deque()
        self.records: list[RequestRecord] = []
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def record(self, request: Request, started: float, status: int, outcome: str, **extra: Any) -> None:
        self.records.append(
            RequestRecord(
                seq=self.next_seq(),
                started=started,
                finished=time.time(),
                client=client_of(request),
                method=request.method,
                path=request.url.path,
                status=status,
                outcome=outcome,
                user_agent=request.headers.get("user-agent", ""),
                **extra,
            )
        )

    def take_fault(self) -> F | None:
        """The next injected fault, consuming one of its `count`."""
        if not self.faults:
            return None
        fault = self.faults[0]
        remaining: int = getattr(fault, "count", 1) - 1
        if remaining <= 0:
            self.faults.popleft()
        else:
            self.faults[0] = fault.model_copy(update={"count": remaining})
        return fault

    def reset_base(self) -> None:
        self.faults.clear()
        self.records.clear()


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _invalid(exc: ValidationError) -> Response:
    return JSONResponse({"error": exc.errors(include_url=False, include_context=False)}, status_code=422)


def control_routes(
    state: FakeState[Any, Any],
    settings_type: type[BaseModel],
    on_reset: Callable[[], None],
    on_configure: Callable[[], None] = lambda: None,
) -> list[Route]:
    """`/__control/*`: the test-side API, the same for both fakes."""

    async def get_requests(request: Request) -> Response:
        since = int(request.query_params.get("since", "0"))
        return JSONResponse([r.model_dump() for r in state.records if r.seq > since])

    async def inject(request: Request) -> Response:
        try:
            fault = state.fault_type.model_validate(await request.json())
        except ValidationError as exc:
            return _invalid(exc)
        state.faults.append(fault)
        return JSONResponse({"pending": len(state.faults)})

    async def faults(request: Request) -> Response:
        return JSONResponse([f.model_dump() for f in state.faults])

    async def configure(request: Request) -> Response:
        changes = await request.json()
        merged = {**state.settings.model_dump(), **changes}
        try:
            state.settings = settings_type.model_validate(merged)
        except ValidationError as exc:
            return _invalid(exc)
        on_configure()
        return JSONResponse(state.settings.model_dump())

    async def get_settings(request: Request) -> Response:
        return JSONResponse(state.settings.model_dump())

    async def reset(request: Request) -> Response:
        state.reset_base()
        on_reset()
        return JSONResponse({"reset": True})

    return [
        Route("/__control/requests", get_requests, methods=["GET"]),
        Route("/__control/faults", inject, methods=["POST"]),
        Route("/__control/faults", faults, methods=["GET"]),
        Route("/__control/settings", configure, methods=["POST"]),
        Route("/__control/settings", get_settings, methods=["GET"]),
        Route("/__control/reset", reset, methods=["POST"]),
    ]


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listen at once: a client told the URL may connect before uvicorn's loop is up (it queues).
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: Starlette) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=2,
        # The fakes answer many short requests from few clients; keep-alive as the real servers do.
        timeout_keep_alive=30,
    )


class ThreadServer:
    """A uvicorn server in a daemon thread of this process."""

    def __init__(self, app: Starlette, port: int = 0) -> None:
        self._sock = bind_socket(port=port)
        host, bound_port = self._sock.getsockname()[:2]
        self.url = f"http://{host}:{bound_port}"
        self._server = uvicorn.Server(_uvicorn_config(app))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"fake-{bound_port}", daemon=True
        )

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fake server at {self.url} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


class ProcessServer:
    """A fake run as `python -m <module> --port 0 ...`; its URL is read from its first line."""

    def __init__(self, module: str, args: list[str], startup_timeout_s: float = 60.0) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self._read_url(startup_timeout_s)

    def _read_url(self, timeout_s: float) -> str:
        assert self.process.stdout is not None
        found: list[str] = []

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                if line.startswith(READY_PREFIX):
                    found.append(line[len(READY_PREFIX) :].strip())
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout_s)
        if not found:
            self.stop()
            raise RuntimeError(f"fake process did not start within {timeout_s} s")
        return found[0]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def serve_forever(app: Starlette, port: int, host: str = "127.0.0.1") -> None:
    """The `__main__` of a fake: bind, announce the URL on stdout, serve until SIGTERM/SIGINT."""
    sock = bind_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    print(f"{READY_PREFIX}http://{bound_host}:{bound_port}", flush=True)
    uvicorn.Server(_uvicorn_config(app)).run(sockets=[sock])


class FakeHandle(Generic[F]):
    """The test side of a running fake: its base URL, its request log, faults and settings."""

    def __init__(self, url: str, fault_type: type[F], stop: Callable[[], None]) -> None:
        self.url = url
        self._fault_type = fault_type
        self._stop = stop
        self._control = httpx.Client(
            base_url=url, timeout=30, headers={"User-Agent": "areafetch-tests/fake-control"}
        )

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far (control requests excluded), oldest first."""
        return self.requests_since(0)

    def requests_since(self, seq: int) -> list[RequestRecord]:
        response = self._control.get("/__control/requests", params={"since": seq})
        response.raise_for_status()
        return [RequestRecord.model_validate(item) for item in response.json()]

    def statuses(self) -> list[int]:
        return [record.status for record in self.requests]

    def inject(self, fault: F) -> None:
        """Queue a fault; the next requests that pass the fake's checks get it (`fault.count` times)."""
        self._control.post("/__control/faults", json=fault.model_dump()).raise_for_status()

    def pending_faults(self) -> list[F]:
        response = self._control.get("/__control/faults")
        response.raise_for_status()
        return [self._fault_type.model_validate(item) for item in response.json()]

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings of the running fake (validated); returns the settings now in force."""
        response = self._control.post("/__control/settings", json=changes)
        if response.status_code == 422:
            raise ValueError(f"invalid settings {changes}: {response.json()['error']}")
        response.raise_for_status()
        settings: dict[str, Any] = response.json()
        return settings

    def reset(self) -> None:
        """Forget requests, faults and every client's limiter state (bans included)."""
        self._control.post("/__control/reset").raise_for_status()

    def close(self) -> None:
        self._control.close()
        self._stop()


H = TypeVar("H", bound=FakeHandle[Any])


@contextlib.contextmanager
def running_fake(
    make_handle: Callable[[str, Callable[[], None]], H],
    build_app: Callable[[], Starlette],
    module: str,
    cli_args: list[str],
    in_process: bool,
) -> Iterator[H]:
    stop: Callable[[], None]
    if in_process:
        server = ThreadServer(build_app())
        server.start()
        url, stop = server.url, server.stop
    else:
        process = ProcessServer(module, cli_args)
        url, stop = process.url, process.stop
    handle = make_handle(url, stop)
    try:
        yield handle
    finally:
        handle.close()


def html_page(body: str) -> str:
    """The HTML page Overpass wraps its errors in."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN"\n'
        '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
        "<head>\n"
        '  <meta http-equiv="content-type" content="text/html; charset=utf-8" lang="en"/>\n'
        "  <title>OSM3S Response</title>\n"
        "</head>\n"
        "<body>\n\n"
        "<p>The data included in this document is from www.openstreetmap.org. "
        "The data is made available under ODbL.</p>\n"
        f"{body}"
        "\n</body>\n</html>\n"
    )


class DeliberateDisconnect(Exception):
    """Raised inside a streaming body to drop the connection mid-answer (the `disconnect` faults)."""


class _HideDeliberateDisconnect(logging.Filter):
    """Keeps uvicorn from logging a traceback for a disconnect the fake made on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        for _ in range(10):
            if exc is None:
                return True
            if isinstance(exc, DeliberateDisconnect):
                return False
            if isinstance(exc, BaseExceptionGroup) and any(
                isinstance(e, DeliberateDisconnect) for e in exc.exceptions
            ):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


logging.getLogger("uvicorn.error").addFilter(_HideDeliberateDisconnect())


def disconnecting_response(body: bytes, media_type: str) -> StreamingResponse:
    """200 and the first half of `body`, then the connection drops (chunked, no final chunk)."""

    async def stream() -> AsyncIterator[bytes]:
        yield body[: max(1, len(body) // 2)]
        raise DeliberateDisconnect("fault: disconnect")

    return StreamingResponse(stream(), media_type=media_type)
