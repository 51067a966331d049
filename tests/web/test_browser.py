"""The pages in headless Chromium: paste an area, submit, watch it reach 100 %, see the places.

Real processes: `areafetch web` and `areafetch worker`, against the fake Overpass on the Helsinki
extract. Debian's /usr/bin/chromium is driven by Playwright (never `playwright install`); map tiles
cannot load here, so the pages must work without them. Screenshots go to `artifacts/`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from areafetch.config import Settings
from tests.fakes.google_places import GooglePlacesFake
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, eventually, settings_env
from tests.pipeline import HELSINKI_POLYGON, with_upstreams

if TYPE_CHECKING:
    from playwright.async_api import Page

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"
)


async def test_submit_an_area_and_watch_it_complete_in_the_browser(
    area_settings: Settings,
    processes: ProcessFactory,
    overpass_fake: OverpassFake,
) -> None:
    from playwright.async_api import async_playwright, expect

    ARTIFACTS.mkdir(exist_ok=True)
    settings = with_upstreams(area_settings, overpass=overpass_fake)
    env = settings_env(settings)
    await processes.worker(env)
    _, base_url = await processes.web(env)
    steps: dict[str, float] = {}
    started = time.monotonic()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(15_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # Tiles cannot load here: answer them at once instead of waiting for the network.
            await page.route("https://tile.openstreetmap.org/**", lambda route: route.abort())

            await page.goto(f"{base_url}/")
            await page.get_by_label("Name").fill("helsinki in the browser")
            await page.get_by_label("GeoJSON Polygon or MultiPolygon (WGS84)").fill(
                json.dumps(HELSINKI_POLYGON)
            )
            await page.get_by_label("OpenStreetMap (Overpass)").check()
            await page.get_by_label("Find a category").fill("shop=bakery")
            await expect(page.locator("input[name=categories][value=bakery]")).to_be_visible()
            await expect(page.locator("input[name=categories][value=cafe]")).to_be_hidden()
            await page.get_by_label("Find a category").fill("caf")
            await page.locator("input[name=categories][value=cafe]").check()
            await expect(page.locator("#estimate")).to_contain_text("upstream calls", timeout=15_000)
            await expect(page.locator("#estimate")).to_contain_text("Fits the per-job cap")
            await page.screenshot(path=ARTIFACTS / "browser-1-form.png", full_page=True)
            steps["form filled, estimate shown"] = time.monotonic() - started

            await page.get_by_role("button", name="Submit").click()
            await page.wait_for_url(f"{base_url}/areas/*")
            steps["submitted"] = time.monotonic() - started
            await expect(page.locator("#state")).to_have_text("completed", timeout=120_000)
            steps["completed"] = time.monotonic() - started
            await expect(page.locator("#progress-text")).to_contain_text("(100 %)")
            progress = page.locator("#progress")
            assert await progress.get_attribute("value") == await progress.get_attribute("max")
            rows = page.locator("#places tbody tr")
            await expect(rows.first).to_be_visible()
            count = await rows.count()
            assert count > 0
            assert "cafe" in (await rows.first.inner_text()).lower().replace("é", "e")
            await expect(page.locator("#summary")).to_contain_text("places")
            await page.screenshot(path=ARTIFACTS / "browser-2-area.png", full_page=True)
            steps["places table filled"] = time.monotonic() - started

            await page.get_by_role("link", name="Jobs").click()
            await expect(page.locator("#limiters tbody")).to_contain_text("overpass")
            await expect(page.locator("#counts tbody")).to_contain_text("areas")
            await page.screenshot(path=ARTIFACTS / "browser-3-jobs.png", full_page=True)
            steps["jobs dashboard"] = time.monotonic() - started
            assert errors == []
        finally:
            await browser.close()
    print(
        "browser steps (s since start):", {name: round(at, 1) for name, at in steps.items()}, "places:", count
    )


async def test_cancel_an_area_from_its_page(area_settings: Settings, processes: ProcessFactory) -> None:
    """No worker runs: the area stays queued until its page's Cancel button ends it."""
    import httpx
    from playwright.async_api import expect

    _, base_url = await processes.web(settings_env(area_settings))
    async with httpx.AsyncClient(base_url=base_url) as client:
        body = {
            "name": "to cancel",
            "area": HELSINKI_POLYGON,
            "sources": ["osm_extract"],
            "categories": ["cafe"],
        }
        response = await client.post("/api/areas", json=body)
        assert response.status_code == 202, response.text
        area_id = response.json()["area_id"]

    async with chromium_page(timeout_ms=15_000) as page:
        await page.goto(f"{base_url}/areas/{area_id}")
        await expect(page.locator("#state")).to_have_text("queued")
        await expect(page.get_by_role("button", name="Retry failed tiles")).to_be_hidden()
        await page.get_by_role("button", name="Cancel").click()
        await expect(page.locator("#state")).to_have_text("cancelled")
        await expect(page.get_by_role("button", name="Cancel")).to_be_hidden()


async def test_refresh_an_area_from_its_page_and_see_its_runs_and_changes(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    import httpx
    from playwright.async_api import expect

    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"overpass_max_tile_km2": Settings.model_fields["overpass_max_tile_km2"].default}
    )
    env = settings_env(settings)
    await processes.worker(env)
    _, base_url = await processes.web(env)
    async with httpx.AsyncClient(base_url=base_url) as client:
        body = {"name": "runs", "area": HELSINKI_POLYGON, "sources": ["overpass"], "categories": ["cafe"]}
        area_id = (await client.post("/api/areas", json=body)).json()["area_id"]

    async with chromium_page(timeout_ms=30_000) as page:
        await page.goto(f"{base_url}/areas/{area_id}")
        await expect(page.locator("#state")).to_have_text("completed")
        overpass_fake.configure(edits={"renamed": {_first_cafe(): "Uusi nimi"}})
        await page.get_by_role("button", name="Refresh now").click()
        await page.wait_for_url(lambda url: area_id not in url)
        await expect(page.locator("#state")).to_have_text("completed")
        await expect(page.locator("#runs tbody tr")).to_have_count(2)
        await expect(page.locator("#changes-counts")).to_have_text("0 added, 0 removed, 1 changed")
        await expect(page.locator("#changes-table tbody")).to_contain_text("Uusi nimi")
        await page.screenshot(path=ARTIFACTS / "browser-4-runs.png", full_page=True)


