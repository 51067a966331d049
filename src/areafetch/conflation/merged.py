"""Stored places into the matcher's records, and a group of linked places into one record.

A merged place takes its name, category and position from its first record in `SOURCE_PREFERENCE`
that has them (OpenStreetMap before Google: open data, placed by people who were there, and not
subject to Google's retention), and the union of its records' attributes, each attribute naming the
source it came from (the preferred source's value where two have one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from areafetch.conflation.kinds import kinds_of_google_place, kinds_of_osm_place
from areafetch.conflation.matcher import MatchPlace
from areafetch.db.place_reads import PlaceRow

__all__ = ["SOURCE_PREFERENCE", "LinkedRow", "MergedPlace", "match_place", "merge"]

SOURCE_PREFERENCE: Final = ("overpass", "osm_extract", "google_places")


def match_place(row: PlaceRow) -> MatchPlace | None:
    """The matcher's record of a stored place; None for one without a position (expired Google)."""
    if row.lon is None or row.lat is None:
        return None
    attributes = row.attributes
    if row.source == "google_places":
        kinds = kinds_of_google_place(row.category, attributes.get("types") or ())
    else:
        kinds = kinds_of_osm_place(row.category, attributes)
    return MatchPlace(
        id=row.id,
        source=row.source,
        source_id=row.source_id,
        name=row.name,
        kinds=kinds,
        lon=row.lon,
        lat=row.lat,
        phone=_text(attributes.get("phone")),
        website=_text(attributes.get("website")),
    )


@dataclass(frozen=True, slots=True)
class LinkedRow:
    """A place of a group and, unless it is the group's first place, the link that joined it."""

    row: PlaceRow
    linked_with: int | None = None
    score: float | None = None
    reasons: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class MergedPlace:
    id: int
    """The group's smallest place id: stable while the area's links are."""
    records: tuple[PlaceRow, ...]
    """The group's places in `SOURCE_PREFERENCE` order."""
    match_score: float | None
    """The weakest link's score; None for a place only one source has."""
    links: tuple[dict[str, Any], ...]
    name: str | None
    category: str
    lon: float | None
    lat: float | None
    attributes: dict[str, dict[str, Any]]
    """name -> {"value", "source"}."""


def merge(group: Sequence[LinkedRow]) -> MergedPlace:
    """One record of a group of linked places (a single place is a group of one)."""
    records = tuple(sorted((linked.row for linked in group), key=_preference))
    links = tuple(
        {
            "place_id": linked.row.id,
            "linked_with": linked.linked_with,
            "score": linked.score,
            "reasons": linked.reasons,
        }
        for linked in group
        if linked.linked_with is not None
    )
    positioned = next((row for row in records if row.lon is not None), None)
    return MergedPlace(
        id=min(row.id for row in records),
        records=records,
        match_score=min((linked.score for linked in group if linked.score is not None), default=None),
        links=links,
        name=next((row.name for row in records if row.name), None),
        category=records[0].category,
        lon=None if positioned is None else positioned.lon,
        lat=None if positioned is None else positioned.lat,
        attributes=_union(records),
    )


def _union(records: Sequence[PlaceRow]) -> dict[str, dict[str, Any]]:
    attributes: dict[str, dict[str, Any]] = {}
    for row in records:
        for name, value in row.attributes.items():
            if name not in attributes and value not in (None, "", [], {}):
                attributes[name] = {"value": value, "source": row.source}
    return attributes


def _preference(row: PlaceRow) -> tuple[int, int]:
    order = SOURCE_PREFERENCE.index(row.source) if row.source in SOURCE_PREFERENCE else len(SOURCE_PREFERENCE)
    return order, row.id


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
