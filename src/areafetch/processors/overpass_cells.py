"""One Overpass fetch job: its cell, and the children the server's evidence splits it into.

The children stay inside the job rather than becoming new jobs: Overpass serves one query at a
time per client (`AREAFETCH_OVERPASS_MAX_IN_FLIGHT`, default 1), so more jobs would only wait on the
same limiter, and a BullMQ flow's parent cannot safely gain children once they run. What a job
would give, the job keeps: every child is a tile row of its own (`db.cells.split_tile`), its places
and `done` mark are one transaction, and a retried job fetches only the children not done yet.

A cell is split on a "runtime error" remark (timeout or out of memory), and on a second incomplete
answer in a row (504, timeout, cut-off or dropped body: once may be a busy server, twice on the same
cell is evidence it is too heavy; the first is noted on the tile and the job retries after its
backoff). It is split into the fewest children that fit when that is known: the OSM places of its
categories already stored inside it (counted, no call; `geo.split_to_fit` cuts the cell where they
lie) over `HEADROOM` of the smallest load that ever drew a remark; into quadrants when either is
unknown or the count says it should have fit. A cell at the deepest split (`AREAFETCH_MAX_SPLIT_DEPTH`) fails with the remark's text
instead of looping. A cell that succeeded is never fetched again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from areafetch.areas.sources import OSM_SOURCES
from areafetch.db import areas as area_queries
from areafetch.db.cells import note_incomplete, pending_leaves, split_tile
from areafetch.db.density import failed_capacity
from areafetch.db.place_reads import stored_points
from areafetch.db.places import upsert_area_places
from areafetch.geo import Tile
from areafetch.geo import split_tile as split_cell
from areafetch.geo._cells import split_to_fit
from areafetch.job_log import job_log
from areafetch.log import get_logger
from areafetch.processors.overpass_learning import HEADROOM, SOURCE, CellLoads, limits_key
from areafetch.providers import TileTooLarge
from areafetch.providers.overpass import AnswerIncomplete

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from areafetch.areas import Place
    from areafetch.jobs import FetchTilePayload
    from areafetch.processors.base import JobContext
    from areafetch.providers.overpass import CellPlaces

__all__ = ["CellOutcome", "CellTooHeavy", "fetch_overpass_cells"]

log = get_logger("areafetch.overpass_cells")

_INCOMPLETE = "incomplete answer"

FetchCell = Callable[[Tile], Awaitable[tuple["CellPlaces", int]]]
"""Fetch one cell: (places, upstream calls made); raises `CellTooHeavy` on a runtime-error remark."""
Clip = Callable[[list["Place"]], list["Place"]]


class CellTooHeavy(TileTooLarge):
    """The server could not answer the cell within its `[timeout:]` or `[maxsize:]`."""

    def __init__(self, message: str, *, calls: int) -> None:
        super().__init__(message)
        self.calls = calls


@dataclass
class CellOutcome:
    places: int = 0
    calls: int = 0
    splits: int = 0


async def fetch_overpass_cells(
    payload: FetchTilePayload,
    area: Any,
    categories: tuple[str, ...],
    ctx: JobContext,
    *,
    fetch_cell: FetchCell,
    clip: Clip,
) -> CellOutcome:
    """Fetch the job's cell, or what is left of it after earlier splits, until every leaf is done.

    Raises:
        CellTooHeavy: a cell at the deepest split still drew a runtime-error remark.
    """
    outcome = CellOutcome()
    engine = ctx.resources.engine
    max_depth = ctx.resources.settings.max_split_depth
    loads = CellLoads(categories, ctx.resources.settings.overpass_density_cell_deg)
    while True:
        async with engine.connect() as conn:
            leaves = await pending_leaves(
                conn, area_id=payload.area_id, source=payload.source, tile_id=payload.tile_id
            )
        if not leaves:
            async with engine.begin() as conn:
                await loads.record(conn, ctx.resources.settings)
            return outcome
        for leaf in leaves:
            cell = Tile.model_validate(leaf["geometry"])
            try:
                found, calls = await fetch_cell(cell)
            except CellTooHeavy as exc:
                outcome.calls += exc.calls
                if _depth(leaf["tile_id"]) >= max_depth:
                    raise CellTooHeavy(
                        f"cell {leaf['tile_id']} cannot be split further: {exc}", calls=0
                    ) from exc
                await _split(payload, leaf["tile_id"], cell, area, categories, str(exc), exc.calls, ctx)
                loads.split(leaf["tile_id"])
                outcome.splits += 1
                continue
            except AnswerIncomplete as exc:
                again = (leaf["failed_reason"] or "").startswith(_INCOMPLETE)
                if not again or _depth(leaf["tile_id"]) >= max_depth:
                    await _note_incomplete(payload, leaf["tile_id"], exc, ctx)
                    raise
                await _split(
                    payload, leaf["tile_id"], cell, area, categories, f"{_INCOMPLETE} twice: {exc}", 0, ctx
                )
                outcome.splits += 1
                continue
            outcome.calls += calls
            loads.answered(cell.model_copy(update={"id": leaf["tile_id"]}), found)
            async with engine.begin() as conn:
                written = await upsert_area_places(conn, area_id=payload.area_id, places=clip(found))
                await area_queries.complete_tile(
                    conn,
                    area_id=payload.area_id,
                    source=payload.source,
                    tile_id=leaf["tile_id"],
                    places_found=written,
                    upstream_calls=calls,
                )
            outcome.places += written


async def _note_incomplete(
    payload: FetchTilePayload, tile_id: str, exc: AnswerIncomplete, ctx: JobContext
) -> None:
    async with ctx.resources.engine.begin() as conn:
        await note_incomplete(
            conn,
            area_id=payload.area_id,
            source=payload.source,
            tile_id=tile_id,
            reason=f"{_INCOMPLETE}: {exc}",
        )


async def _split(
    payload: FetchTilePayload,
    tile_id: str,
    cell: Tile,
    area: Any,
    categories: tuple[str, ...],
    reason: str,
    calls: int,
    ctx: JobContext,
) -> None:
    async with ctx.resources.engine.connect() as conn:
        children = await _children(conn, cell.model_copy(update={"id": tile_id}), area, categories, ctx)
    async with ctx.resources.engine.begin() as conn:
        await split_tile(
            conn,
            area_id=payload.area_id,
            source=payload.source,
            tile_id=tile_id,
            children=[(child.id, child.model_dump(mode="json")) for child in children],
            upstream_calls=calls,
            reason=reason,
        )
    log.info("overpass.cell_split", tile=tile_id, children=len(children), reason=reason[:200])
    await job_log(f"cell {tile_id} split into {len(children)}: {reason[:200]}")


async def _children(
    conn: AsyncConnection, cell: Tile, area: Any, categories: tuple[str, ...], ctx: JobContext
) -> list[Tile]:
    """The fewest children the places counted in the cell say fit, or its quadrants."""
    capacity = await failed_capacity(conn, source=SOURCE, limits=limits_key(ctx.resources.settings))
    if capacity is not None:
        points = await stored_points(conn, sources=OSM_SOURCES, categories=categories, bbox=cell.bbox)
        most = capacity * HEADROOM
        if len(points) > most:  # else the count says it should have fit: it is stale, or wrong
            return await ctx.resources.cpu.run(
                split_to_fit, cell, area, np.asarray(points, dtype=float), most
            )
    return split_cell(cell, area)


def _depth(tile_id: str) -> int:
    return tile_id.count("/")
