"""The call-budget rule: whether an area's planned upstream calls may be made now.

The estimate (`POST /api/areas/estimate`) and the worker's plan job both apply it, so the
estimate's "accepted" is the worker's decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from areafetch.areas.sources import Source
from areafetch.ratelimit import LimiterStatus

__all__ = ["budget_refusals", "fits_budget"]


def fits_budget(needed: int, status: LimiterStatus | None) -> bool:
    """Whether `needed` calls fit what is left of today's budget (`status` None: no limiter, no budget)."""
    if not needed or status is None:
        return True
    return not status.budget_exhausted and (status.requests_left is None or needed <= status.requests_left)


def budget_refusals(
    calls: Mapping[Source, int],
    statuses: Mapping[Source, LimiterStatus],
    *,
    max_calls_per_job: int,
    google_money: Callable[[int, int | None], str | None] | None = None,
) -> list[str]:
    """Why the planned `calls` would be refused: the per-job cap, then each source's daily budget.

    `google_money(needed, requests_left)`: the reason in money when Google's budget is one
    (`providers.google_prices.money_refusal`), else None for the reason in calls."""
    reasons: list[str] = []
    total = sum(calls.values())
    if total > max_calls_per_job:
        described = ", ".join(f"{source} {count}" for source, count in calls.items())
        reasons.append(
            f"the area needs {total} upstream calls ({described}); the per-job cap is {max_calls_per_job} "
            "(AREAFETCH_MAX_UPSTREAM_CALLS_PER_JOB)"
        )
    for source, needed in calls.items():
        status = statuses.get(source)
        if status is not None and not fits_budget(needed, status):
            left = status.requests_left
            money = google_money(needed, left) if google_money and source == "google_places" else None
            if money is not None:
                reasons.append(money)
                continue
            spent = (
                f"only {left} are left in today's budget"
                if left is not None
                else "today's byte budget is spent"
            )
            reasons.append(f"the area needs {needed} {source} calls but {spent}")
    return reasons
