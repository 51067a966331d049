"""`GET /api/categories`: the taxonomy as the picker and scripts read it."""

from __future__ import annotations

import httpx

from areafetch.areas.categories import CATEGORIES


async def test_lists_every_category_with_its_group_osm_tags_and_google_types(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/categories")
    assert response.status_code == 200
    listed = {category["name"]: category for category in response.json()}
    assert set(listed) == set(CATEGORIES)
    assert listed["cafe"] == {
        "name": "cafe",
        "label": "Café",
        "group": "food_drink",
        "osm_tags": ["amenity=cafe"],
        "google_types": ["cafe"],
    }
    assert listed["bar"]["osm_tags"] == ["amenity=bar", "amenity=pub"]
