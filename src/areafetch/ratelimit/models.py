"""What the limiter hands out: a `Grant` per acquired slot, a `LimiterStatus` snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

__all__ = ["Grant", "LimiterStatus", "combined_status"]


@dataclass(frozen=True, slots=True)
class Grant:
    """One granted request: a rate slot and an in-flight lease, until the `acquire` block ends.

    Times are Redis server time in microseconds since the epoch, the only clock the limiter
    trusts.

    Attributes:
        name: the limiter's name.
        lease_id: the in-flight lease held for this request.
        slot_us: the reserved slot; the caller went ahead no earlier than this.
        confirmed_us: when Redis confirmed the grant (``slot_us`` when there was no wait,
            otherwise the check made on waking, a little after the slot).
        waited_s: time spent in `acquire`, measured locally.
    """

    name: str
    lease_id: str
    slot_us: int
    confirmed_us: int
    waited_s: float


class LimiterStatus(BaseModel):
    """A snapshot of one limiter's shared state, read atomically at Redis server time.

    Attributes:
        name: the limiter's name.
        server_time: Redis ``TIME`` when the snapshot was taken.
        next_slot_at: the earliest a new request could go (rate and pause only; an in-flight
            lease may still have to be waited for).
        next_slot_in_s: ``next_slot_at - server_time``, 0 when a request could go now.
        in_flight: leases held right now, across all processes.
        max_in_flight: the policy's limit on them.
        paused_until: the end of a pause in force, or None.
        requests_today: slots reserved this UTC day (a slot a pause took back still counts).
        bytes_today: response bytes recorded this UTC day.
        requests_left: requests still allowed today, or None without a request budget.
        bytes_left: bytes still allowed today, or None without a byte budget.
        budget_exhausted: True when `acquire` would raise `BudgetExhausted` now.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    server_time: datetime
    next_slot_at: datetime
    next_slot_in_s: float
    in_flight: int
    max_in_flight: int
    paused_until: datetime | None
    requests_today: int
    bytes_today: int
    requests_left: int | None
    bytes_left: int | None
    budget_exhausted: bool


def combined_status(name: str, statuses: list[LimiterStatus]) -> LimiterStatus:
    """Several limiters of one source (an Overpass endpoint pool) as one, for its call budget: the
    requests and bytes left are their sums (None when any has no budget), and it is exhausted only
    when every one is."""

    def total(values: list[int | None]) -> int | None:
        return None if any(value is None for value in values) else sum(v for v in values if v is not None)

    first = min(statuses, key=lambda status: status.next_slot_at)
    return first.model_copy(
        update={
            "name": name,
            "in_flight": sum(status.in_flight for status in statuses),
            "max_in_flight": sum(status.max_in_flight for status in statuses),
            "requests_today": sum(status.requests_today for status in statuses),
            "bytes_today": sum(status.bytes_today for status in statuses),
            "requests_left": total([status.requests_left for status in statuses]),
            "bytes_left": total([status.bytes_left for status in statuses]),
            "budget_exhausted": all(status.budget_exhausted for status in statuses),
        }
    )
