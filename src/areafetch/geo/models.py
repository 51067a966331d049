"""The plan data that travels in job payloads: tiles, circles, the plan of an area.

Geometry travels as GeoJSON (RFC 7946: WGS84 lon/lat, exterior rings counter-clockwise), never as
WKT: a Node.js producer or a browser reads it without a geometry library, and the JSON Schema
exported from these models describes it. Floats round-trip exactly through JSON.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import MultiPolygon, Polygon

from areafetch.areas.sources import Source

__all__ = [
    "MAX_CIRCLE_RADIUS_M",
    "AreaPlan",
    "BBox",
    "Circle",
    "GeoJSONMultiPolygon",
    "GeoJSONPolygon",
    "LonLat",
    "PlanOptions",
    "Tile",
]

MAX_CIRCLE_RADIUS_M = 50_000.0
"""Places API (New) Nearby Search accepts a circle radius of at most 50 km."""

LonLat = tuple[float, float]
BBox = tuple[float, float, float, float]
"""`(west, south, east, north)` in degrees, the GeoJSON bbox order."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeoJSONPolygon(_Frozen):
    """A GeoJSON Polygon: `coordinates` is a list of closed rings of `[lon, lat]`, exterior first."""

    type: Literal["Polygon"] = "Polygon"
    coordinates: tuple[tuple[LonLat, ...], ...]

    @classmethod
    def from_shapely(cls, polygon: Polygon) -> GeoJSONPolygon:
        """The GeoJSON form of a shapely polygon (coordinates copied as they are)."""
        return cls(coordinates=_rings(polygon))

    def to_shapely(self) -> Polygon:
        """The shapely polygon."""
        shell, *holes = self.coordinates
        return Polygon(shell, holes)


class GeoJSONMultiPolygon(_Frozen):
    """A GeoJSON MultiPolygon: a list of polygons, each a list of closed rings."""

    type: Literal["MultiPolygon"] = "MultiPolygon"
    coordinates: tuple[tuple[tuple[LonLat, ...], ...], ...]

    @classmethod
    def from_shapely(cls, multipolygon: MultiPolygon) -> GeoJSONMultiPolygon:
        """The GeoJSON form of a shapely multipolygon."""
        return cls(coordinates=tuple(_rings(polygon) for polygon in multipolygon.geoms))

    def to_shapely(self) -> MultiPolygon:
        """The shapely multipolygon."""
        return MultiPolygon([(shell, holes) for shell, *holes in self.coordinates])


def _rings(polygon: Polygon) -> tuple[tuple[LonLat, ...], ...]:
    # Through numpy's `tolist` (Python floats, altitude dropped): per-coordinate loops in Python cost a
    # quarter of a second on a 50,000-vertex country outline.
    rings = [polygon.exterior, *polygon.interiors]
    return tuple(tuple(map(tuple, shapely.get_coordinates(ring).tolist())) for ring in rings)


def _coordinate(value: float) -> str:
    # Shortest exact decimal, never an exponent: a rounded vertex could cut a sliver off the area.
    return np.format_float_positional(value, trim="-")


class Tile(_Frozen):
    """One Overpass request unit: a cell and the part of the area inside it.

    Attributes:
        id: Planned cells are `c{group}-{row}-{col}` (`plan_cells`: a grid over the area's bbox);
            global grid tiles are `g{rows}-y{row}-x{col}` (`tile_area`); a split child appends `/0` (south-west), `/1` (south-east), `/2`
            (north-west) or `/3` (north-east) to its parent's id (quadrants, `split_tile`), or
            `/0` ... `/k` (cut to fit the places already counted, `split_to_fit`).
        bbox: The grid cell `(west, south, east, north)`.
        polygon: One ring without holes (the Overpass `poly:` filter takes nothing else) that covers
            the part of the area inside `bbox`, with at most the planned number of vertices. It may
            reach a little outside the area; places are clipped to the area afterwards.
        full: The area covers the whole cell, so `polygon` is the cell itself and a bbox filter is
            equivalent to (and cheaper than) the poly filter.
    """

    id: str = Field(min_length=1, max_length=512)
    bbox: BBox
    polygon: GeoJSONPolygon
    full: bool

    def geometry(self) -> Polygon:
        """The tile polygon as a shapely geometry."""
        return self.polygon.to_shapely()

    def overpass_poly(self) -> str:
        """The polygon for `(poly:"…")`: `lat lon` pairs separated by spaces, no closing repeat."""
        ring = self.polygon.coordinates[0][:-1]
        return " ".join(f"{_coordinate(lat)} {_coordinate(lon)}" for lon, lat in ring)

    def overpass_bbox(self) -> str:
        """The cell for a `(south,west,north,east)` bbox filter."""
        west, south, east, north = self.bbox
        return ",".join(_coordinate(value) for value in (south, west, north, east))


