"""The server-rendered pages and their static files (ours and Leaflet's, from its wheel)."""

from __future__ import annotations

import uuid

import httpx

from areafetch.categories import CATEGORIES
from tests.web.area_bodies import body


async def test_index_has_the_form_the_categories_and_the_map_settings(api: httpx.AsyncClient) -> None:
    response = await api.get("/")
    assert response.status_code == 200
    html = response.text
    assert 'data-tile-url="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in html
    assert "OpenStreetMap&lt;/a&gt; contributors" in html  # escaped in the attribute, HTML for Leaflet
    for name in CATEGORIES:
        assert f'value="{name}"' in html
    for control in ("geojson", "bbox-west", "name"):
        assert f'<label for="{control}">' in html


async def test_static_files_and_leaflet_are_served(api: httpx.AsyncClient) -> None:
    leaflet = await api.get("/static/leaflet/leaflet.js")
    assert leaflet.status_code == 200
    assert "1.9.4" in leaflet.text
    assert (await api.get("/static/leaflet/leaflet.css")).status_code == 200
    for name in ("common.js", "index.js", "area.js", "jobs.js", "app.css"):
        assert (await api.get(f"/static/app/{name}")).status_code == 200, name


async def test_area_and_jobs_pages(api: httpx.AsyncClient) -> None:
    area_id = (await api.post("/api/areas", json=body(name="page test"))).json()["area_id"]
    page = await api.get(f"/areas/{area_id}")
    assert page.status_code == 200
    assert "page test" in page.text
    assert f"/api/areas/{area_id}/places?format=csv" in page.text
    assert (await api.get(f"/areas/{uuid.uuid4()}")).status_code == 404
    assert (await api.get("/jobs")).status_code == 200
    assert "/" not in {path for path in (await api.get("/openapi.json")).json()["paths"]}
