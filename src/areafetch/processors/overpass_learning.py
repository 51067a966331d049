"""Overpass planning that learns: what each fetched cell held, and what the next plan does with it.

When a fetch job's cell is done, what its answered leaves held is recorded per category and coarse
cell (`db.density.record_density`, cell size `AREAFETCH_OVERPASS_DENSITY_CELL_DEG`), and its splits record how many places the cell that drew the remark
turned out to hold (`db.density.record_capacity`, per query limits), as does an answer that came
within 10 % of the query's `[maxsize:]`. When the next area is planned
over a region seen before, a cell expected to hold more than `HEADROOM` of the smallest load that
ever drew a remark is cut into quadrants before any request (`geo._cells.fit_cells`): the second
area over a region needs no split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import shapely

from areafetch.db.density import densities, failed_capacity, record_capacity, record_density
from areafetch.geo import Tile, parse_area
from areafetch.geo._cells import fit_cells
from areafetch.geo._density import coarse_overlaps, estimate_places, places_by_coarse_cell

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from areafetch.config import Settings
    from areafetch.processors.base import JobContext
    from areafetch.providers.overpass import CellPlaces

__all__ = ["HEADROOM", "SOURCE", "CellLoads", "fit_planned_cells", "limits_key"]

SOURCE: Final = "overpass"
# Plan cells to at most this share of the smallest load that ever drew a remark.
HEADROOM: Final = 0.8

FetchUnit = tuple[str, str, dict[str, Any]]


def limits_key(settings: Settings) -> str:
    """What a cell can hold depends on the limits its query declares."""
    return f"timeout={settings.overpass_timeout_s:g},maxsize={settings.overpass_maxsize_bytes}"


class CellLoads:
    """What one job's answered cells held, recorded once every leaf is done.

    The places of each leaf (to learn how many a cell that drew a remark held), and per category and
    coarse cell the places and km² of all leaves together: the job's whole cell is one observation,
    truer than any of its parts.
    """

    def __init__(self, categories: Sequence[str], cell_deg: float) -> None:
        self._categories = list(categories)
        self._cell_deg = cell_deg
        self._leaves: dict[str, int] = {}
        self._split: list[str] = []
        self._near_limit: list[int] = []
        self._comfortable: int | None = None  # the most places of a leaf answered well within limits
        self._counts: Counter[tuple[str, str]] = Counter()
        self._km2: dict[str, float] = {}

    def answered(self, cell: Tile, found: CellPlaces) -> None:
        self._leaves[cell.id] = len(found)
        if found.near_maxsize:  # answered, but at the limit: as good as a remark for the next plan
            self._near_limit.append(len(found))
        else:
            self._comfortable = max(self._comfortable or 0, len(found))
        points = ((place.category, place.lon, place.lat) for place in found)
        self._counts.update(places_by_coarse_cell(points, self._cell_deg))
        for key, km2 in coarse_overlaps(cell.geometry(), self._cell_deg).items():
            self._km2[key] = self._km2.get(key, 0.0) + km2

    def split(self, tile_id: str) -> None:
        self._split.append(tile_id)

    async def record(self, conn: AsyncConnection, settings: Settings) -> None:
        if not self._leaves:
            return
        await record_density(
            conn,
            source=SOURCE,
            counts=self._counts,
            observed_km2=self._km2,
            categories=self._categories,
        )
        failed = [
            sum(places for leaf, places in self._leaves.items() if leaf.startswith(f"{tile_id}/"))
            for tile_id in self._split
        ]
        known = [load for load in failed if load > 0] + self._near_limit
        await record_capacity(
            conn,
            source=SOURCE,
            limits=limits_key(settings),
            failed_places=min(known) if known else None,
            answered_places=self._comfortable,
        )


async def fit_planned_cells(
    units: list[FetchUnit], geometry: dict[str, Any], categories: Sequence[str], ctx: JobContext
) -> list[FetchUnit]:
    """Cut the planned Overpass cells that the densities learned so far say are too heavy."""
    if not any(source == SOURCE for source, _, _ in units):
        return units
    settings = ctx.resources.settings
    area = parse_area(geometry, max_vertices=10**9, max_area_km2=None)
    async with ctx.resources.engine.connect() as conn:
        capacity = await failed_capacity(conn, source=SOURCE, limits=limits_key(settings))
        if capacity is None:
            return units
        cell_deg = settings.overpass_density_cell_deg
        density = await densities(
            conn,
            source=SOURCE,
            categories=categories,
            cells=list(coarse_overlaps(shapely.box(*area.bounds), cell_deg)),
        )
    if not density:
        return units
    fitted: list[FetchUnit] = []
    for source, tile_id, unit in units:
        if source != SOURCE:
            fitted.append((source, tile_id, unit))
            continue
        cells = fit_cells(
            Tile.model_validate(unit),
            area,
            lambda polygon: estimate_places(polygon, density, cell_deg),
            most_places=capacity * HEADROOM,
            depth_left=settings.max_split_depth,
        )
        fitted += [(SOURCE, cell.id, cell.model_dump(mode="json")) for cell in cells]
    return fitted
