"""What changed between two runs of an area: places added, removed, and changed (renamed,
recategorised, moved more than `MOVED_M`, attributes changed).

A place missing from the new run is counted as removed only when every tile of its source was
fetched in the new run: a tile that failed there proves nothing about its places, so such places
are counted per source under `not_compared` instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

from areafetch.geo import distance_m

__all__ = ["MOVED_M", "ChangeKind", "PlaceChange", "place_changes"]

MOVED_M = 5.0
"""A place is `moved` when its position changed by more than this (GPS noise and re-mapping of a
building's centre stay below it)."""

ChangeKind = Literal["added", "removed", "changed"]


class PlaceChange(BaseModel):
    change: ChangeKind
    source: str
    source_id: str
    name: str | None = Field(description="as in the new run (removed: as in the previous)")
    category: str
    lon: float | None = Field(description="None once Google's content expired")
    lat: float | None
    what: list[str] = Field(description="for `changed`: renamed, recategorised, moved, attributes")
    before: dict[str, Any] | None = Field(description="name, category, lon, lat in the previous run")


def place_changes(
    deltas: Iterable[Any], *, sources_with_failed_tiles: set[str]
) -> tuple[list[PlaceChange], Counter[str]]:
    """The changes (each `db.runs.PlaceDelta` weighed) and, per source, the places not compared."""
    changes: list[PlaceChange] = []
    not_compared: Counter[str] = Counter()
    for delta in deltas:
        if delta.after is None and delta.source in sources_with_failed_tiles:
            not_compared[delta.source] += 1
            continue
        change = _change(delta.source, delta.source_id, delta.before, delta.after)
        if change is not None:
            changes.append(change)
    return changes, not_compared


def _change(
    source: str, source_id: str, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> PlaceChange | None:
    seen = after or before
    assert seen is not None
    kind: ChangeKind = "added" if before is None else "removed" if after is None else "changed"
    what = [] if before is None or after is None else _what_changed(before, after)
    if kind == "changed" and not what:
        return None  # moved by less than MOVED_M
    public_before = None if before is None else {k: before[k] for k in ("name", "category", "lon", "lat")}
    return PlaceChange(
        change=kind,
        source=source,
        source_id=source_id,
        name=seen["name"],
        category=seen["category"],
        lon=seen["lon"],
        lat=seen["lat"],
        what=what,
        before=public_before if kind != "added" else None,
    )


def _what_changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    what = []
    if before["name"] != after["name"]:
        what.append("renamed")
    if before["category"] != after["category"]:
        what.append("recategorised")
    positions = (before["lon"], before["lat"], after["lon"], after["lat"])
    if None not in positions and distance_m(*positions) > MOVED_M:
        what.append("moved")
    if before["attributes_md5"] != after["attributes_md5"]:
        what.append("attributes")
    return what
