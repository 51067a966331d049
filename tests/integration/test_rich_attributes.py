"""Rich attributes under the same names across sources; Google's field tier (AREAFETCH_GOOGLE_FIELDS)
decides its field mask, its SKU in the estimate and its price in the summary; the CSV has them."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import shapely

from areafetch.areas.google_prices import price_usd
from areafetch.config import Settings
from tests.fakes.expected import expected_osm_places
from tests.fakes.google_places import GooglePlacesFake
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, area_client, settings_env
from tests.pipeline import HELSINKI_POLYGON, finished_area, submit, with_upstreams

ENTERPRISE_ONLY = {"rating", "user_rating_count", "website", "phone", "opening_hours"}


@pytest.mark.parametrize(
    ("fields", "sku"), [("pro", "Nearby Search Pro"), ("enterprise", "Nearby Search Enterprise")]
)
async def test_google_fields_decide_the_mask_the_sku_and_the_attributes(
    area_settings: Settings,
    processes: ProcessFactory,
    overpass_fake: OverpassFake,
    google_places_fake: GooglePlacesFake,
    fields: str,
    sku: str,
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake, google=google_places_fake).model_copy(
        update={
            "google_fields": fields,
            "overpass_max_tile_km2": Settings.model_fields["overpass_max_tile_km2"].default,
        }
    )
    await processes.worker(settings_env(settings))
    body: dict[str, Any] = {
        "area": HELSINKI_POLYGON,
        "sources": ["overpass", "google_places"],
        "categories": ["cafe"],
    }
    async with area_client(settings) as client:
        estimate = (await client.post("/api/areas/estimate", json={"name": "rich", **body})).json()
        assert estimate["google"]["sku"] == sku
        area_id = await submit(client, **body)
        area = await finished_area(client, area_id)
        features = (await client.get(f"/api/areas/{area_id}/places", params={"limit": 10_000})).json()[
            "features"
        ]
        rows = list(
            csv.DictReader(io.StringIO((await client.get(f"/api/areas/{area_id}/places?format=csv")).text))
        )

    assert area["state"] == "completed"
    masks = {
        record.detail.get("field_mask") or record.detail.get("mask")
        for record in google_places_fake.billable_calls()
    }
    google = [f["properties"]["attributes"] for f in features if f["properties"]["source"] == "google_places"]
    osm = {
        f["properties"]["source_id"]: f["properties"]["attributes"]
        for f in features
        if f["properties"]["source"] == "overpass"
    }
    assert google
    assert all(a["business_status"] == "OPERATIONAL" for a in google)
    if fields == "enterprise":
        assert all(isinstance(a["rating"], float) and a["user_rating_count"] >= 1 for a in google)
        assert any("website" in a for a in google)
    else:
        assert not any(ENTERPRISE_ONLY & a.keys() for a in google), masks
    assert any(a.get("address", {}).get("street") for a in google)
    billed = area["summary"]["google_calls_billed"]
    assert area["summary"]["google_usd"] == price_usd(billed, settings.google_prices, sku)  # type: ignore[arg-type]

    cafes = expected_osm_places(shapely.geometry.shape(HELSINKI_POLYGON), ["amenity=cafe"])
    with_street = [c for c in cafes if c.tags.get("addr:street")]
    assert with_street
    for cafe in with_street:
        address = osm[cafe.key]["address"]
        assert address["street"] == cafe.tags["addr:street"]
        assert address.get("housenumber") == cafe.tags.get("addr:housenumber")
    by_id = {row["source_id"]: row for row in rows}
    sample = with_street[0]
    assert by_id[sample.key]["address"].startswith(sample.tags["addr:street"])
    assert set(rows[0]) >= {"address", "opening_hours", "website", "phone", "wheelchair", "rating"}
