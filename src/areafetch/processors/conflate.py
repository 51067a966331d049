"""Conflation at the end of an area: link the records of its sources that are one real place.

The area's places are read a page at a time into the matcher's small records, and the matching runs
in the CPU pool (a region's tens of thousands of places must not stall the worker's event loop). An
area of one source has nothing to link and reads nothing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from areafetch.conflation import Link, MatchPlace, link_places
from areafetch.conflation.merged import match_place
from areafetch.db.place_links import area_place_pages
from areafetch.processors.base import JobContext

__all__ = ["Conflation", "conflate_area"]


@dataclass(frozen=True, slots=True)
class Conflation:
    links: list[Link] = field(default_factory=list)
    linked_records: Mapping[str, int] = field(default_factory=dict)
    """Per source, its records linked to another source's."""

    def summary(self, places_by_source: Mapping[str, int]) -> dict[str, object]:
        """The summary's counts of real places, given the area's records per source."""
        only_in = {
            source: count - self.linked_records.get(source, 0) for source, count in places_by_source.items()
        }
        return {
            "places_merged": sum(places_by_source.values()) - len(self.links),
            "places_in_several_sources": len({link.group_id for link in self.links}),
            "places_only_in_source": {source: count for source, count in only_in.items() if count},
        }


async def conflate_area(ctx: JobContext, area_id: uuid.UUID, sources: Sequence[str]) -> Conflation:
    """The links between the area's places of different sources."""
    if len(sources) < 2:
        return Conflation()
    records: list[MatchPlace] = []
    async with ctx.resources.engine.connect() as conn:
        async for rows in area_place_pages(conn, area_id=area_id):
            records.extend(record for row in rows if (record := match_place(row)) is not None)
    links = await ctx.resources.cpu.run(link_places, records)
    source_of = {record.id: record.source for record in records}
    linked = {link.place_id for link in links} | {link.group_id for link in links}
    return Conflation(links, Counter(source_of[place_id] for place_id in linked))
