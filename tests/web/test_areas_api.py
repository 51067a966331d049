"""POST /api/areas validation (nothing stored or queued on bad input) and GET /api/areas/{id}."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from areafetch.areas.categories import CATEGORIES
from areafetch.config import Settings
from areafetch.queue import Queues
from tests.web.area_bodies import BOWTIE, body, queued, ring, stored_areas


async def test_valid_area_is_stored_queued_and_readable(api: httpx.AsyncClient, queues: Queues) -> None:
    response = await api.post("/api/areas", json=body(categories=["cafe", "bar", "cafe"]))

    assert response.status_code == 202
    created = response.json()
    area = (await api.get(f"/api/areas/{created['area_id']}")).json()
    assert area["state"] == "queued"
    assert area["categories"] == ["cafe", "bar"]
    assert area["job_id"] == created["job_id"]
    assert 0.2 < area["area_km2"] < 0.35  # 0.01° x 0.005° at 60° N
    assert area["progress"] == {"tiles_done": 0, "tiles_total": 0, "percent": 0.0, "by_source": {}}
    job = (await api.get(f"/api/jobs/{created['job_id']}")).json()
    assert (job["queue"], job["name"], job["state"]) == ("areas", "plan", "waiting")


async def test_bbox_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/areas", json=body(area=None, bbox=[24.94, 60.17, 24.95, 60.175]))

    assert response.status_code == 202


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"area": BOWTIE}, "area", "Self-intersection"),
        (
            {"area": {"type": "Polygon", "coordinates": [[[200, 60], [201, 60], [201, 61], [200, 60]]]}},
            "area",
            "longitude",
        ),
        ({"area": {"type": "Polygon", "coordinates": []}}, "area", "empty"),
        ({"area": {"type": "Point", "coordinates": [24.9, 60.1]}}, "area", "Polygon"),
        ({"area": {"type": "Polygon", "coordinates": [ring(10_050)]}}, "area", "vertices"),
        (
            {
                "area": {
                    "type": "Polygon",
                    "coordinates": [[[24.9, 60.1], [24.91, 60.1], [24.9, float("nan")], [24.9, 60.1]]],
                }
            },
            "area",
            "",
        ),
        # An integer literal too large for a float (JSON allows any length).
        (
            {
                "area": {
                    "type": "Polygon",
                    "coordinates": [[[10**400, 60], [25, 60], [25, 61], [10**400, 60]]],
                }
            },
            "area",
            "number",
        ),
        ({"area": None, "bbox": [10**400, 60.17, 24.95, 60.175]}, "bbox", ""),
        ({"area": None, "bbox": [0.0, 0.0, 10.0, 10.0]}, "bbox", "km"),
        ({"area": None, "bbox": [24.95, 60.17, 24.95, 60.175]}, "bbox", ""),
        ({"area": None, "bbox": [24.94, 60.18, 24.95, 60.17]}, "bbox", "south"),
        ({"categories": ["cafe", "casino"]}, "categories", "unknown categories ['casino']"),
        ({"categories": []}, "body", "give `categories`, `osm_tags` or both"),
        ({"sources": ["google_places"], "categories": list(CATEGORIES)}, "body", "at most 50"),
        ({"sources": ["bing"]}, "sources", "overpass"),
        ({"sources": ["google_places"]}, "sources", "AREAFETCH_GOOGLE_API_KEY"),
        ({"sources": ["osm_extract"]}, "sources", "AREAFETCH_OSM_EXTRACT_PATH"),
        ({"bbox": [24.94, 60.17, 24.95, 60.175]}, "body", "exactly one"),
        ({"area": None}, "body", "exactly one"),
        ({"name": ""}, "name", "at least 1"),
        ({"extra": 1}, "extra", "Extra inputs"),
    ],
)
async def test_bad_area_is_422_naming_the_field_and_nothing_is_stored_or_queued(
    api: httpx.AsyncClient,
    settings: Settings,
    queues: Queues,
    changes: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    before = await stored_areas(settings)
    payload = body(**changes)
    content = httpx.Request("POST", "/", json=payload).content if "nan" not in str(payload) else None
    if content is None:  # JSON has no NaN; send the literal a careless client would
        content = str(payload).replace("'", '"').replace("nan", "NaN").replace("None", "null").encode()

    response = await api.post("/api/areas", content=content, headers={"content-type": "application/json"})

    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(
        field in [str(part) for part in error["loc"]] and problem in error["msg"] for error in errors
    ), errors
    assert await stored_areas(settings) == before
    assert await queued(queues) == 0


async def test_unknown_area_is_404_and_a_bad_id_422(api: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()

    response = await api.get(f"/api/areas/{missing}")

    assert response.status_code == 404
    assert response.json() == {"detail": f"no area with id {missing}"}
    assert (await api.get("/api/areas/not-a-uuid")).status_code == 422
    assert (await api.get(f"/api/areas/{missing}/places")).status_code == 404
