"""What areafetch takes from its dependencies beyond their documented API, pinned: each test fails
with a message that names the name, what we rely on and where we use it, so an upgrade that moves
it is caught here rather than in production (a force-closed worker's jobs, a 409's reason)."""

from __future__ import annotations

import asyncio
import importlib
import re
import uuid

import pytest
from bullmq import Job, Queue, Worker
from fastapi import APIRouter, Depends, FastAPI

from areafetch.config import Settings
from areafetch.queue import scripts
from areafetch.redis import connection_options


def _pin(condition: bool, name: str, relied_on: str, used_in: str) -> None:
    assert condition, f"dependency internals moved: {name} — we rely on {relied_on} (used in {used_in})"


# --- bullmq ------------------------------------------------------------------------------------


def test_bullmq_queue_keys_name_every_key_of_the_move_to_wait_script() -> None:
    from bullmq.queue_keys import QueueKeys

    keys = QueueKeys("pfx").getKeys("q")
    missing = [name for name in scripts._MOVE_TO_WAIT_KEYS if name not in keys]
    _pin(not missing, "bullmq.queue_keys.QueueKeys.getKeys", f"keys {missing} to exist", "queue/scripts.py")
    _pin(keys[""] == "pfx:q:", "QueueKeys.getKeys()['']", "the job key prefix 'pfx:q:'", "queue/scripts.py")
    _pin(keys["active"] == "pfx:q:active", "QueueKeys.getKeys()['active']", "'<prefix>:<queue>:active'", "")


def test_bullmq_ships_the_move_to_wait_script_with_our_key_and_argument_order() -> None:
    from bullmq.redis_connection import loadScript

    try:
        source = loadScript(scripts._MOVE_TO_WAIT_SCRIPT)
    except OSError as exc:
        pytest.fail(
            f"dependency internals moved: bullmq no longer ships {scripts._MOVE_TO_WAIT_SCRIPT} ({exc})"
        )
    header = source.split("]]", 1)[0]
    keys = re.findall(r"KEYS\[\d+\]\s+(\w+) key", header)
    ours = [name.removesuffix("s") for name in scripts._MOVE_TO_WAIT_KEYS]  # "events" is "event key"
    _pin(
        keys == ours,
        scripts._MOVE_TO_WAIT_SCRIPT,
        f"KEYS in the order {ours}, found {keys}",
        "queue/scripts.py",
    )
    args = re.findall(r"ARGV\[\d+\]\s+(.+)", header)
    expected = ["job id", "lock token", "job id key"]
    _pin([arg.strip() for arg in args] == expected, scripts._MOVE_TO_WAIT_SCRIPT, f"ARGV {expected}", "")


async def test_bullmq_worker_jobs_holds_the_running_jobs_and_their_lock_tokens(settings: Settings) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def process(job: Job, token: str) -> str:
        started.set()
        await release.wait()
        return "ok"

    name = f"pin-{uuid.uuid4().hex[:8]}"
    connection = connection_options(settings.redis_url, socket_timeout_s=5)
    queue = Queue(name, {"prefix": settings.queue_prefix, "connection": connection})
    worker = Worker(
        name, process, {"autorun": False, "prefix": settings.queue_prefix, "connection": connection}
    )
    running = asyncio.ensure_future(worker.run())
    try:
        job = await queue.add("pin", {})
        await asyncio.wait_for(started.wait(), 30)
        held = list(worker.jobs)
        _pin(
            [(j.id, type(t).__name__) for j, t in held] == [(job.id, "str")],
            "bullmq.Worker.jobs",
            f"a set of (Job, lock token) pairs of the running jobs, found {held!r}",
            "worker.py (force close hands them back)",
        )
    finally:
        release.set()
        await worker.close()
        await queue.obliterate({"force": True})
        await queue.close()
        await running


async def test_bullmq_retry_of_a_job_that_is_not_failed_raises_type_error(settings: Settings) -> None:
    queue = Queue(
        f"pin-{uuid.uuid4().hex[:8]}", {"prefix": settings.queue_prefix, "connection": settings.redis_url}
    )
    try:
        job = await queue.add("pin", {})
        with pytest.raises(TypeError, match="not in the failed state"):
            await job.retry("failed")
        _pin(
            await queue.remove(str(job.id)) == 1,
            "bullmq.Queue.remove",
            "1 for a removed job",
            "queue/admin.py",
        )
    finally:
        await queue.obliterate({"force": True})
        await queue.close()


# --- httpcore ----------------------------------------------------------------------------------


def test_httpcore_has_the_anyio_backend_module_we_import_early() -> None:
    try:
        module = importlib.import_module("httpcore._backends.anyio")
    except ImportError as exc:
        pytest.fail(
            f"dependency internals moved: httpcore._backends.anyio ({exc}); imported early in "
            "processors/upstreams.py so a worker's first request does not pay for it"
        )
    _pin(hasattr(module, "AnyIOBackend"), "httpcore._backends.anyio.AnyIOBackend", "the backend class", "")


# --- FastAPI -----------------------------------------------------------------------------------


def test_fastapi_route_contexts_and_dependants_show_included_routes_and_their_dependencies() -> None:
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute, iter_route_contexts

    def marker() -> None:
        return None

    router = APIRouter(prefix="/inner")

    @router.post("/thing", dependencies=[Depends(marker)])
    async def thing() -> None:
        return None

    app = FastAPI()
    app.include_router(router, prefix="/outer")
    contexts = [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]
    _pin(
        [c.path_format for c in contexts] == ["/outer/inner/thing"],
        "fastapi.routing.iter_route_contexts",
        "included routers' routes with their full path_format and the APIRoute as original_route",
        "web/access.py (OpenAPI 429/503), the route-generated tests",
    )
    route = contexts[0].original_route
    assert isinstance(route, APIRoute)
    dependant = route.dependant
    _pin(
        isinstance(dependant, Dependant) and any(dep.call is marker for dep in dependant.dependencies),
        "fastapi.dependencies.models.Dependant.dependencies/.call",
        "a route's dependencies as Dependants whose .call is the function",
        "web/access.py (which routes take a submission slot)",
    )


# --- opentelemetry -------------------------------------------------------------------------------


def test_opentelemetry_proxy_tracer_says_what_it_delegates_to() -> None:
    from opentelemetry import trace

    proxy = trace.ProxyTracer("areafetch-pin")
    _pin(
        isinstance(getattr(proxy, "_tracer", None), trace.NoOpTracer),
        "opentelemetry.trace.ProxyTracer._tracer",
        "a NoOpTracer while no tracer provider is installed",
        "tracing._tracing_off",
    )
