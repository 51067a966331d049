"""`areafetch submit` and `areafetch status`: the file parsing as plain functions, the commands as OS processes
against a real web app, worker, Redis, PostgreSQL and the fake Overpass."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from rich.console import Console

from areafetch.cli.submit import (
    AreaFileError,
    area_geometry,
    area_request,
    load_area_file,
    summary_tables,
    validation_messages,
)
from areafetch.config import Settings
from areafetch.db import areas as area_queries
from areafetch.db import create_engine
from areafetch.jobs import TestJobPayload
from areafetch.queue import Queues, enqueue_test_job
from tests.fakes.fixtures import TEST_USER_AGENT, TESTS_PAUSE_AFTER_429_S
from tests.fakes.google_places import GooglePlacesFake, GooglePlacesFault
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, settings_env
from tests.pipeline import with_upstreams

# A small block of central Helsinki, inside the test extract: a few Overpass tiles at 0.05 km².
KAMPPI: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [
        [[24.938, 60.166], [24.946, 60.166], [24.946, 60.171], [24.938, 60.171], [24.938, 60.166]]
    ],
}
FEATURE: dict[str, Any] = {"type": "Feature", "properties": {"name": "kamppi"}, "geometry": KAMPPI}


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


async def run_cli(*args: str, env: dict[str, str], timeout_s: float = 120) -> tuple[int, str]:
    """`python -m areafetch ARGS` as its own process; its exit code and its stdout and stderr together."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "areafetch",
        *args,
        env={**env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, output.decode(errors="replace")


# --- the area file ------------------------------------------------------------------------------


def test_a_polygon_geometry_file_is_sent_as_it_is(tmp_path: Path) -> None:
    assert load_area_file(write_json(tmp_path / "a.geojson", KAMPPI)) == KAMPPI


def test_a_feature_gives_its_geometry(tmp_path: Path) -> None:
    assert load_area_file(write_json(tmp_path / "a.geojson", FEATURE)) == KAMPPI


def test_a_feature_collection_with_one_polygon_feature_gives_its_geometry(tmp_path: Path) -> None:
    multi = {"type": "MultiPolygon", "coordinates": [KAMPPI["coordinates"]]}
    collection = {"type": "FeatureCollection", "features": [{**FEATURE, "geometry": multi}]}
    assert load_area_file(write_json(tmp_path / "a.geojson", collection)) == multi


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "FeatureCollection", "features": [FEATURE, FEATURE]}, "holds 2 features"),
        ({"type": "FeatureCollection", "features": []}, "holds 0 features"),
        ({"type": "FeatureCollection"}, "needs a `features` list"),
        ({"type": "Feature", "geometry": None}, "has no geometry"),
        ({"type": "Point", "coordinates": [24.9, 60.1]}, "got 'Point'"),
        ({**FEATURE, "geometry": {"type": "LineString", "coordinates": []}}, "got 'LineString'"),
        ({"type": "Polygon"}, "has no coordinates"),
        ([1, 2, 3], "got a JSON list"),
    ],
)
def test_a_file_without_exactly_one_polygon_is_refused_with_the_reason(data: Any, message: str) -> None:
    with pytest.raises(AreaFileError, match=re.escape(message)):
        area_geometry(data)


