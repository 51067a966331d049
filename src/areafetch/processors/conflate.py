"""Conflation at the end of an area: link the records of its sources that are one real place.

The area's places are read a page at a time into the matcher's small records, and the matching runs
in the CPU pool (a region's tens of thousands of places must not stall the worker's event loop).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from areafetch.conflation import Link, MatchPlace, link_places
from areafetch.conflation.merged import match_place
from areafetch.db.place_links import area_place_pages
from areafetch.processors.base import JobContext

__all__ = ["Conflation", "conflate_area"]


@dataclass(frozen=True, slots=True)
class Conflation:
    links: list[Link]
    places_merged: int
    """Real places: every stored place, less one per link."""
    places_in_several_sources: int
    places_only_in_source: dict[str, int]


async def conflate_area(ctx: JobContext, area_id: uuid.UUID) -> Conflation:
    """The links between the area's places of different sources, and what they add up to."""
    records: list[MatchPlace] = []
    sources: dict[int, str] = {}
    async with ctx.resources.engine.connect() as conn:
        async for rows in area_place_pages(conn, area_id=area_id):
            for row in rows:
                sources[row.id] = row.source
                record = match_place(row)
                if record is not None:
                    records.append(record)
    several = len({record.source for record in records}) > 1
    links = await ctx.resources.cpu.run(link_places, records) if several else []
    return _counted(links, sources)


def _counted(links: list[Link], sources: dict[int, str]) -> Conflation:
    linked = {link.place_id for link in links} | {link.group_id for link in links}
    only_in: dict[str, int] = {}
    for place_id, source in sources.items():
        if place_id not in linked:
            only_in[source] = only_in.get(source, 0) + 1
    return Conflation(
        links=links,
        places_merged=len(sources) - len(links),
        places_in_several_sources=len({link.group_id for link in links}),
        places_only_in_source=only_in,
    )
