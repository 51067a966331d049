"""GET /api/areas/{id}/places: GeoJSON pages, filters, keyset paging, streamed CSV, 404 and 422."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.areas import Place
from areafetch.config import Settings
from areafetch.db import create_engine
from areafetch.db.places import upsert_area_places
from areafetch.db.tables import areas
from areafetch.web.errors import install_error_handlers
from areafetch.web.routes import places as places_route
from areafetch.web.state import AppState
from tests.helpers import free_port

NewArea = Callable[..., Awaitable[uuid.UUID]]


def places_app(settings: Settings) -> FastAPI:
    """The places router alone, with the app's state and error handlers."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = AppState.open(settings)
        app.state.areafetch = state
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(places_route.router)
    return app


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = places_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def new_area(engine: AsyncEngine) -> AsyncIterator[NewArea]:
    """Creates areas holding the given places; deletes them afterwards."""
    created: list[uuid.UUID] = []

    async def make(stored: Sequence[Place] = ()) -> uuid.UUID:
        area_id = uuid.uuid4()
        async with engine.begin() as conn:
            await conn.execute(
                insert(areas).values(
                    id=area_id,
                    name="places api test",
                    geometry={"type": "Polygon", "coordinates": []},
                    bbox=[24.0, 60.0, 25.0, 61.0],
                    area_km2=1.0,
                    sources=["overpass", "google_places", "osm_extract"],
                    categories=["cafe", "bar", "park"],
                    state="completed",
                )
            )
            await upsert_area_places(conn, area_id=area_id, places=stored)
        created.append(area_id)
        return area_id

    yield make
    async with engine.begin() as conn:
        await conn.execute(delete(areas).where(areas.c.id.in_(created)))


def make_place(
    *,
    source: str = "overpass",
    source_id: str | None = None,
    name: str | None = "x",
    category: str = "cafe",
    lon: float = 24.94,
    lat: float = 60.17,
    attributes: dict[str, Any] | None = None,
) -> Place:
    return Place.model_validate(
        {
            "source": source,
            "source_id": source_id or f"node/{uuid.uuid4().int % 10**12}",
            "name": name,
            "category": category,
            "lon": lon,
            "lat": lat,
            "attributes": attributes if attributes is not None else {"amenity": category},
        }
    )


def mixed_places() -> list[Place]:
    """Nine places: three sources by three categories."""
    return [
        make_place(
            source=source,
            source_id=f"{'ChIJ' if source == 'google_places' else 'node/'}{uuid.uuid4().hex[:12]}",
            category=category,
            name=f"{source} {category}",
        )
        for source in ("overpass", "google_places", "osm_extract")
        for category in ("cafe", "bar", "park")
    ]


def keys(features: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f["properties"]["source"], f["properties"]["source_id"]) for f in features]


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


async def test_features_match_the_stored_places(client: httpx.AsyncClient, new_area: NewArea) -> None:
    stored = [
        make_place(name="Café Regatta", lon=24.9106, lat=60.1794, attributes={"amenity": "cafe", "x": [1]}),
        make_place(
            source="google_places",
            source_id=f"ChIJ{uuid.uuid4().hex}",
            name=None,
            category="bar",
            lon=-0.5,
            lat=-1.25,
        ),
    ]
    area_id = await new_area(stored)
    await new_area([make_place(name="elsewhere")])  # another area's place is not this area's

    response = await client.get(f"/api/areas/{area_id}/places")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["next_cursor"] is None
    by_key = {(f["properties"]["source"], f["properties"]["source_id"]): f for f in body["features"]}
    assert set(by_key) == {(p.source, p.source_id) for p in stored}
    for place in stored:
        feature = by_key[(place.source, place.source_id)]
        assert feature["type"] == "Feature"
        assert isinstance(feature["id"], int)
        assert feature["geometry"] == {"type": "Point", "coordinates": [place.lon, place.lat]}
        properties = feature["properties"]
        assert (properties["name"], properties["category"]) == (place.name, place.category)
        assert properties["attributes"] == place.attributes
        assert datetime.fromisoformat(properties["fetched_at"]).tzinfo is not None
    assert [f["id"] for f in body["features"]] == sorted(f["id"] for f in body["features"])


