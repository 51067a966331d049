"""Reuse before fetching (`AREAFETCH_REUSE_MAX_AGE_S`): a tile whose places an earlier area already
holds is served from the database, with no upstream call.

The donor is an area that asked the same source for the same categories, whose run started within
the window, whose tiles of that source were all fetched, and whose geometry covers the part of this
area the tile stands for: then its places of that source there are exactly what the upstream would
answer (as of the donor's run). A refresh inside the window, an area inside an earlier one, and the overlap of two
areas cost no calls. Off by default: within the window, a change upstream is not seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shapely.geometry import Polygon, box

from areafetch.db import areas as area_queries
from areafetch.db.place_reads import places_in_bbox
from areafetch.db.places import upsert_area_places
from areafetch.geo import Circle, Tile, circle_polygon, contains_many, parse_area
from areafetch.processors._shared import log

if TYPE_CHECKING:
    from areafetch.jobs import FetchTilePayload
    from areafetch.processors.base import JobContext

__all__ = ["reuse_tile"]


async def reuse_tile(
    payload: FetchTilePayload, unit: dict[str, Any], area: dict[str, Any], ctx: JobContext
) -> int | None:
    """Store the tile's places from a donor area and mark it done (reused); None when none fits."""
    max_age_s = ctx.resources.settings.reuse_max_age_s
    if not max_age_s or payload.source == "osm_extract":  # the extract makes no call to save
        return None
    footprint = _footprint(payload.source, unit)
    mine = parse_area(area["geometry"], max_vertices=10**9, max_area_km2=None)
    needed = footprint.intersection(mine)  # what the tile's fetch would store
    if needed.is_empty:
        return None
    async with ctx.resources.engine.connect() as conn:
        donors = await area_queries.reuse_candidates(
            conn,
            area_id=payload.area_id,
            source=payload.source,
            categories=area["categories"],
            bbox=needed.bounds,
            max_age_s=max_age_s,
        )
    donor = next((d for d in donors if _geometry(d).covers(needed)), None)
    if donor is None:
        return None
    async with ctx.resources.engine.begin() as conn:
        found = await places_in_bbox(conn, area_id=donor["id"], source=payload.source, bbox=needed.bounds)
        lons, lats = [p.lon for p in found], [p.lat for p in found]
        keep = contains_many(footprint, lons, lats) & contains_many(mine, lons, lats)
        written = await upsert_area_places(
            conn, area_id=payload.area_id, places=[p for p, inside in zip(found, keep, strict=True) if inside]
        )
        await area_queries.complete_tile(
            conn,
            area_id=payload.area_id,
            source=payload.source,
            tile_id=payload.tile_id,
            places_found=written,
            upstream_calls=0,
            reused_from=donor["id"],
        )
    log.info(
        "tile.reused",
        area_id=str(payload.area_id),
        tile=payload.tile_id,
        donor=str(donor["id"]),
        places=written,
    )
    return written


def _geometry(donor: dict[str, Any]) -> Any:
    return parse_area(donor["geometry"], max_vertices=10**9, max_area_km2=None)


def _footprint(source: str, unit: dict[str, Any]) -> Polygon:
    if source == "google_places":
        return circle_polygon(Circle.model_validate(unit))
    if source == "overpass":
        return Tile.model_validate(unit).geometry()
    west, south, east, north = unit["bbox"]
    return box(west, south, east, north)