def _first_cafe() -> str:
    import shapely

    from tests.fakes.expected import expected_osm_places

    cafe = next(
        e
        for e in expected_osm_places(shapely.geometry.shape(HELSINKI_POLYGON), ["amenity=cafe"])
        if e.tags.get("name")
    )
    return f"{cafe.type}/{cafe.id}"


@contextlib.asynccontextmanager
async def chromium_page(*, timeout_ms: int) -> AsyncIterator[Page]:
    """A page of Debian's headless Chromium; map tiles (unreachable here) are refused at once."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page()
            page.set_default_timeout(timeout_ms)
            await page.route("https://tile.openstreetmap.org/**", lambda route: route.abort())
            yield page
        finally:
            await browser.close()


async def test_an_area_of_two_sources_shows_one_row_per_real_place_with_a_badge_per_source(
    area_settings: Settings, processes: ProcessFactory, google_places_fake: GooglePlacesFake
) -> None:
    import httpx
    from playwright.async_api import expect

    settings = with_upstreams(area_settings, google=google_places_fake)
    await processes.worker(settings_env(settings))
    _, base_url = await processes.web(settings_env(settings))
    async with httpx.AsyncClient(base_url=base_url) as client:
        body = {
            "name": "linked",
            "area": HELSINKI_POLYGON,
            "sources": ["osm_extract", "google_places"],
            "categories": ["cafe"],
        }
        response = await client.post("/api/areas", json=body)
        assert response.status_code == 202, response.text
        area_id = response.json()["area_id"]

    async with chromium_page(timeout_ms=60_000) as page:
        await page.goto(f"{base_url}/areas/{area_id}")
        await expect(page.locator("#state")).to_have_text("completed")
        await expect(page.locator("#conflation-summary")).to_contain_text("real places")
        rows = page.locator("#places tbody tr")
        linked = rows.filter(has=page.locator(".badge-google_places")).filter(
            has=page.locator(".badge-osm_extract")
        )
        await expect(linked.first).to_be_visible()
        await expect(page.locator("#source-heading")).to_have_text("Sources")
        merged_count = await rows.count()
        await page.get_by_label("one row per source's record").check()
        await expect(page.locator("#source-heading")).to_have_text("Source")
        await expect(rows).not_to_have_count(merged_count)
        assert await rows.count() > merged_count
        await page.screenshot(path=ARTIFACTS / "browser-merged-places.png", full_page=True)


async def test_the_console_finds_a_failed_job_shows_its_log_and_pauses_retries_and_cleans(
    settings: Settings, processes: ProcessFactory
) -> None:
    import httpx
    from playwright.async_api import expect

    twice = settings.model_copy(update={"job_attempts": 2})
    worker = await processes.worker(settings_env(twice))
    _, base_url = await processes.web(settings_env(twice))
    async with httpx.AsyncClient(base_url=base_url) as client:
        job_id = (await client.post("/api/jobs/test", json={"message": "doomed", "fail": True})).json()[
            "job_id"
        ]

        async def failed() -> bool:
            return bool((await client.get(f"/api/jobs/{job_id}")).json()["state"] == "failed")

        await eventually(failed, timeout_s=60, what="the job failed")

    async with chromium_page(timeout_ms=30_000) as page:
        page.on("dialog", lambda dialog: dialog.accept())  # the confirmations of bulk actions
        await page.goto(f"{base_url}/jobs")
        await expect(
            page.locator("#jobs-chart svg polyline[data-series='test-jobs:failed']")
        ).to_be_attached()
        await page.locator("#search-state").select_option("failed")
        await page.locator("#search-queue").select_option("test-jobs")
        await page.get_by_role("button", name="Search").click()
        await page.locator("#found").get_by_role("link", name=job_id).click()
        await expect(page.locator("#facts")).to_contain_text("2 of 2")
        await expect(page.locator("#logs li")).to_contain_text(["attempt 2 of 2"])
        await expect(page.locator("#failure")).to_contain_text("Traceback")
        await page.screenshot(path=ARTIFACTS / "browser-job.png", full_page=True)

        await page.goto(f"{base_url}/jobs")
        await page.get_by_role("button", name="Pause of test-jobs").click()
        await expect(page.locator("#counts")).to_contain_text("paused")
        await page.get_by_role("button", name="Resume of test-jobs").click()
        await expect(page.get_by_role("button", name="Pause of test-jobs")).to_be_visible()
        await page.get_by_role("button", name="Retry failed of test-jobs").click()
        await expect(page.locator("#action-result")).to_have_text("1 failed jobs of test-jobs retried")

        async def failed_again() -> bool:
            return len(worker.events("job.failed", job_id=job_id)) == 3  # one more attempt

        await eventually(failed_again, timeout_s=60, what="the retried job failed again")
        await page.get_by_role("button", name="Clean failed of test-jobs").click()
        await expect(page.locator("#action-result")).to_have_text("1 failed jobs of test-jobs deleted")
        await page.screenshot(path=ARTIFACTS / "browser-console.png", full_page=True)