async def test_an_area_without_places_is_an_empty_collection(
    client: httpx.AsyncClient, new_area: NewArea
) -> None:
    area_id = await new_area()

    response = await client.get(f"/api/areas/{area_id}/places")

    assert response.json() == {"type": "FeatureCollection", "features": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"category": "cafe"}, {("overpass", "cafe"), ("google_places", "cafe"), ("osm_extract", "cafe")}),
        (
            {"category": ["cafe", "park"]},
            {(s, c) for s in ("overpass", "google_places", "osm_extract") for c in ("cafe", "park")},
        ),
        ({"source": "google_places"}, {("google_places", c) for c in ("cafe", "bar", "park")}),
        (
            {"source": ["overpass", "osm_extract"], "category": "bar"},
            {("overpass", "bar"), ("osm_extract", "bar")},
        ),
        ({"category": "school"}, set()),
    ],
)
async def test_filters_by_category_and_source(
    client: httpx.AsyncClient, new_area: NewArea, query: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    area_id = await new_area(mixed_places())

    geojson = (await client.get(f"/api/areas/{area_id}/places", params=query)).json()
    table = await client.get(f"/api/areas/{area_id}/places", params={**query, "format": "csv"})

    found = {(f["properties"]["source"], f["properties"]["category"]) for f in geojson["features"]}
    assert found == expected
    assert len(geojson["features"]) == len(expected)
    assert {(row["source"], row["category"]) for row in csv_rows(table)} == expected


async def test_paging_returns_every_place_exactly_once(client: httpx.AsyncClient, new_area: NewArea) -> None:
    stored = [make_place(name=f"p{i}") for i in range(25)]
    area_id = await new_area(stored)

    pages: list[list[dict[str, Any]]] = []
    params: dict[str, Any] = {"limit": 10}
    while True:
        body = (await client.get(f"/api/areas/{area_id}/places", params=params)).json()
        pages.append(body["features"])
        if body["next_cursor"] is None:
            break
        assert isinstance(body["next_cursor"], str)
        params = {"limit": 10, "cursor": body["next_cursor"]}

    assert [len(page) for page in pages] == [10, 10, 5]
    everything = [feature for page in pages for feature in page]
    assert sorted(keys(everything)) == sorted((p.source, p.source_id) for p in stored)
    ids = [feature["id"] for feature in everything]
    assert ids == sorted(set(ids))


async def test_a_full_last_page_says_it_is_the_last(client: httpx.AsyncClient, new_area: NewArea) -> None:
    area_id = await new_area([make_place() for _ in range(6)])

    first = (await client.get(f"/api/areas/{area_id}/places", params={"limit": 3})).json()
    second = (
        await client.get(f"/api/areas/{area_id}/places", params={"limit": 3, "cursor": first["next_cursor"]})
    ).json()

    assert first["next_cursor"] is not None
    assert (len(second["features"]), second["next_cursor"]) == (3, None)


async def test_paging_with_a_filter(client: httpx.AsyncClient, new_area: NewArea) -> None:
    stored = [make_place(category="cafe" if i % 2 else "bar") for i in range(12)]
    area_id = await new_area(stored)

    seen: list[tuple[str, str]] = []
    params: dict[str, Any] = {"limit": 2, "category": "cafe"}
    for _ in range(10):
        body = (await client.get(f"/api/areas/{area_id}/places", params=params)).json()
        seen += keys(body["features"])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]

    assert sorted(seen) == sorted((p.source, p.source_id) for p in stored if p.category == "cafe")


