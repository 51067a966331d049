"""An area's places: a paged GeoJSON FeatureCollection, or every matching place as streamed CSV."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, WithJsonSchema
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from areafetch.areas import Source
from areafetch.areas.attributes import NORMALISED, csv_values
from areafetch.areas.categories import CATEGORIES
from areafetch.areas.osm_filters import is_osm_filter, osm_filter_pair
from areafetch.conflation.merged import MergedPlace, merge
from areafetch.db.engine import connection
from areafetch.db.place_links import read_merged_page
from areafetch.db.place_reads import PlaceRow, area_exists, read_area_places
from areafetch.errors import AreaNotFound
from areafetch.web.deps import EngineDep, ReadAccessDep

__all__ = [
    "CSV_COLUMNS",
    "MERGED_CSV_COLUMNS",
    "MergedPlaceFeatureCollection",
    "PlaceFeature",
    "PlaceFeatureCollection",
    "PlaceProperties",
    "PointGeometry",
    "router",
]

router = APIRouter(prefix="/api/areas", tags=["places"])

CSV_COLUMNS = (
    "source",
    "source_id",
    "name",
    "category",
    "lon",
    "lat",
    *NORMALISED,
    "fetched_at",
    "expired_at",
)

MERGED_CSV_COLUMNS = ("id", "sources", "match_score", "name", "category", "lon", "lat", *NORMALISED)
"""`view=merged`: `sources` lists `source:source_id` of each record, space-separated."""

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
# Rows per query while streaming CSV: bounds the memory one download holds, whatever the area's size.
_CSV_BATCH_SIZE = 2000
_MAX_PLACE_ID = 2**63 - 1


def _known_category(name: str) -> str:
    if is_osm_filter(name):
        osm_filter_pair(name)  # ValueError naming what is wrong
        return name
    if name not in CATEGORIES:
        raise ValueError(
            f"unknown category {name!r}; expected one of: {', '.join(CATEGORIES)}, or osm:<key>[=<value>]"
        )
    return name


def _place_id_cursor(cursor: str) -> str:
    if int(cursor) > _MAX_PLACE_ID:
        raise ValueError("not a cursor this endpoint returned")
    return cursor


CategoryName = Annotated[
    str,
    AfterValidator(_known_category),
    # The named categories; an area's `osm:<filter>` categories are accepted too (not listed here).
    WithJsonSchema({"type": "string", "enum": list(CATEGORIES)}),
]
Cursor = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,19}$"), AfterValidator(_place_id_cursor)]


class PointGeometry(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="[lon, lat], WGS84")


class PlaceProperties(BaseModel):
    source: Source
    source_id: str = Field(description="OSM: node/123, way/456, relation/789; Google: the place id")
    name: str | None
    category: str
    attributes: dict[str, Any] = Field(description="OSM tags or Google fields")
    fetched_at: datetime
    expired_at: datetime | None = Field(
        description="Google content past AREAFETCH_GOOGLE_RETENTION_DAYS: only the id is left (a refresh "
        "fetches it again); the feature's geometry is then null"
    )


class PlaceFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int = Field(description="the place's stable id in this service")
    geometry: PointGeometry | None = Field(description="null once Google's content expired")
    properties: PlaceProperties


class PlaceFeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946); `next_cursor` is a foreign member for paging."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[PlaceFeature]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null when this is the last page"
    )


class SourceRef(BaseModel):
    source: Source
    source_id: str
    id: int = Field(description="the record's place id (the `id` of its feature in the default view)")


class SourcedValue(BaseModel):
    value: Any
    source: Source = Field(description="the source the value came from")


class PlaceLinkOut(BaseModel):
    place_id: int
    linked_with: int
    score: float = Field(ge=0, le=1)
    reasons: dict[str, Any] = Field(
        description="name_similarity (0-1, null without two names), distance_m, allowed_m (the kinds' "
        "distance), kinds (those the two share), same_contact (phone|website), same_osm_element"
    )


class MergedPlaceProperties(BaseModel):
    sources: list[SourceRef] = Field(description="every source's record of this place")
    match_score: float | None = Field(description="the weakest link's score; null when one source has it")
    name: str | None = Field(description="the first name in the order overpass, osm_extract, google_places")
    category: str
    attributes: dict[str, SourcedValue] = Field(description="the union of the records' attributes")
    links: list[PlaceLinkOut]


class MergedPlaceFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: int = Field(description="the smallest place id of the place's records")
    geometry: PointGeometry | None
    properties: MergedPlaceProperties


class MergedPlaceFeatureCollection(BaseModel):
    """`view=merged`: one feature per real place, its records of every source linked."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[MergedPlaceFeature]
    next_cursor: str | None


