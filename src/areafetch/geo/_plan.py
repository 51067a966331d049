"""The planner: one picklable top-level function from an area to its `AreaPlan`."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeAlias

from shapely.geometry import MultiPolygon, Polygon

from areafetch.areas.sources import SOURCES, Source
from areafetch.geo._area import Area, measured_area, vertex_count
from areafetch.geo._cells import plan_cells
from areafetch.geo._circles import cover_with_circles
from areafetch.geo.models import (
    AreaPlan,
    BBox,
    GeoJSONMultiPolygon,
    GeoJSONPolygon,
    PlanOptions,
)

__all__ = ["AreaInput", "estimate_upstream_calls", "plan_area"]

AreaInput: TypeAlias = Mapping[str, Any] | Sequence[float] | Polygon | MultiPolygon

_SOURCES = SOURCES


def plan_area(
    area: AreaInput,
    sources: Collection[Source] = _SOURCES,
    options: PlanOptions | None = None,
) -> AreaPlan:
    """Validate an area and plan its upstream requests: tiles, circles, estimates.

    Plain and top-level so `CpuPool.run(plan_area, area, sources, options)` can send it to a worker
    process; every argument and the result pickle.

    Args:
        area: A GeoJSON Polygon/MultiPolygon object, a bbox `[west, south, east, north]`, or a shapely
            geometry (validated the same way).
        sources: The sources to plan for.
        options: Limits and sizes; the defaults of `PlanOptions` when None.

    Returns:
        The plan.

    Raises:
        InvalidArea: The area is invalid, too large, or needs more than `options.max_units` tiles or
            circles.
    """
    options = options or PlanOptions()
    geometry, area_km2 = measured_area(
        area, max_vertices=options.max_vertices, max_area_km2=options.max_area_km2
    )
    planned = tuple(source for source in _SOURCES if source in set(sources))
    # Tiles only for Overpass: nothing else reads them, and on a country outline they are most of the
    # planning time (bench/planning.py).
    tiles = (
        plan_cells(
            geometry,
            max_cell_km2=options.max_tile_km2,
            max_poly_vertices=options.max_poly_vertices,
            max_cells=options.max_units,
        )
        if "overpass" in planned
        else []
    )
    circles = (
        cover_with_circles(geometry, max_radius_m=options.max_circle_radius_m, max_circles=options.max_units)
        if "google_places" in planned
        else []
    )
    west, south, east, north = geometry.bounds
    bbox: BBox = (west, south, east, north)
    return AreaPlan(
        area=_geojson(geometry),
        area_km2=area_km2,
        bbox=bbox,
        vertex_count=vertex_count(geometry),
        sources=planned,
        tiles=tuple(tiles),
        circles=tuple(circles),
        upstream_calls=estimate_upstream_calls(planned, tiles=len(tiles), circles=len(circles)),
        options=options,
    )


def estimate_upstream_calls(sources: Collection[Source], *, tiles: int, circles: int) -> dict[Source, int]:
    """Upstream requests per source before any split: tiles for Overpass, circles for Google, none for
    a local extract."""
    counts: dict[Source, int] = {"overpass": tiles, "google_places": circles, "osm_extract": 0}
    return {source: counts[source] for source in _SOURCES if source in sources}


def _geojson(geometry: Area) -> GeoJSONPolygon | GeoJSONMultiPolygon:
    if isinstance(geometry, Polygon):
        return GeoJSONPolygon.from_shapely(geometry)
    return GeoJSONMultiPolygon.from_shapely(geometry)
