"""The exceptions areafetch raises, translated from library errors at each boundary.

AreafetchError
├── ConfigurationError        settings or environment unusable
├── ServiceUnavailable        Redis or PostgreSQL cannot be reached
├── JobNotFound               no job with that id in any queue
├── JobStateConflict          a job is in a state that does not allow the operation
├── AreaStateConflict         an area is in a state that does not allow the operation
├── InvalidPayload            a job payload failed validation (never retried)
├── InvalidArea               an area cannot be planned
├── InvalidField              a request field holds a value the service cannot use
├── Unauthorized              a request lacks a valid API token
├── TooManyRequests           a client submits faster than it may
├── BudgetExhausted           a daily request/byte budget is spent
├── LimiterTimeout            the next rate-limit slot is further away than max_wait_s
└── UpstreamError             an external API failed
    ├── UpstreamThrottled     429 / "too busy": retry after a shared pause
    └── UpstreamRejected      400/403/406: retrying cannot help
"""

from __future__ import annotations


class AreafetchError(Exception):
    """Base class of every error areafetch raises on purpose."""


class ConfigurationError(AreafetchError):
    """Settings or environment are unusable."""


class ServiceUnavailable(AreafetchError):
    """A backing service (Redis, PostgreSQL) cannot be reached."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} unavailable: {detail}")
        self.service = service
        self.detail = detail


class JobNotFound(AreafetchError):
    """No job with this id exists in any queue."""


class JobStateConflict(AreafetchError):
    """A job is in a state that does not allow the operation (retry a running job, cancel a finished one)."""


class AreaStateConflict(AreafetchError):
    """An area is in a state that does not allow the operation (delete a running area)."""


class AreaCancelled(AreafetchError):
    """The area was cancelled: its jobs make no more upstream calls."""


class AreaNotFound(AreafetchError):
    """No area with this id exists."""


class InvalidPayload(AreafetchError):
    """A job payload failed validation; the message lists the field errors."""


class InvalidArea(AreafetchError):
    """An area cannot be planned (geometry or size)."""


class InvalidField(AreafetchError):
    """A request field holds a value the service cannot use (it passed the schema, not our rules)."""

    def __init__(self, field: str, message: str, *, location: str = "body") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.location = location  # body, query, path


class Unauthorized(AreafetchError):
    """A request lacks a valid API token."""


class TooManyRequests(AreafetchError):
    """A client submits faster than it may; it may retry after `retry_after_s`."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BudgetExhausted(AreafetchError):
    """A daily budget of an upstream is spent."""


class LimiterTimeout(AreafetchError):
    """The next rate-limit slot is further away than the caller may wait."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UpstreamError(AreafetchError):
    """An external API failed."""


class UpstreamThrottled(UpstreamError):
    """The upstream asked us to slow down (429, or Overpass "too busy")."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UpstreamRejected(UpstreamError):
    """The upstream refused the request itself; retrying cannot help."""
