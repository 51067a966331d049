"""An area's refresh schedule (`refresh_every`): an interval or a cron expression.

Intervals are seconds (a JSON integer) or a number with a unit: `90s`, `30m`, `6h`, `1d`. Anything
else must be a 5-field cron expression (minute hour day month weekday, UTC), e.g. `0 6 * * 1`.
Either way runs are at least `min_interval_s` apart (`AREAFETCH_MIN_REFRESH_INTERVAL_S`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

__all__ = ["RefreshEvery", "parse_refresh_every"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_INTERVAL = re.compile(r"^\s*(\d{1,9})\s*([smhd])\s*$")


@dataclass(frozen=True, slots=True)
class RefreshEvery:
    every_s: int | None = None
    cron: str | None = None

    @property
    def text(self) -> str:
        """How it is stored and shown: `3600s` or the cron expression."""
        return f"{self.every_s}s" if self.every_s is not None else str(self.cron)

    def repeat_options(self) -> dict[str, Any]:
        """BullMQ's `repeat` options for `upsertJobScheduler`."""
        if self.every_s is not None:
            return {"every": self.every_s * 1000}
        return {"pattern": self.cron, "tz": "UTC"}


def parse_refresh_every(value: int | str, *, min_interval_s: int) -> RefreshEvery:
    """The schedule `value` names; ValueError with the reason when it is not one."""
    if isinstance(value, int):
        return _interval(value, min_interval_s)
    interval = _INTERVAL.match(value)
    if interval:
        return _interval(int(interval[1]) * _UNITS[interval[2]], min_interval_s)
    cron = " ".join(value.split())
    if len(cron.split(" ")) != 5 or not croniter.is_valid(cron):
        raise ValueError(
            f"{value!r} is neither an interval (seconds, or e.g. 30m, 6h, 1d) nor a 5-field cron expression"
        )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = croniter(cron, start)
    first, second = times.get_next(float), times.get_next(float)
    if second - first < min_interval_s:
        raise ValueError(f"{value!r} runs every {second - first:g} s; at least {min_interval_s} s apart")
    return RefreshEvery(cron=cron)


def _interval(seconds: int, min_interval_s: int) -> RefreshEvery:
    if seconds < min_interval_s:
        raise ValueError(f"every {seconds} s is too often: at least {min_interval_s} s")
    return RefreshEvery(every_s=seconds)
