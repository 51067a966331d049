"""Lines in a job's own log (BullMQ's `job.log`), for the console's job page: what a job did that its
result does not say (cells split, limiter waits, the attempt it is and why the last one failed).

The worker binds the job it runs (`bound`); anything the job calls (a processor, a provider, the
limiter) adds a line with `job_log(...)` without being handed the job. A line that cannot be
written (Redis down) is dropped with a warning: a log line never fails a job. The same binding
puts the job's ids on every process log line written while it runs (`add_job_ids`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError
from structlog.typing import EventDict

__all__ = ["add_job_ids", "bound", "job_log"]

log = logging.getLogger("areafetch.job_log")
_current: ContextVar[Any] = ContextVar("areafetch_job", default=None)


@contextlib.contextmanager
def bound(job: Any) -> Iterator[None]:
    """`job` (a bullmq.Job) is the one `job_log` writes to while the block runs."""
    token = _current.set(job)
    try:
        yield
    finally:
        _current.reset(token)


def add_job_ids(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: `job_id` (and `area_id` for an area's jobs) of the job being run.

    One context variable set per job, read only when a line is logged: binding the ids as structlog
    context variables set and reset two variables per job, more than the lines cost to read them."""
    job = _current.get()
    if job is not None:
        event_dict.setdefault("job_id", str(job.id))
        data = job.data
        if isinstance(data, dict) and data.get("area_id"):
            event_dict.setdefault("area_id", str(data["area_id"]))
    return event_dict


async def job_log(text: str) -> None:
    """Add a line, stamped with the UTC time, to the log of the job being run (if any)."""
    job = _current.get()
    if job is None:
        return
    try:
        await job.log(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%f}"[:-3] + f"Z {text}")
    except (RedisError, OSError) as exc:
        log.warning("job log line dropped (%s): %s", exc, text)
