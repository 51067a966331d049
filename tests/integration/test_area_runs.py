"""Runs of an area: a refresh fetches it again as a new run, and its changes name the places added,
removed, renamed and moved since the run before (mappers' edits made at the fake Overpass)."""

from __future__ import annotations

import csv
import io
import signal

import shapely

from areafetch.config import Settings
from tests.fakes.expected import expected_osm_places
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, area_client, eventually, settings_env
from tests.pipeline import HELSINKI_POLYGON, finished_area, stored_ids, submit, with_upstreams


async def test_a_refresh_is_a_new_run_whose_changes_name_each_edit_and_a_failed_run_removes_nothing(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    cafes = [
        element
        for element in expected_osm_places(shapely.geometry.shape(HELSINKI_POLYGON), ["amenity=cafe"])
        if element.tags.get("name")
    ]
    added, removed, renamed, moved = (f"{e.type}/{e.id}" for e in cafes[:4])
    overpass_fake.configure(edits={"deleted": [added]})  # not mapped yet at the first run
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(update={"max_split_depth": 0})
    await processes.worker(settings_env(settings))
    async with area_client(settings) as client:
        first_id = await submit(client, area=HELSINKI_POLYGON, sources=["overpass"], categories=["cafe"])
        first = await finished_area(client, first_id)
        assert first["state"] == "completed", first["failed_tiles"]
        assert first["run"] == 1
        assert added not in await stored_ids(settings, first_id, "overpass")

        overpass_fake.configure(
            edits={"deleted": [removed], "renamed": {renamed: "Kahvila Uusi"}, "moved_north_m": {moved: 40.0}}
        )
        response = await client.post(f"/api/areas/{first_id}/refresh")
        assert response.status_code == 202, response.text
        started = response.json()
        assert started["run"] == 2
        assert started["first_area_id"] == first_id
        second_ask = await client.post(f"/api/areas/{first_id}/refresh")  # while run 2 goes: one run
        assert second_ask.status_code == 409
        assert "run 2 of area" in second_ask.json()["detail"]
        second = await finished_area(client, started["area_id"])
        assert second["state"] == "completed", second["failed_tiles"]
        assert (second["run"], second["refresh_of"]) == (2, first_id)

        runs = (await client.get(f"/api/areas/{started['area_id']}/runs")).json()
        assert [(run["run"], run["state"]) for run in runs] == [(1, "completed"), (2, "completed")]
        changes = (await client.get(f"/api/areas/{first_id}/runs/2/changes")).json()
        by_id = {f"{c['source_id']}": c for c in changes["places"]}
        assert (changes["added"], changes["removed"], changes["changed"]) == (1, 1, 2), changes
        assert by_id[added]["change"] == "added"
        assert by_id[removed]["change"] == "removed"
        assert by_id[renamed]["what"] == ["renamed"]
        assert by_id[renamed]["name"] == "Kahvila Uusi"
        assert by_id[renamed]["before"]["name"] == cafes[2].tags["name"]
        assert by_id[moved]["what"] == ["moved"]
        assert changes["not_compared"] == {}

        csv_text = (await client.get(f"/api/areas/{first_id}/runs/2/changes", params={"format": "csv"})).text
        rows = list(csv.DictReader(io.StringIO(csv_text)))
        assert sorted(row["change"] for row in rows) == ["added", "changed", "changed", "removed"]

        # Run 3: every Overpass cell fails for good; its places are not compared, never "removed".
        overpass_fake.configure(max_elements=0, max_elements_remark="memory")
        third_id = (await client.post(f"/api/areas/{first_id}/refresh")).json()["area_id"]
        third = await finished_area(client, third_id)
        assert third["state"] in ("partial", "failed")  # cells without a cafe are answered
        changes = (await client.get(f"/api/areas/{first_id}/runs/3/changes")).json()
        assert changes["removed"] == 0
        assert changes["not_compared"] == {"overpass": second["summary"]["places_total"]}
        assert changes["failed_tiles"]

        assert (await client.get(f"/api/areas/{first_id}/runs/4/changes")).status_code == 404
        assert (await client.delete(f"/api/areas/{first_id}")).status_code == 204  # with every run
        assert (await client.get(f"/api/areas/{started['area_id']}")).status_code == 404


async def test_a_refresh_whose_worker_is_killed_finishes_with_the_changes_of_an_uninterrupted_one(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    cafes = [
        f"{e.type}/{e.id}"
        for e in expected_osm_places(shapely.geometry.shape(HELSINKI_POLYGON), ["amenity=cafe"])
        if e.tags.get("name")
    ]
    settings = with_upstreams(area_settings, overpass=overpass_fake)  # small cells: many calls a run
    env = settings_env(settings)
    first_worker = await processes.worker(env)
    async with area_client(settings) as client:
        first_id = await submit(client, area=HELSINKI_POLYGON, sources=["overpass"], categories=["cafe"])
        assert (await finished_area(client, first_id))["state"] == "completed"
        overpass_fake.configure(edits={"deleted": [cafes[0]], "renamed": {cafes[1]: "Toinen nimi"}})
        run_id = (await client.post(f"/api/areas/{first_id}/refresh")).json()["area_id"]

        async def some_tiles_done() -> bool:
            progress = (await client.get(f"/api/areas/{run_id}")).json()["progress"]
            return bool(2 <= progress["tiles_done"] < progress["tiles_total"] - 2)

        await eventually(some_tiles_done, timeout_s=60, what="a few tiles of the refresh done")
        first_worker.signal(signal.SIGKILL)
        await first_worker.wait_exit(timeout_s=10)
        await processes.worker(env)
        run = await finished_area(client, run_id, timeout_s=120)
        assert run["state"] == "completed", run["failed_reason"]
        changes = (await client.get(f"/api/areas/{first_id}/runs/2/changes")).json()

    assert [(c["change"], c["source_id"], c["what"]) for c in changes["places"]] == sorted(
        [("removed", cafes[0], []), ("changed", cafes[1], ["renamed"])], key=lambda c: c[1]
    )
    expected = {key for key in _cafe_keys() if key != cafes[0]}
    assert sorted(await stored_ids(settings, run_id, "overpass")) == sorted(expected)


def _cafe_keys() -> set[str]:
    from tests.fakes.expected import expected_osm_keys

    return expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), ["amenity=cafe"])
