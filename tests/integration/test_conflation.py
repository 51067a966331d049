"""Conflation end to end: an area fetched from Overpass, the extract and a Google that serves the
labelled set is finalised with its records linked; `view=merged` (GeoJSON pages and CSV) gives one
record per real place, at the quality the issue asks for, and the summary counts them."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import httpx

from areafetch.config import Settings
from areafetch.web.routes.places import MERGED_CSV_COLUMNS
from tests.conflation.test_quality import PRECISION_MIN, RECALL_MIN
from tests.fakes.extract import helsinki_extract, load_osm_data
from tests.fakes.google_places import GooglePlacesFake, google_places
from tests.fakes.labelled_places import FOOD_TYPES, labelled_set
from tests.fakes.labelled_quality import CATEGORIES, quality
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, area_client, settings_env
from tests.pipeline import HELSINKI_POLYGON, finished_area, submit, with_upstreams

SOURCES = ["overpass", "osm_extract", "google_places"]


async def merged_pages(client: httpx.AsyncClient, area_id: str, **params: Any) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"view": "merged", "limit": 100, **params, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"/api/areas/{area_id}/places", params=query)).json()
        features += page["features"]
        cursor = page["next_cursor"]
        if cursor is None:
            return features


async def test_an_area_of_three_sources_is_one_record_per_real_place(
    area_settings: Settings,
    processes: ProcessFactory,
    overpass_fake: OverpassFake,
    google_places_fake: GooglePlacesFake,
) -> None:
    google_places_fake.configure(labelled_set=True)
    settings = with_upstreams(area_settings, overpass=overpass_fake, google=google_places_fake).model_copy(
        update={"overpass_max_tile_km2": Settings.model_fields["overpass_max_tile_km2"].default}
    )
    await processes.worker(settings_env(settings))
    async with area_client(settings) as client:
        area_id = await submit(client, area=HELSINKI_POLYGON, sources=SOURCES, categories=list(CATEGORIES))
        area = await finished_area(client, area_id)
        assert area["state"] == "completed", area
        records = (await client.get(f"/api/areas/{area_id}/places", params={"limit": 10_000})).json()
        merged = await merged_pages(client, area_id)
        with_google = await merged_pages(client, area_id, source="google_places")
        cafes = await merged_pages(client, area_id, category="cafe")
        merged_csv = (await client.get(f"/api/areas/{area_id}/places?view=merged&format=csv")).text

    summary = area["summary"]
    # The default view is as it was: one feature per source's record.
    assert len(records["features"]) == summary["places_total"]
    assert records["next_cursor"] is None
    # One feature per real place, on pages that neither repeat nor lose one.
    assert len(merged) == summary["places_merged"] == len({feature["id"] for feature in merged})
    assert sum(len(f["properties"]["sources"]) for f in merged) == summary["places_total"]
    for feature in merged:
        sources = [ref["source"] for ref in feature["properties"]["sources"]]
        assert len(sources) == len(set(sources)), feature  # never two records of one source
        assert (feature["properties"]["match_score"] is None) == (len(sources) == 1)
    several = [f for f in merged if len(f["properties"]["sources"]) > 1]
    assert summary["places_in_several_sources"] == len(several)
    singles = Counter(
        f["properties"]["sources"][0]["source"] for f in merged if len(f["properties"]["sources"]) == 1
    )
    assert summary["places_only_in_source"] == dict(singles)
    assert summary["places_only_in_source"]["google_places"] > 0  # only-on-Google places and distractors
    # Every OSM element is one place in Overpass and the extract.
    assert all(
        {"overpass", "osm_extract"} <= {ref["source"] for ref in f["properties"]["sources"]}
        for f in merged
        if f["properties"]["sources"][0]["source"] != "google_places"
    )

    _assert_quality(merged)
    _assert_union_of_attributes(several)
    # Filters keep a place when any of its records matches.
    google_records = sum(1 for f in records["features"] if f["properties"]["source"] == "google_places")
    assert len(with_google) == google_records
    assert all(any(r["source"] == "google_places" for r in f["properties"]["sources"]) for f in with_google)
    assert cafes
    assert len(cafes) < len(merged)
    rows = list(csv.reader(io.StringIO(merged_csv)))
    assert tuple(rows[0]) == MERGED_CSV_COLUMNS
    assert len(rows) - 1 == len(merged)
    assert any("google_places:" in row[1] and "overpass:" in row[1] for row in rows[1:])


def _assert_quality(merged: list[dict[str, Any]]) -> None:
    data = load_osm_data(helsinki_extract())
    labelled = labelled_set(data)
    links, osm_keys, google_ids = [], set(), set()
    for feature in merged:
        refs = {ref["source"]: ref["source_id"] for ref in feature["properties"]["sources"]}
        osm_keys |= {refs[s] for s in ("overpass", "osm_extract") if s in refs}
        google_ids |= {refs["google_places"]} if "google_places" in refs else set()
        if "google_places" in refs and "overpass" in refs:
            links.append((refs["overpass"], refs["google_places"]))
    found = quality(
        links,
        labelled.truth,
        osm_keys,
        google_ids,
        food_osm_keys={p.osm_key for p in google_places(data) if p.primary_type in FOOD_TYPES},
        food_google_ids={p.id for p in labelled.places if p.primary_type in FOOD_TYPES},
    )
    assert found.expected >= 200, found
    assert found.precision >= PRECISION_MIN, found
    assert found.recall >= RECALL_MIN, found


def _assert_union_of_attributes(several: list[dict[str, Any]]) -> None:
    attributes = [
        f["properties"]["attributes"] for f in several if "google_places" in str(f["properties"]["sources"])
    ]
    assert all(a["business_status"]["source"] == "google_places" for a in attributes)
    assert all(a["amenity"]["source"] == "overpass" for a in attributes if "amenity" in a)
    assert any("amenity" in a for a in attributes)
