"""How long to pause an upstream that throttled us; the decision to pause is the provider's."""

from __future__ import annotations

import random

__all__ = ["pause_duration_s"]

_rng = random.Random()


def pause_duration_s(
    *,
    attempt: int,
    retry_after_s: float | None = None,
    minimum_s: float = 0.0,
    base_s: float = 1.0,
    cap_s: float = 900.0,
    jitter_ratio: float = 0.2,
    rng: random.Random | None = None,
) -> float:
    """``max(Retry-After, minimum, exponential backoff)``, plus up to ``jitter_ratio`` of it.

    The jitter only ever lengthens the pause, so it never undercuts what the upstream asked
    for, and spreads the restart of many workers.

    Args:
        attempt: how many times in a row the upstream has throttled us (1 for the first).
        retry_after_s: the upstream's Retry-After, if it sent one.
        minimum_s: a floor of the upstream's (Overpass asks for at least 30 s after a 429).
        base_s: the backoff of the first attempt; it doubles with each further one.
        cap_s: the longest backoff (a longer Retry-After is still honoured).
        jitter_ratio: the most the pause is lengthened by, as a fraction of it.
        rng: a random source, for reproducible tests.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    backoff_s = min(cap_s, base_s * 2.0 ** min(attempt - 1, 64))
    pause_s = max(retry_after_s or 0.0, minimum_s, backoff_s)
    return pause_s * (1.0 + jitter_ratio * (rng or _rng).random())
