"""An area's states: where it is in its life, and which of them mean work is still under way."""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = ["AREA_STATES", "FINISHED_STATES", "UNFINISHED_STATES", "AreaState"]

AreaState = Literal["queued", "planning", "running", "completed", "partial", "failed", "cancelled"]
AREA_STATES: Final[tuple[AreaState, ...]] = get_args(AreaState)
UNFINISHED_STATES: Final[tuple[AreaState, ...]] = ("queued", "planning", "running")
"""States in which jobs may still write to the area: it cannot be deleted then."""
FINISHED_STATES: Final[tuple[AreaState, ...]] = ("completed", "partial", "failed", "cancelled")
"""States an area ends in until it is retried: `partial` when some tiles failed for good and others
were fetched, `failed` when nothing could be fetched or it was refused before it started."""