def test_a_file_that_is_not_json_names_the_file_and_the_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "Polygon",\n  "coordinates": [[', encoding="utf-8")
    with pytest.raises(AreaFileError, match=r"broken\.geojson: not JSON: .*line 2"):
        load_area_file(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AreaFileError, match=r"missing\.geojson: cannot read it"):
        load_area_file(tmp_path / "missing.geojson")


def test_the_request_body_has_area_or_bbox() -> None:
    body = area_request(name="x", sources=["overpass"], categories=["cafe"], bbox=(1.0, 2.0, 3.0, 4.0))
    assert body == {
        "name": "x",
        "sources": ["overpass"],
        "categories": ["cafe"],
        "bbox": [1.0, 2.0, 3.0, 4.0],
    }
    assert area_request(name="x", sources=["overpass"], categories=["cafe"], area=KAMPPI)["area"] == KAMPPI
    with pytest.raises(ValueError, match="exactly one"):
        area_request(name="x", sources=["overpass"], categories=["cafe"])
    tagged = area_request(name="x", sources=["overpass"], categories=[], osm_tags=["craft"], area=KAMPPI)
    assert (tagged["categories"], tagged["osm_tags"]) == ([], ["craft"])


def test_a_bad_osm_tag_names_its_option() -> None:
    detail = [{"loc": ["body", "osm_tags", 1], "msg": "Value error, 'sh op': an OSM key is ASCII letters"}]
    assert validation_messages(detail) == [
        "osm_tags.1 (--osm-tag): Value error, 'sh op': an OSM key is ASCII letters"
    ]


def test_validation_errors_name_the_field_and_its_option() -> None:
    detail = [
        {"loc": ["body", "categories"], "msg": "Value error, unknown categories ['tea']"},
        {"loc": ["body", "bbox", 0], "msg": "Input should be a valid number"},
        {"loc": ["body"], "msg": "Value error, give exactly one of `area` (GeoJSON) and `bbox`"},
    ]
    assert validation_messages(detail) == [
        "categories (--category): Value error, unknown categories ['tea']",
        "bbox.0 (--bbox): Input should be a valid number",
        "request body: Value error, give exactly one of `area` (GeoJSON) and `bbox`",
    ]


def test_the_summary_tables_show_places_by_category_and_source_and_the_figures() -> None:
    area = {
        "name": "kamppi",
        "summary": {
            "places_total": 5,
            "places_by_source_and_category": {"overpass": {"cafe": 2, "bar": 1}, "osm_extract": {"cafe": 2}},
            "area_km2": 0.25,
            "density_per_km2": 20.0,
            "tiles": 3,
            "upstream_calls": 2,
            "duration_s": 1.25,
            "places_merged": 3,
            "places_in_several_sources": 2,
            "places_only_in_source": {"overpass": 1},
        },
    }
    console = Console(width=120, record=True, file=io.StringIO())
    for table in summary_tables(area):
        console.print(table)
    text = console.export_text()
    assert re.search(r"cafe\s+│\s+2\s+│\s+2\s+│\s+4", text), text  # osm_extract, overpass, total
    assert re.search(r"total\s+│\s+2\s+│\s+3\s+│\s+5", text), text
    assert re.search(r"density \(places/km²\)\s+│\s+20\.0", text), text
    assert re.search(r"upstream calls\s+│\s+2", text), text
    assert re.search(r"real places \(records linked\)\s+│\s+3", text), text
    assert re.search(r"in more than one source\s+│\s+2", text), text
    assert re.search(r"only in overpass\s+│\s+1", text), text


# --- the commands, as processes -----------------------------------------------------------------


@pytest.fixture
def cli_settings(settings: Settings, helsinki_pbf: Path, overpass_fake: OverpassFake) -> Settings:
    return settings.model_copy(
        update={
            "user_agent": TEST_USER_AGENT,
            "osm_extract_path": helsinki_pbf,
            "overpass_url": overpass_fake.interpreter_url,
            "overpass_rate_per_s": 1.8,  # the fake allows 2 queries/s per client
            "overpass_max_in_flight": 1,
            "overpass_max_wait_s": 120.0,
            "overpass_pause_min_s": TESTS_PAUSE_AFTER_429_S,
            "overpass_max_tile_km2": 0.05,
        }
    )


async def test_submit_wait_shows_progress_until_the_area_completes_and_prints_its_summary(
    cli_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake, tmp_path: Path
) -> None:
    env = settings_env(cli_settings)
    await processes.worker(env)
    _, base_url = await processes.web(env)
    path = write_json(tmp_path / "kamppi.geojson", {"type": "FeatureCollection", "features": [FEATURE]})

    started = time.monotonic()
    code, output = await run_cli(
        "submit",
        str(path),
        "--source",
        "overpass",
        "--source",
        "osm_extract",
        "--category",
        "cafe",
        "--category",
        "restaurant",
        "--wait",
        "--api-url",
        base_url,
        env=env,
    )
    elapsed_s = time.monotonic() - started

    assert code == 0, output
    found = re.search(r"area_id ([0-9a-f-]{36})", output)
    assert found, output
    async with httpx.AsyncClient(base_url=base_url) as client:
        area = (await client.get(f"/api/areas/{found[1]}")).json()
    assert area["state"] == "completed"
    assert area["name"] == "kamppi"
    summary = area["summary"]
    tiles = area["progress"]["tiles_total"]
    assert tiles >= 3
    assert f"{tiles}/{tiles} tiles" in output  # the progress bar's last state
    assert "100%" in output  # the bar shows the work done (it only rises when cells split)
    assert f"area {found[1]} completed" in output
    assert "places in kamppi" in output
    for category, counts in _by_category(summary).items():
        row = rf"{category}\s+│\s+{counts['osm_extract']}\s+│\s+{counts['overpass']}\s+│\s+{sum(counts.values())}"
        assert re.search(row, output), output
    assert summary["places_total"] > 10
    assert re.search(rf"places\s+│\s+{summary['places_total']}\b", output), output
    assert re.search(rf"upstream calls\s+│\s+{summary['upstream_calls']}\b", output), output
    assert "density (places/km²)" in output
    assert "duration (s)" in output
    assert overpass_fake.rejections() == []
    print(f"submit --wait: {tiles} tiles, {summary['upstream_calls']} calls, {elapsed_s:.1f} s")


async def test_submit_wait_of_a_partial_area_prints_each_failed_tile_and_exits_3(
    cli_settings: Settings,
    processes: ProcessFactory,
    google_places_fake: GooglePlacesFake,
    tmp_path: Path,
) -> None:
    settings = with_upstreams(cli_settings, google=google_places_fake)
    google_places_fake.inject(GooglePlacesFault(kind="http_error", status=403, count=10_000))
    env = settings_env(settings)
    await processes.worker(env)
    _, base_url = await processes.web(env)
    path = write_json(tmp_path / "kamppi.geojson", FEATURE)

    code, output = await run_cli(
        "submit", str(path), "--source", "osm_extract", "--source", "google_places",
        "--category", "cafe", "--wait", "--api-url", base_url, env=env,
    )  # fmt: skip

    assert code == 3, output
    found = re.search(r"area_id ([0-9a-f-]{36})", output)
    assert found, output
    assert f"area {found[1]} partial" in output
    assert "places in kamppi" in output  # the extract's places are there
    assert re.search(r"\d+ failed tile\(s\)", output), output
    assert "google_places" in output
    assert "google places 403" in output
    assert f"POST /api/areas/{found[1]}/retry" in output


def _by_category(summary: dict[str, Any]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for source, counts in summary["places_by_source_and_category"].items():
        for category, count in counts.items():
            table.setdefault(category, {"osm_extract": 0, "overpass": 0})[source] = count
    return table


async def test_submit_of_an_unknown_category_exits_2_naming_the_field(
    settings: Settings, processes: ProcessFactory
) -> None:
    env = settings_env(settings)
    _, base_url = await processes.web(env)

    code, output = await run_cli(
        "submit",
        "--bbox",
        "24.938",
        "60.166",
        "24.946",
        "60.171",
        "--source",
        "overpass",
        "--category",
        "teahouse",
        "--api-url",
        base_url,
        env=env,
        timeout_s=60,
    )

    assert code == 2, output
    assert "the area was refused" in output
    assert "categories (--category)" in output
    assert "teahouse" in output
    assert "area_id" not in output


async def test_submit_estimate_prints_google_calls_and_price_and_submits_nothing(
    settings: Settings, processes: ProcessFactory
) -> None:
    env = settings_env(settings.model_copy(update={"google_api_key": SecretStr("test-key")}))
    _, base_url = await processes.web(env)

    code, output = await run_cli(
        "submit",
        "--bbox",
        "24.938",
        "60.166",
        "24.946",
        "60.171",
        "--source",
        "google_places",
        "--category",
        "hospital",
        "--estimate",
        "--api-url",
        base_url,
        env=env,
        timeout_s=60,
    )

    assert code == 0, output
    assert "google 1-? calls (0 places known), 0.03-? USD at Nearby Search Pro" in output
    assert "accepted" in output
    assert "area_id" not in output


async def test_submit_of_a_bad_file_exits_2_before_calling_the_web_app(
    settings: Settings, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "point.geojson", {"type": "Point", "coordinates": [24.9, 60.1]})
    code, output = await run_cli(
        "submit",
        str(path),
        "--source",
        "overpass",
        "--category",
        "cafe",
        "--api-url",
        "http://127.0.0.1:9",
        env=settings_env(settings),
        timeout_s=60,
    )
    assert code == 2, output
    assert "point.geojson: expected a Polygon or MultiPolygon" in output


async def test_status_prints_queues_limiters_workers_and_recent_areas(
    settings: Settings, processes: ProcessFactory, queues: Queues
) -> None:
    env = settings_env(settings)
    worker = await processes.worker(env)
    await enqueue_test_job(queues, TestJobPayload(message="later"), delay_ms=600_000)
    area_id = uuid.uuid4()
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            await area_queries.create_area(
                conn,
                area_id=area_id,
                name="status-check",
                geometry=KAMPPI,
                bbox=(24.938, 60.166, 24.946, 60.171),
                area_km2=0.25,
                sources=["overpass"],
                categories=["cafe"],
                job_id=f"{area_id}.plan",
            )
    finally:
        await engine.dispose()

    code, output = await run_cli("status", env=env, timeout_s=60)

    assert code == 0, output
    for title in ("queues", "rate limiters", "workers", "recent areas"):
        assert title in output
    assert re.search(r"test-jobs\s+│\s+0\s+│\s+0\s+│\s+1\s+│", output), (
        output
    )  # waiting, prioritized, delayed
    assert re.search(r"│ areas\s+│", output), output
    assert re.search(r"overpass\s+│\s+[\d.]+ s\s+│\s+0/1\s+│", output), output
    assert re.search(r"google_places\s+│\s+[\d.]+ s\s+│\s+0/4\s+│", output), output
    assert "no worker connected" not in output
    worker_name = rf"\S*:{worker.pid}"  # areafetch names its bullmq workers host:pid
    assert re.search(rf"test-jobs\s+│\s+{worker_name}\s+│\s+\d+\s+│", output), output
    assert re.search(rf"areas\s+│\s+{worker_name}\s+│\s+\d+\s+│", output), output
    # The layout (a row per area, or areas as columns or blocks) follows the width the session's other
    # areas need, so only the cells are checked.
    for cell in (str(area_id), "status-check", "queued", "0/0"):
        assert cell in output, output

    code, output = await run_cli("status", "--json", env=env, timeout_s=60)

    assert code == 0, output
    document = json.loads(output)
    test_jobs = next(queue for queue in document["queues"] if queue["name"] == "test-jobs")
    assert test_jobs["counts"]["delayed"] == 1
    assert any(connected["name"].endswith(f":{worker.pid}") for connected in document["workers"])
    ours = [area for area in document["areas"] if area["id"] == str(area_id)]  # the database is shared
    assert [area["name"] for area in ours] == ["status-check"]
    assert document["problems"] == []


async def test_status_reports_an_unreachable_service_and_exits_1(settings: Settings) -> None:
    env = settings_env(settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"}))
    code, output = await run_cli("status", env=env, timeout_s=60)
    assert code == 1, output
    assert "unavailable: redis redis://127.0.0.1:9/0" in output
    assert "recent areas" in output  # PostgreSQL was still read
    assert "rate limiters" not in output


@pytest.mark.parametrize(
    ("down", "named"),
    [
        (
            {"database_url": "postgresql://postgres@127.0.0.1:9/x"},
            ["postgresql postgresql://postgres@127.0.0.1:9/x"],
        ),
        (
            {"redis_url": "redis://127.0.0.1:9/0", "database_url": "postgresql://postgres@127.0.0.1:9/x"},
            ["redis redis://127.0.0.1:9/0", "postgresql postgresql://postgres@127.0.0.1:9/x"],
        ),
    ],
    ids=["postgresql", "both"],
)
async def test_status_names_every_service_down_without_a_traceback(
    settings: Settings, down: dict[str, str], named: list[str]
) -> None:
    code, output = await run_cli("status", env=settings_env(settings.model_copy(update=down)), timeout_s=60)
    assert code == 1, output
    for service in named:
        assert f"unavailable: {service}" in output, output
    assert "Traceback" not in output


@pytest.mark.parametrize("command", ["web", "worker"])
async def test_an_unsupported_traces_exporter_stops_start_up_naming_the_variable(
    settings: Settings, command: str
) -> None:
    env = {**settings_env(settings), "OTEL_TRACES_EXPORTER": "zipkin"}
    code, output = await run_cli(command, env=env, timeout_s=60)
    assert code == 2, output
    assert "OTEL_TRACES_EXPORTER='zipkin' is not supported: use one of otlp, console, none" in output
