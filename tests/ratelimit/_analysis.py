"""Checks on recorded grant times (server microseconds), shared by the tests of this package."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

US_PER_S = 1_000_000


def bound_excess(times_us: Sequence[int], *, burst: int, rate_per_s: float) -> float:
    """The largest ``count - (burst + rate * W)`` over every window ``[t_i, t_j]`` of the grants.

    The tightest windows start and end on grants, so checking every pair is exhaustive;
    a value <= 0 means every sliding window, whatever its length, obeys the bound.
    """
    times = sorted(times_us)
    worst = float("-inf")
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            allowed = burst + rate_per_s * (times[j] - start) / US_PER_S
            worst = max(worst, (j - i + 1) - allowed)
    return worst


def max_in_window(times_us: Sequence[int], window_us: int) -> int:
    """The most grants in any closed window of length ``window_us``."""
    times = sorted(times_us)
    best, lo = 0, 0
    for hi, end in enumerate(times):
        while end - times[lo] > window_us:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def max_overlap(intervals: Iterable[tuple[int, int]]) -> int:
    """The most intervals ``[start, end]`` open at the same time."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best
