"""An area's history: `GET /api/areas` (newest first, keyset pages, filters), the `/areas` page, and
`DELETE /api/areas/{id}` (its links and the places only it had go; 409 while it runs)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.areas import Place
from areafetch.areas.states import FINISHED_STATES
from areafetch.config import Settings
from areafetch.db import areas as area_queries
from areafetch.db import create_engine
from areafetch.db.places import upsert_area_places
from areafetch.db.tables import area_places, areas, places
from areafetch.web.app import create_app

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[24.9, 60.1], [25.0, 60.1], [25.0, 60.2], [24.9, 60.2], [24.9, 60.1]]],
}


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


async def add_area(
    engine: AsyncEngine, name: str, *, state: str = "completed", created: datetime | None = None
) -> uuid.UUID:
    area_id = uuid.uuid4()
    async with engine.begin() as conn:
        await area_queries.create_area(
            conn,
            area_id=area_id,
            name=name,
            geometry=SQUARE,
            bbox=(24.9, 60.1, 25.0, 60.2),
            area_km2=61.9,
            sources=["overpass"],
            categories=["cafe"],
            job_id=f"{area_id}.plan",
        )
        values: dict[str, object] = {"state": state}
        if state in FINISHED_STATES:
            values["finished_at"] = func.now()
        if created is not None:
            values["created_at"] = created
        await conn.execute(update(areas).where(areas.c.id == area_id).values(**values))
    return area_id


def place(source_id: str) -> Place:
    return Place(
        source="overpass", source_id=source_id, name=source_id, category="cafe", lon=24.95, lat=60.15
    )


async def test_pages_list_every_matching_area_once_newest_first(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tag = uuid.uuid4().hex[:8]
    made = [await add_area(engine, f"History {tag} {n}") for n in range(5)]

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"name": f"history {tag}", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await api.get("/api/areas", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["areas"]) <= 2
        seen += [area["id"] for area in page["areas"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(area_id) for area_id in reversed(made)]  # newest first, each once
    first = (await api.get("/api/areas", params={"name": f"HISTORY {tag} 4"})).json()["areas"][0]
    assert first["places_total"] is None
    assert first["duration_s"] >= 0


async def test_filters_by_state_name_and_creation_time(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    tag = uuid.uuid4().hex[:8]
    old = await add_area(engine, f"f{tag} 100%_old", created=datetime(2020, 1, 1, tzinfo=UTC))
    running = await add_area(engine, f"f{tag} running", state="running")
    failed = await add_area(engine, f"f{tag} failed", state="failed")

    async def ids(**params: str) -> list[str]:
        response = await api.get("/api/areas", params={"name": f"f{tag}", **params})
        assert response.status_code == 200, response.text
        return [area["id"] for area in response.json()["areas"]]

    assert await ids(state="running") == [str(running)]
    assert set(await ids(state="failed")) == {str(failed)}
    assert await ids(created_before="2021-01-01T00:00:00Z") == [str(old)]
    assert str(old) not in await ids(created_after="2021-01-01T00:00:00Z")
    response = await api.get("/api/areas", params={"name": f"f{tag} 100%_"})  # % and _ are literal
    assert [area["id"] for area in response.json()["areas"]] == [str(old)]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"cursor": "not-a-cursor"}, "cursor"), ({"state": "exploded"}, "state"), ({"limit": "0"}, "limit")],
)
async def test_a_bad_filter_is_a_422_naming_it(
    api: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await api.get("/api/areas", params=params)
    assert response.status_code == 422
    assert field in str(response.json()["detail"])


async def test_delete_purges_only_the_places_no_other_area_links(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    doomed, kept = await add_area(engine, "doomed"), await add_area(engine, "kept")
    shared, alone = f"node/{uuid.uuid4().int % 10**12}", f"node/{uuid.uuid4().int % 10**12}"
    async with engine.begin() as conn:
        await upsert_area_places(conn, area_id=doomed, places=[place(shared), place(alone)])
        await upsert_area_places(conn, area_id=kept, places=[place(shared)])

    response = await api.delete(f"/api/areas/{doomed}")

    assert response.status_code == 204, response.text
    assert (await api.get(f"/api/areas/{doomed}")).status_code == 404
    async with engine.connect() as conn:
        left = set(
            (
                await conn.execute(select(places.c.source_id).where(places.c.source_id.in_([shared, alone])))
            ).scalars()
        )
        links = await conn.scalar(
            select(func.count()).select_from(area_places).where(area_places.c.area_id == doomed)
        )
        kept_links = await conn.scalar(
            select(func.count()).select_from(area_places).where(area_places.c.area_id == kept)
        )
    assert left == {shared}
    assert links == 0
    assert kept_links == 1
    assert (await api.delete(f"/api/areas/{doomed}")).status_code == 404


@pytest.mark.parametrize("state", ["queued", "planning", "running"])
async def test_an_unfinished_area_cannot_be_deleted(
    api: httpx.AsyncClient, engine: AsyncEngine, state: str
) -> None:
    area_id = await add_area(engine, "busy", state=state)
    response = await api.delete(f"/api/areas/{area_id}")
    assert response.status_code == 409
    assert state in response.json()["detail"]
    assert (await api.get(f"/api/areas/{area_id}")).status_code == 200


async def test_delete_needs_a_token_when_tokens_are_set(settings: Settings, engine: AsyncEngine) -> None:
    token = "t" * 40
    secured = settings.model_copy(update={"api_tokens": SecretStr(token)})
    area_id = await add_area(engine, "guarded")
    app = create_app(secured)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        assert (await client.delete(f"/api/areas/{area_id}")).status_code == 401
        allowed = await client.delete(f"/api/areas/{area_id}", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 204


async def test_the_areas_page_lists_them_with_links_and_filters(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tag = uuid.uuid4().hex[:8]
    area_id = await add_area(engine, f"Page <b>{tag}</b>")
    page = await api.get("/areas", params={"name": tag, "state": "", "created_after": ""})
    assert page.status_code == 200
    assert f'href="/areas/{area_id}"' in page.text
    assert f"Page &lt;b&gt;{tag}&lt;/b&gt;" in page.text  # escaped
    assert "completed" in page.text
    empty = await api.get("/areas", params={"name": f"nothing-{tag}"})
    assert 'id="no-areas"' in empty.text
    assert (await api.get("/areas", params={"state": "exploded"})).status_code == 422