@router.get(
    "/{area_id}/places",
    response_model=PlaceFeatureCollection | MergedPlaceFeatureCollection,
    responses={
        200: {
            "description": "GeoJSON (default), or CSV with `format=csv`",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        404: {"description": "no such area"},
        503: {"description": "PostgreSQL unreachable"},
    },
)
async def list_area_places(
    area_id: uuid.UUID,
    engine: EngineDep,
    _access: ReadAccessDep,
    category: Annotated[
        list[CategoryName] | None, Query(description="only these categories (repeatable)")
    ] = None,
    source: Annotated[list[Source] | None, Query(description="only these sources (repeatable)")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="places per page (GeoJSON; CSV has every place)")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        Cursor | None,
        Query(description="opaque: the `next_cursor` of the previous page (GeoJSON only)"),
    ] = None,
    output_format: Annotated[Literal["geojson", "csv"], Query(alias="format")] = "geojson",
    view: Annotated[
        Literal["records", "merged"],
        Query(
            description="records: one feature per source's record; merged: one per real place, its "
            "records linked (a place is kept when any of its records matches the filters)"
        ),
    ] = "records",
) -> PlaceFeatureCollection | MergedPlaceFeatureCollection | StreamingResponse:
    """The places found in an area, as a paged GeoJSON FeatureCollection or a CSV download."""
    pages = _PAGES[view](area_id, tuple(category or ()), tuple(source or ()))
    page_size = _CSV_BATCH_SIZE if output_format == "csv" else limit
    after = 0 if output_format == "csv" or cursor is None else int(cursor)
    async with connection(engine) as conn:
        if not await area_exists(conn, area_id=area_id):
            raise AreaNotFound(f"no area with id {area_id}")
        # One row past the page tells whether another page exists, so the last page says so itself.
        rows = await pages.read(conn, after, page_size + 1)
    if output_format == "csv":
        return StreamingResponse(
            _csv_stream(engine, pages, first=rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="area-{area_id}{pages.file_suffix}.csv"'},
        )
    page = rows[:limit]
    next_cursor = str(page[-1].id) if len(rows) > limit else None
    if view == "merged":
        return MergedPlaceFeatureCollection(
            features=[_merged_feature(p) for p in page], next_cursor=next_cursor
        )
    return PlaceFeatureCollection(features=[_feature(p) for p in page], next_cursor=next_cursor)


class _Keyed(Protocol):
    @property
    def id(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _Pages:
    """How one view reads its keyset pages and writes its CSV."""

    read: Callable[[AsyncConnection, int, int], Awaitable[Sequence[Any]]]
    columns: tuple[str, ...]
    csv_row: Callable[[Any], tuple[object, ...]]
    file_suffix: str = ""


def _record_pages(area_id: uuid.UUID, categories: tuple[str, ...], sources: tuple[str, ...]) -> _Pages:
    async def read(conn: AsyncConnection, after: int, limit: int) -> Sequence[PlaceRow]:
        return await read_area_places(
            conn, area_id=area_id, after=after, limit=limit, categories=categories, sources=sources
        )

    return _Pages(read, CSV_COLUMNS, _csv_row)


def _merged_pages(area_id: uuid.UUID, categories: tuple[str, ...], sources: tuple[str, ...]) -> _Pages:
    async def read(conn: AsyncConnection, after: int, limit: int) -> Sequence[MergedPlace]:
        groups = await read_merged_page(
            conn, area_id=area_id, after=after, limit=limit, categories=categories, sources=sources
        )
        return [merge(group) for group in groups]

    return _Pages(read, MERGED_CSV_COLUMNS, _merged_csv_row, "-merged")


_PAGES = {"records": _record_pages, "merged": _merged_pages}


def _point(lon: float | None, lat: float | None) -> PointGeometry | None:
    return None if lon is None or lat is None else PointGeometry(coordinates=(lon, lat))


def _feature(row: PlaceRow) -> PlaceFeature:
    return PlaceFeature(
        id=row.id,
        geometry=_point(row.lon, row.lat),
        properties=PlaceProperties.model_validate(
            {
                "source": row.source,
                "source_id": row.source_id,
                "name": row.name,
                "category": row.category,
                "attributes": row.attributes,
                "fetched_at": row.fetched_at,
                "expired_at": row.expired_at,
            }
        ),
    )


def _merged_feature(place: MergedPlace) -> MergedPlaceFeature:
    return MergedPlaceFeature(
        id=place.id,
        geometry=_point(place.lon, place.lat),
        properties=MergedPlaceProperties.model_validate(
            {
                "sources": [
                    {"source": row.source, "source_id": row.source_id, "id": row.id} for row in place.records
                ],
                "match_score": place.match_score,
                "name": place.name,
                "category": place.category,
                "attributes": place.attributes,
                "links": place.links,
            }
        ),
    )


async def _csv_stream(engine: AsyncEngine, pages: _Pages, *, first: Sequence[_Keyed]) -> AsyncIterator[str]:
    # The first batch was read with the 404 check (so a database failure is still a clean 503); later
    # batches each take a pooled connection only while they are read, never while the client is slow.
    yield _csv_text([pages.columns])
    rows = first
    while True:
        yield _csv_text(pages.csv_row(row) for row in rows[:_CSV_BATCH_SIZE])
        if len(rows) <= _CSV_BATCH_SIZE:
            return
        async with connection(engine) as conn:
            rows = await pages.read(conn, rows[_CSV_BATCH_SIZE - 1].id, _CSV_BATCH_SIZE + 1)


def _csv_row(row: PlaceRow) -> tuple[object, ...]:
    return (
        row.source,
        row.source_id,
        row.name or "",
        row.category,
        "" if row.lon is None else row.lon,
        "" if row.lat is None else row.lat,
        *csv_values(row.attributes),
        row.fetched_at.isoformat(),
        "" if row.expired_at is None else row.expired_at.isoformat(),
    )


def _merged_csv_row(place: MergedPlace) -> tuple[object, ...]:
    return (
        place.id,
        " ".join(f"{row.source}:{row.source_id}" for row in place.records),
        "" if place.match_score is None else place.match_score,
        place.name or "",
        place.category,
        "" if place.lon is None else place.lon,
        "" if place.lat is None else place.lat,
        *csv_values({name: sourced["value"] for name, sourced in place.attributes.items()}),
    )


def _csv_text(rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
