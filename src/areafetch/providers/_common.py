"""What the upstream clients share: throttle pauses, Retry-After, error text from HTML pages."""

from __future__ import annotations

import html
import logging
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from areafetch.ratelimit import pause_duration_s

if TYPE_CHECKING:
    import httpx

    from areafetch.ratelimit import Limiter

log = logging.getLogger(__name__)

# Long enough for a sentence of an error page, short enough for a log line or a job's failed reason.
MAX_MESSAGE_CHARS = 500

_TAG = re.compile(r"<[^>]*>")
_DROP_BLOCKS = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def text_of(body: bytes | str, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """The readable text of a response body: HTML tags, scripts and entities removed, spaces folded."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = _DROP_BLOCKS.sub(" ", text)
    text = html.unescape(_TAG.sub(" ", text))
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retry_after_s(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class ThrottleTracker:
    """Turns consecutive throttles of one client into growing shared pauses on its limiter.

    Each throttle in a row doubles the pause (from ``minimum_s``); a success starts again.

    Args:
        limiter: the upstream's shared limiter; the pause stops every worker using it.
        minimum_s: the shortest pause (Overpass asks for 30 s after a 429).
        cap_s: the longest backoff (a longer Retry-After is still honoured).
    """

    def __init__(self, limiter: Limiter, *, minimum_s: float, cap_s: float = 900.0) -> None:
        if not minimum_s > 0:
            raise ValueError("minimum_s must be > 0")
        self._limiter = limiter
        self._minimum_s = minimum_s
        self._cap_s = max(cap_s, minimum_s)
        self._in_a_row = 0

    @property
    def in_a_row(self) -> int:
        """Throttles since the last success."""
        return self._in_a_row

    def succeeded(self) -> None:
        self._in_a_row = 0

    async def throttled(self, retry_after: float | None) -> float:
        """Pause the limiter for ``max(Retry-After, minimum, backoff)`` plus jitter; return the pause."""
        self._in_a_row += 1
        pause_s = pause_duration_s(
            attempt=self._in_a_row,
            retry_after_s=retry_after,
            minimum_s=self._minimum_s,
            base_s=self._minimum_s,
            cap_s=self._cap_s,
        )
        await self._limiter.pause(pause_s)
        log.warning(
            "upstream throttled: limiter %s paused %.1f s (%d in a row)",
            self._limiter.name,
            pause_s,
            self._in_a_row,
        )
        return pause_s
