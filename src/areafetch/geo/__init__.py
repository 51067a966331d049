"""Area geometry: validation, Overpass tiles, Google circles, estimates and clipping.

Pure CPU work without I/O: every public function is plain, top-level and picklable, so the worker
runs it in its process pool (`areafetch.cpu.CpuPool`). Coordinates are WGS84 degrees, lon before
lat, and edges are straight lines in lon/lat; areas are geodesic (pyproj, WGS84 ellipsoid).

    parse_area(area)            GeoJSON Polygon/MultiPolygon or bbox -> validated shapely geometry
    plan_area(area, sources)    -> AreaPlan: tiles, circles, area km², bbox, upstream call estimates
    tile_area / split_tile      Overpass tiles of bounded area, and their quadrants
    cover_with_circles / split_circle
                                Google circles of at most 50 km that cover an area, and their splits
    contains / contains_many    clip places to the area (boundary counts as inside)
"""

from __future__ import annotations

from areafetch.geo._area import (
    DEFAULT_MAX_AREA_KM2,
    DEFAULT_MAX_VERTICES,
    Area,
    area_from_bbox,
    area_from_geojson,
    bbox_area_km2,
    distance_m,
    geodesic_area_km2,
    measured_area,
    parse_area,
    validate_area,
    vertex_count,
)
from areafetch.geo._circles import circle_polygon, cover_with_circles, split_circle
from areafetch.geo._clip import contains, contains_many
from areafetch.geo._plan import AreaInput, estimate_upstream_calls, plan_area
from areafetch.geo._tiles import DEFAULT_MAX_POLY_VERTICES, covering_ring, split_tile, tile_area
from areafetch.geo.models import (
    MAX_CIRCLE_RADIUS_M,
    AreaPlan,
    BBox,
    Circle,
    GeoJSONMultiPolygon,
    GeoJSONPolygon,
    LonLat,
    PlanOptions,
    Tile,
)

__all__ = [
    "DEFAULT_MAX_AREA_KM2",
    "DEFAULT_MAX_POLY_VERTICES",
    "DEFAULT_MAX_VERTICES",
    "MAX_CIRCLE_RADIUS_M",
    "Area",
    "AreaInput",
    "AreaPlan",
    "BBox",
    "Circle",
    "GeoJSONMultiPolygon",
    "GeoJSONPolygon",
    "LonLat",
    "PlanOptions",
    "Tile",
    "area_from_bbox",
    "area_from_geojson",
    "bbox_area_km2",
    "circle_polygon",
    "contains",
    "contains_many",
    "cover_with_circles",
    "covering_ring",
    "distance_m",
    "estimate_upstream_calls",
    "geodesic_area_km2",
    "measured_area",
    "parse_area",
    "plan_area",
    "split_circle",
    "split_tile",
    "tile_area",
    "validate_area",
    "vertex_count",
]