async def test_csv_has_every_row_quoted_properly(
    client: httpx.AsyncClient, new_area: NewArea, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(places_route, "_CSV_BATCH_SIZE", 7)  # several batches: 7 + 7 + 7 + 2
    tricky = 'Bar "Kolme", Kruunua\nHelsinki'
    stored = [make_place(name=f"cafe {i}") for i in range(21)]
    stored += [make_place(name=tricky, category="bar"), make_place(name=None, category="park")]
    area_id = await new_area(stored)

    response = await client.get(f"/api/areas/{area_id}/places", params={"format": "csv", "limit": 1})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="area-{area_id}.csv"'
    assert (
        response.text.splitlines()[0]
        == "source,source_id,name,category,lon,lat,address,opening_hours,website,phone,brand,cuisine,wheelchair,rating,user_rating_count,price_level,business_status,fetched_at,expired_at"
    )
    assert '"Bar ""Kolme"", Kruunua\nHelsinki"' in response.text
    rows = csv_rows(response)
    assert sorted((row["source"], row["source_id"]) for row in rows) == sorted(
        (p.source, p.source_id) for p in stored
    )
    by_id = {row["source_id"]: row for row in rows}
    for place in stored:
        row = by_id[place.source_id]
        assert row["name"] == (place.name or "")
        assert (row["category"], float(row["lon"]), float(row["lat"])) == (
            place.category,
            place.lon,
            place.lat,
        )
        assert datetime.fromisoformat(row["fetched_at"]).tzinfo is not None


async def test_csv_of_an_area_without_places_is_the_header(
    client: httpx.AsyncClient, new_area: NewArea
) -> None:
    area_id = await new_area()

    response = await client.get(f"/api/areas/{area_id}/places", params={"format": "csv"})

    assert (
        response.text
        == "source,source_id,name,category,lon,lat,address,opening_hours,website,phone,brand,cuisine,wheelchair,rating,user_rating_count,price_level,business_status,fetched_at,expired_at\r\n"
    )


@pytest.mark.parametrize("output_format", ["geojson", "csv"])
async def test_unknown_area_is_404(client: httpx.AsyncClient, output_format: str) -> None:
    area_id = uuid.uuid4()

    response = await client.get(f"/api/areas/{area_id}/places", params={"format": output_format})

    assert response.status_code == 404
    assert response.json() == {"detail": f"no area with id {area_id}"}


@pytest.mark.parametrize(
    ("path", "params", "field", "problem"),
    [
        ("/api/areas/not-a-uuid/places", {}, "area_id", "valid UUID"),
        (None, {"category": "casino"}, "category", "unknown category 'casino'"),
        (None, {"category": ["cafe", "casino"]}, "category", "unknown category"),
        (None, {"source": "bing"}, "source", "'overpass', 'google_places' or 'osm_extract'"),
        (None, {"limit": 0}, "limit", "greater than or equal to 1"),
        (None, {"limit": 10_001}, "limit", "less than or equal to 10000"),
        (None, {"limit": "many"}, "limit", "valid integer"),
        (None, {"cursor": "abc"}, "cursor", "should match pattern"),
        (None, {"cursor": "9" * 19}, "cursor", "not a cursor this endpoint returned"),
        (None, {"format": "xml"}, "format", "'geojson' or 'csv'"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient,
    new_area: NewArea,
    path: str | None,
    params: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    path = path or f"/api/areas/{await new_area()}/places"

    response = await client.get(path, params=params)

    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(field in [str(part) for part in e["loc"]] and problem in e["msg"] for e in errors), errors


async def test_openapi_describes_the_collection_and_the_choices(settings: Settings) -> None:
    schema = places_app(settings).openapi()

    operation = schema["paths"]["/api/areas/{area_id}/places"]["get"]
    ok = operation["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["anyOf"] == [
        {"$ref": "#/components/schemas/PlaceFeatureCollection"},
        {"$ref": "#/components/schemas/MergedPlaceFeatureCollection"},
    ]
    assert "text/csv" in ok
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {"area_id", "category", "source", "limit", "cursor", "format", "view"}
    assert parameters["view"]["schema"]["enum"] == ["records", "merged"]
    category_items = parameters["category"]["schema"]["anyOf"][0]["items"]
    assert set(category_items["enum"]) >= {"restaurant", "cafe", "park"}
    collection = schema["components"]["schemas"]["PlaceFeatureCollection"]
    assert set(collection["properties"]) == {"type", "features", "next_cursor"}


async def test_postgresql_down_is_503(settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/x"})
    app = places_app(down)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get(f"/api/areas/{uuid.uuid4()}/places")

    assert response.status_code == 503
    assert response.json()["detail"].startswith("postgresql unavailable")