class Circle(_Frozen):
    """One Google Places Nearby Search unit: a circle restriction.

    Attributes:
        id: Stable within its plan: lattice circles are `{prefix}{group}-{row}-{col}`; a split child
            appends `/k` to its parent's id.
        lon: Centre longitude in degrees.
        lat: Centre latitude in degrees.
        radius_m: Radius in metres (geodesic distance on WGS84), at most 50 km.
        cell: The lattice cell (west, south, east, north) a planned circle answers for: the cells
            tile the area, so a fetch covering only its cell never asks what a neighbour asks.
    """

    id: str = Field(min_length=1, max_length=512)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    radius_m: float = Field(gt=0, le=MAX_CIRCLE_RADIUS_M)
    cell: tuple[float, float, float, float] | None = None


class PlanOptions(_Frozen):
    """How to plan an area; one object so the plan function takes positional arguments only (`CpuPool`).

    Attributes:
        max_vertices: Most vertices an input area may have (closing positions not counted).
        max_area_km2: Largest area accepted, in km² (geodesic); None for no limit.
        max_tile_km2: Largest Overpass cell in km² before any split (an area this small is one cell).
        max_poly_vertices: Most vertices of a tile's `poly:` ring.
        max_circle_radius_m: Largest Google circle radius in metres.
        max_units: Most tiles or circles a plan may hold; a larger plan is refused with `InvalidArea`
            before it is computed (a guard against a tiny tile size on a large area).
    """

    max_vertices: int = Field(default=10_000, ge=4)
    max_area_km2: float | None = Field(default=10_000.0, gt=0)
    max_tile_km2: float = Field(default=1_000.0, gt=0)
    max_poly_vertices: int = Field(default=100, ge=4)
    max_circle_radius_m: float = Field(default=MAX_CIRCLE_RADIUS_M, gt=0, le=MAX_CIRCLE_RADIUS_M)
    max_units: int = Field(default=100_000, ge=1)


class AreaPlan(_Frozen):
    """What the planner decided for one area.

    Attributes:
        area: The validated area (exterior rings counter-clockwise; an antimeridian bbox is two
            polygons).
        area_km2: Geodesic area in km².
        bbox: Bounds of `area` `(west, south, east, north)`.
        vertex_count: Vertices of `area`.
        sources: The sources planned for.
        tiles: Overpass tiles covering the area (only when `overpass` is planned).
        circles: Google circles covering the area (only when `google_places` is planned).
        upstream_calls: Estimated upstream requests per source: tiles for `overpass`, circles for
            `google_places`, 0 for `osm_extract`. A lower bound: tiles and circles that hit a limit
            are split at run time.
        options: The options used.
    """

    area: GeoJSONPolygon | GeoJSONMultiPolygon = Field(discriminator="type")
    area_km2: float = Field(gt=0)
    bbox: BBox
    vertex_count: int
    sources: tuple[Source, ...]
    tiles: tuple[Tile, ...]
    circles: tuple[Circle, ...]
    upstream_calls: dict[Source, int]
    options: PlanOptions

    @property
    def total_upstream_calls(self) -> int:
        """The estimated requests of every source together."""
        return sum(self.upstream_calls.values())

    def area_geometry(self) -> Polygon | MultiPolygon:
        """The area as a shapely geometry (for clipping places with `contains_many`)."""
        return self.area.to_shapely()
