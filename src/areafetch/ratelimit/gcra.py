"""The GCRA arithmetic of the limiter as pure functions, mirrored line by line by the Lua scripts.

GCRA (generic cell rate algorithm) is a token bucket kept as one number, the *theoretical
arrival time* (TAT): the time at which the bucket would be full again. With an emission
interval ``T = 1 / rate`` and a tolerance ``tau = (burst - 1) * T``, a request arriving at
``now`` may go at ``max(now, TAT - tau)`` and moves the TAT to ``max(TAT, now) + T``.

Bound: if grants ``g_1 <= ... <= g_n`` fall in a window of length ``W``, every grant after the
first moved the TAT by at least ``T`` and was allowed only once ``g_k >= TAT - tau``, so
``g_n - g_1 >= (n - burst) * T``, i.e. ``n <= burst + W / T <= burst + rate * W``.

Every time is an integer number of microseconds from Redis ``TIME``, and ``T`` is rounded
*up* to whole microseconds, so the Lua (doubles, exact below 2**53) and this module compute
the same numbers and the effective rate is never above the configured one.

Missing state (first use, eviction, a Redis restarted empty) is taken as an *empty* bucket,
``TAT = now + burst * T``: the first slot is one interval away. Whatever was granted before
the state was lost, a token bucket that starts empty cannot exceed the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Reservation", "emission_interval_us", "empty_bucket_tat_us", "pause", "reserve"]

_US_PER_S = 1_000_000


@dataclass(frozen=True, slots=True)
class Reservation:
    """The outcome of one GCRA decision.

    Attributes:
        granted: whether a slot was reserved.
        wait_us: from now until the slot (for a refusal: until the slot it would have had).
        tat_us: the TAT to store afterwards (unchanged on refusal, except that a missing state
            is stored as an empty bucket).
    """

    granted: bool
    wait_us: int
    tat_us: int


def emission_interval_us(rate_per_s: float) -> int:
    """``1 / rate`` in whole microseconds, rounded up so the effective rate never exceeds ``rate``."""
    if not rate_per_s > 0:
        raise ValueError("rate_per_s must be positive")
    return max(1, math.ceil(_US_PER_S / rate_per_s))


def empty_bucket_tat_us(now_us: int, interval_us: int, burst: int) -> int:
    """The TAT of a bucket with no token left at ``now_us`` (the value for missing state)."""
    return now_us + burst * interval_us


def reserve(
    *, tat_us: int | None, now_us: int, interval_us: int, burst: int, max_wait_us: int
) -> Reservation:
    """Reserve the next slot for a request arriving at ``now_us``, unless it is beyond ``max_wait_us``.

    Args:
        tat_us: the stored TAT, or None when the state is missing.
        now_us: the current time (Redis ``TIME``).
        interval_us: the emission interval, ``emission_interval_us(rate)``.
        burst: requests that may go back to back on a full bucket (>= 1).
        max_wait_us: the longest wait the caller accepts; a later slot reserves nothing.

    Returns:
        The decision and the TAT to store.
    """
    tat = empty_bucket_tat_us(now_us, interval_us, burst) if tat_us is None else tat_us
    allowed_at = max(now_us, tat - (burst - 1) * interval_us)
    wait = allowed_at - now_us
    if wait > max_wait_us:
        return Reservation(granted=False, wait_us=wait, tat_us=tat)
    return Reservation(granted=True, wait_us=wait, tat_us=max(tat, now_us) + interval_us)


def pause(*, tat_us: int | None, now_us: int, paused_until_us: int, interval_us: int, burst: int) -> int:
    """The TAT after a pause until ``paused_until_us``: the bucket is empty when the pause ends.

    The first request after the pause may go at ``paused_until_us``, the next one interval
    later: traffic resumes at the steady rate, never with a burst into a throttled upstream.
    """
    tat = empty_bucket_tat_us(now_us, interval_us, burst) if tat_us is None else tat_us
    return max(tat, paused_until_us + (burst - 1) * interval_us)
