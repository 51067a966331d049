"""Any OSM tag end to end: `osm_tags` on Overpass and the extract give the places the filters match,
each carrying `osm:<filter>`; bad filters and a Google-only request are 422s naming the field."""

from __future__ import annotations

from typing import Any

import pytest
import shapely

from areafetch.config import Settings
from tests.fakes.expected import expected_osm_keys
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, area_client, settings_env
from tests.pipeline import HELSINKI_POLYGON, finished_area, submit, with_upstreams

FILTERS = ["shop=bakery", "craft"]


async def test_osm_tags_on_overpass_and_the_extract_give_the_places_each_filter_matches(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"overpass_max_tile_km2": Settings.model_fields["overpass_max_tile_km2"].default}
    )
    await processes.worker(settings_env(settings))
    async with area_client(settings) as client:
        area_id = await submit(
            client,
            area=HELSINKI_POLYGON,
            sources=["overpass", "osm_extract"],
            categories=["cafe"],
            osm_tags=FILTERS,
        )
        area = await finished_area(client, area_id)
        assert area["state"] == "completed", area
        assert area["categories"] == ["cafe", "osm:shop=bakery", "osm:craft"]
        features = (await client.get(f"/api/areas/{area_id}/places", params={"limit": 10_000})).json()[
            "features"
        ]
        bakeries = (
            await client.get(f"/api/areas/{area_id}/places", params={"category": "osm:shop=bakery"})
        ).json()

    polygon = shapely.geometry.shape(HELSINKI_POLYGON)
    for source in ("overpass", "osm_extract"):
        found: dict[str, set[str]] = {}
        for feature in features:
            if feature["properties"]["source"] == source:
                found.setdefault(feature["properties"]["category"], set()).add(
                    feature["properties"]["source_id"]
                )
        assert found["osm:shop=bakery"] == expected_osm_keys(polygon, ["shop=bakery"])
        craft_only = expected_osm_keys(polygon, ["craft"]) - expected_osm_keys(
            polygon, ["shop=bakery", "amenity=cafe"]
        )
        assert found["osm:craft"] >= craft_only
        assert craft_only
    assert {f["properties"]["category"] for f in bakeries["features"]} == {"osm:shop=bakery"}
    assert len(bakeries["features"]) == 2 * len(expected_osm_keys(polygon, ["shop=bakery"]))


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"osm_tags": ['name="x"']}, "osm_tags.0", "without quotes"),
        ({"osm_tags": ["craft", "sh op=x"]}, "osm_tags.1", "an OSM key is ASCII"),
        ({"osm_tags": ["shop=bakery\n"]}, "osm_tags.0", "printable"),
        ({"osm_tags": ["x"] * 21}, "osm_tags", "at most 20"),
        (
            {"osm_tags": ["craft"], "sources": ["google_places"], "categories": []},
            "body",
            "Google has no equivalent",
        ),
        ({"osm_tags": [], "categories": []}, "body", "give `categories`, `osm_tags` or both"),
    ],
)
async def test_a_bad_osm_filter_is_a_422_naming_it(
    area_settings: Settings, body: dict[str, Any], field: str, message: str
) -> None:
    request = {
        "name": "tags",
        "area": HELSINKI_POLYGON,
        "sources": ["overpass"],
        "categories": ["cafe"],
        **body,
    }
    async with area_client(area_settings) as client:
        response = await client.post("/api/areas", json=request)
    assert response.status_code == 422, response.text
    details = response.json()["detail"]
    assert any(".".join(str(p) for p in d["loc"]).endswith(field) and message in d["msg"] for d in details), (
        details
    )
