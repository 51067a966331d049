"""The distributed rate limiter shared by every worker (see DESIGN.md, "The rate limiter").

Usage::

    limiter = Limiter(redis, "overpass", policy_for(settings, "overpass"))
    async with limiter.acquire():      # a rate slot and an in-flight lease, first come first served
        ...                            # the call to the upstream
    await limiter.pause(seconds)       # on 429: every holder of the name waits
    await limiter.status()             # next free slot, in flight, paused until, budget left
"""

from areafetch.ratelimit.backoff import pause_duration_s
from areafetch.ratelimit.gate import checked_before_each_call
from areafetch.ratelimit.limiter import Limiter
from areafetch.ratelimit.models import Grant, LimiterStatus
from areafetch.ratelimit.policy import LimitPolicy, policy_for

__all__ = [
    "Grant",
    "LimitPolicy",
    "Limiter",
    "LimiterStatus",
    "checked_before_each_call",
    "pause_duration_s",
    "policy_for",
]
