"""The fake Overpass server: format, limits (429, then a 403 ban), User-Agent, status and faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import shapely

from tests.fakes.expected import expected_osm_keys
from tests.fakes.extract import OsmData
from tests.fakes.fixtures import TEST_USER_AGENT
from tests.fakes.overpass import OverpassFake, OverpassFault, OverpassSettings

UA = {"User-Agent": TEST_USER_AGENT}
POLY = "60.165 24.935 60.175 24.935 60.175 24.95 60.165 24.95"
AREA = shapely.box(24.935, 60.165, 24.95, 60.175)
QUERY = f"""[out:json][timeout:25][maxsize:67108864];
(
  nwr["amenity"="cafe"](poly:"{POLY}");
  nwr["leisure"="park"](poly:"{POLY}");
);
out center tags;"""
SMALL_QUERY = (
    '[out:json][timeout:25];node["amenity"="cafe"](60.1695,24.9375,60.1705,24.9385);out center tags;'
)


@pytest.fixture
def lenient(helsinki_data: OsmData) -> Iterator[OverpassFake]:
    """No rate limit: for the format and fault tests."""
    with OverpassFake.running(helsinki_data.path, rate_per_s=None, penalty_s=0) as fake:
        yield fake


def post(fake: OverpassFake, query: str = QUERY, timeout: float = 30) -> httpx.Response:
    return httpx.post(fake.interpreter_url, data={"data": query}, headers=UA, timeout=timeout)


def test_answers_in_overpass_json(lenient: OverpassFake, helsinki_data: OsmData) -> None:
    response = post(lenient)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["version", "generator", "osm3s", "elements"]
    assert body["version"] == 0.6
    assert "Overpass API" in body["generator"]
    assert body["osm3s"]["timestamp_osm_base"] == helsinki_data.timestamp
    assert "openstreetmap.org" in body["osm3s"]["copyright"]
    elements = body["elements"]
    kinds = {e["type"] for e in elements}
    assert kinds == {"node", "way", "relation"} or kinds >= {"node", "way"}
    for element in elements:
        if element["type"] == "node":
            assert set(element) == {"type", "id", "lat", "lon", "tags"}
        else:
            assert set(element) == {"type", "id", "center", "tags"}
            assert set(element["center"]) == {"lat", "lon"}
        assert element["tags"].get("amenity") == "cafe" or element["tags"].get("leisure") == "park"
    order = [({"node": 0, "way": 1, "relation": 2}[e["type"]], e["id"]) for e in elements]
    assert order == sorted(order)
    assert len(set(order)) == len(order)

    # after clipping by centre, exactly the independently computed places
    def inside(e: dict[str, object]) -> bool:
        point = e["center"] if e["type"] != "node" else e
        assert isinstance(point, dict)
        return bool(AREA.covers(shapely.Point(point["lon"], point["lat"])))

    clipped = {f"{e['type']}/{e['id']}" for e in elements if inside(e)}
    assert clipped == expected_osm_keys(AREA, ["amenity=cafe", "leisure=park"])
    assert len(clipped) > 50


def test_output_modes_and_request_forms(lenient: OverpassFake) -> None:
    centre_tags = post(lenient).json()["elements"]
    assert (
        post(lenient, QUERY.replace("out center tags;", "out tags center;")).json()["elements"] == centre_tags
    )
    tags_only = post(lenient, QUERY.replace("out center tags;", "out tags;")).json()["elements"]
    assert all(set(e) == {"type", "id", "tags"} for e in tags_only)
    body = post(lenient, QUERY.replace("out center tags;", "out;")).json()["elements"]
    ways = [e for e in body if e["type"] == "way"]
    assert ways
    assert all("nodes" in w and "center" not in w for w in ways)
    relations = [e for e in body if e["type"] == "relation"]
    assert all(r["members"][0].keys() == {"type", "ref", "role"} for r in relations)
    ids = post(lenient, QUERY.replace("out center tags;", "out ids;")).json()["elements"]
    assert all(set(e) == {"type", "id"} for e in ids)
    # raw body and GET ?data= are accepted like the form field
    raw = httpx.post(lenient.interpreter_url, content=QUERY.encode(), headers=UA)
    assert raw.json()["elements"] == centre_tags
    get = httpx.get(lenient.interpreter_url, params={"data": QUERY}, headers=UA)
    assert get.json()["elements"] == centre_tags


def test_bad_query_is_400_with_an_html_error(lenient: OverpassFake) -> None:
    response = post(lenient, '[out:json];\nnode["amenity"="cafe"](around:50,60.1,24.9);out;')
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert re.search(r"Error</strong>: line 2: parse error: ", response.text)
    assert lenient.requests[-1].outcome == "bad_request"


@pytest.mark.parametrize(
    "user_agent", [None, "", "python-httpx/0.28.1", "python-requests/2.32.3", "Python-urllib/3.11"]
)
def test_user_agent_is_required(lenient: OverpassFake, user_agent: str | None) -> None:
    headers = {} if user_agent is None else {"User-Agent": user_agent}
    with httpx.Client(headers={"User-Agent": ""}) as client:
        if user_agent is None:
            del client.headers["User-Agent"]
        response = client.post(lenient.interpreter_url, data={"data": SMALL_QUERY}, headers=headers)
    assert response.status_code == 406
    assert lenient.requests[-1].outcome == "bad_user_agent"


async def test_two_slots_then_429_then_ban(helsinki_data: OsmData) -> None:
    with OverpassFake.running(
        helsinki_data.path, rate_per_s=None, latency_s=1.0, penalty_s=30, ban_s=1.0
    ) as fake:
        async with httpx.AsyncClient(headers=UA, timeout=10) as client:

            async def ask() -> int:
                response = await client.post(fake.interpreter_url, data={"data": SMALL_QUERY})
                return response.status_code

            first = asyncio.create_task(ask())
            second = asyncio.create_task(ask())
            await asyncio.sleep(0.3)  # both are running now
            assert await ask() == 429  # a third concurrent query: no slot
            assert sorted([await first, await second]) == [200, 200]
            assert await ask() == 403  # came back within the penalty period: banned
            assert await ask() == 403
            status = (await client.get(fake.status_url)).text
            assert "Slot available after:" in status
            await asyncio.sleep(1.1)  # the ban is over
            assert await ask() == 200
        outcomes = [r.outcome for r in fake.requests if r.path == "/api/interpreter"]
        assert outcomes.count("no_slot") == 1
        assert outcomes.count("banned") == 2
        assert [r.status for r in fake.rejections()] == [429, 403, 403]


def test_rate_limit_then_ban(helsinki_data: OsmData) -> None:
    with OverpassFake.running(helsinki_data.path, rate_per_s=1, burst=1, penalty_s=0.5, ban_s=0.5) as fake:
        assert post(fake, SMALL_QUERY).status_code == 200
        too_soon = post(fake, SMALL_QUERY)
        assert too_soon.status_code == 429
        assert "rate_limited" in too_soon.text
        assert "retry-after" not in too_soon.headers
        assert post(fake, SMALL_QUERY).status_code == 403
        assert post(fake, SMALL_QUERY).status_code == 403  # still banned
        time.sleep(1.0)  # the ban is over and the rate allows the next query
        assert post(fake, SMALL_QUERY).status_code == 200
        assert [r.outcome for r in fake.requests] == ["ok", "rate_limited", "banned", "banned", "ok"]


def test_a_paced_client_is_never_rejected(helsinki_data: OsmData) -> None:
    with OverpassFake.running(helsinki_data.path, rate_per_s=10, burst=2) as fake:
        statuses = []
        for _ in range(8):
            statuses.append(post(fake, SMALL_QUERY).status_code)
            time.sleep(0.1)
        assert statuses == [200] * 8
        assert fake.rejections() == []


def test_status_text(helsinki_data: OsmData) -> None:
    with OverpassFake.running(helsinki_data.path, rate_per_s=0.5) as fake:
        before = httpx.get(fake.status_url).text
        lines = before.splitlines()
        assert lines[0].startswith("Connected as: ")
        assert lines[0].split(": ")[1].isdigit()
        assert re.fullmatch(r"Current time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[1])
        assert "Rate limit: 2" in lines
        assert "2 slots available now." in lines
        assert lines[-1] == "Currently running queries (pid, space limit, time limit, start time):"
        assert post(fake, SMALL_QUERY).status_code == 200
        after = httpx.get(fake.status_url).text
        waits = re.findall(r"Slot available after: \S+Z, in (\d+) seconds\.", after)
        assert len(waits) == 2
        assert all(1 <= int(w) <= 2 for w in waits)
        assert "slots available now" not in after
        assert [r.outcome for r in fake.requests if r.path == "/api/status"] == ["status", "status"]


async def test_status_lists_running_queries(helsinki_data: OsmData) -> None:
    with OverpassFake.running(helsinki_data.path, rate_per_s=None, latency_s=0.5) as fake:
        async with httpx.AsyncClient(headers=UA) as client:
            query = asyncio.create_task(client.post(fake.interpreter_url, data={"data": SMALL_QUERY}))
            await asyncio.sleep(0.2)
            status = (await client.get(fake.status_url)).text
            assert "1 slots available now." in status
            assert re.search(r"^\d+\t536870912\t25\t\d{4}-", status, re.MULTILINE)
            assert (await query).status_code == 200


@pytest.mark.parametrize("kind", ["remark_timeout", "remark_memory"])
def test_fault_remark_with_partial_data(lenient: OverpassFake, kind: str) -> None:
    full = post(lenient).json()["elements"]
    lenient.inject(OverpassFault(kind=kind))
    response = post(lenient)
    assert response.status_code == 200
    body = response.json()
    assert list(body)[-1] == "remark"
    expected = "Query timed out" if kind == "remark_timeout" else "Query run out of memory"
    assert body["remark"].startswith("runtime error: ")
    assert expected in body["remark"]
    assert 0 < len(body["elements"]) < len(full)
    assert "remark" not in post(lenient).json()  # one fault, one request


def test_fault_timeout_remark_text(lenient: OverpassFake) -> None:
    lenient.inject(OverpassFault(kind="remark_timeout"))
    remark = post(lenient).json()["remark"]
    assert remark == 'runtime error: Query timed out in "query" at line 2 after 25 seconds.'


def test_fault_truncated_json(lenient: OverpassFake) -> None:
    lenient.inject(OverpassFault(kind="truncated", count=2))
    for _ in range(2):
        response = post(lenient)
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.text)
    assert post(lenient).json()["elements"]
    assert [r.outcome for r in lenient.requests] == ["fault:truncated", "fault:truncated", "ok"]


def test_fault_disconnect(lenient: OverpassFake) -> None:
    lenient.inject(OverpassFault(kind="disconnect"))
    with pytest.raises(httpx.RemoteProtocolError):
        post(lenient)
    assert post(lenient).status_code == 200


def test_fault_html_error_with_200(lenient: OverpassFake) -> None:
    lenient.inject(OverpassFault(kind="html_error"))
    response = post(lenient)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "runtime error" in response.text


def test_fault_busy_504(lenient: OverpassFake) -> None:
    lenient.inject(OverpassFault(kind="busy"))
    response = post(lenient)
    assert response.status_code == 504
    assert "too busy" in response.text


def test_fault_http_error(lenient: OverpassFake) -> None:
    lenient.inject(OverpassFault(kind="http_error", status=502))
    assert post(lenient).status_code == 502


@pytest.mark.serial  # sub-second timing: alone on the machine
def test_fault_429_storm_arms_the_penalty(helsinki_data: OsmData) -> None:
    with OverpassFake.running(helsinki_data.path, rate_per_s=None, penalty_s=0.3, ban_s=0.3) as fake:
        fake.inject(OverpassFault(kind="rate_limited", count=3))
        assert fake.pending_faults()[0].count == 3
        assert post(fake).status_code == 429
        assert post(fake).status_code == 403  # too soon after the 429
        time.sleep(0.35)
        assert post(fake).status_code == 429
        time.sleep(0.35)
        assert post(fake).status_code == 429
        time.sleep(0.35)
        assert post(fake).status_code == 200
        assert fake.pending_faults() == []


def test_fault_slow(lenient: OverpassFake) -> None:
    lenient.inject(OverpassFault(kind="slow", delay_s=1.0, count=2))
    with pytest.raises(httpx.ReadTimeout):
        post(lenient, timeout=0.3)
    started = time.monotonic()
    assert post(lenient).status_code == 200
    assert time.monotonic() - started >= 0.9
    assert lenient.requests[-1].outcome == "fault:slow"


def test_max_elements_forces_tile_splitting(helsinki_data: OsmData) -> None:
    with OverpassFake.running(helsinki_data.path, rate_per_s=None, max_elements=20) as fake:
        big = post(fake).json()
        assert len(big["elements"]) == 20
        assert big["remark"].startswith("runtime error: Query timed out")
        small = post(fake, SMALL_QUERY).json()
        assert "remark" not in small
        assert 0 < len(small["elements"]) <= 20
        fake.configure(max_elements=None, max_elements_remark="memory")
        assert "remark" not in post(fake).json()
        fake.configure(max_elements=5)
        assert "out of memory" in post(fake).json()["remark"]
        assert [r.outcome for r in fake.requests] == [
            "remark:max_elements",
            "ok",
            "ok",
            "remark:max_elements",
        ]


def test_records_reset_and_configure(helsinki_data: OsmData) -> None:
    with OverpassFake.running(helsinki_data.path, rate_per_s=1, penalty_s=60, ban_s=60) as fake:
        assert post(fake, SMALL_QUERY).status_code == 200
        assert post(fake, SMALL_QUERY).status_code == 429
        assert post(fake, SMALL_QUERY).status_code == 403
        record = fake.requests[0]
        assert record.client == "127.0.0.1"
        assert record.user_agent == TEST_USER_AGENT
        assert record.started <= record.finished
        assert record.elements is not None
        assert fake.requests_since(record.seq)[0].status == 429
        fake.reset()
        assert fake.requests == []
        assert post(fake, SMALL_QUERY).status_code == 200  # the ban is forgotten too
        with pytest.raises(ValueError, match="slots"):
            fake.configure(slots=0)
        assert fake.configure(rate_per_s=None)["rate_per_s"] is None


def test_settings_reject_unknown_fields() -> None:
    with pytest.raises(ValueError, match="slot"):
        OverpassSettings.model_validate({"slot": 3})


def test_runs_as_a_separate_process(helsinki_data: OsmData) -> None:
    with OverpassFake.running(helsinki_data.path, in_process=False, rate_per_s=None, max_elements=10) as fake:
        body = post(fake).json()
        assert len(body["elements"]) == 10
        assert "remark" in body
        fake.inject(OverpassFault(kind="busy"))
        assert post(fake).status_code == 504
        assert [r.status for r in fake.requests] == [200, 504]


# --- the cost model ------------------------------------------------------------------------------

WIDE_QUERY = f"""[out:json][timeout:25][maxsize:67108864];
nwr["amenity"](poly:"{POLY}");
out center tags;"""


def costed(data: OsmData, **overrides: Any) -> contextlib.AbstractContextManager[OverpassFake]:
    """A slow server (0.05 ms per element scanned, 1 ms per element printed) at 1/1000 of the time."""
    values = {"time_scale": 0.001, "scan_s_per_element": 0.00005, "return_s_per_element": 0.001}
    settings = OverpassSettings.costed(**{**values, **overrides})
    return OverpassFake.running(data.path, settings=settings)


def test_cost_grows_with_elements_scanned_and_returned(helsinki_data: OsmData) -> None:
    with costed(helsinki_data, cooldown_factor=0) as fake:
        assert post(fake, SMALL_QUERY).status_code == 200
        assert post(fake, WIDE_QUERY).status_code == 200
        small, wide = (r.detail for r in fake.requests)
        assert small["scanned"] < wide["scanned"]
        assert 0 < small["run_s"] < wide["run_s"]
        printed = fake.requests[1].elements
        assert printed is not None
        assert printed > 100
        expected = wide["scanned"] * 0.00005 + printed * 0.001
        assert wide["run_s"] == pytest.approx(expected, rel=1e-3)


def test_past_the_timeout_a_200_with_the_timeout_remark(helsinki_data: OsmData) -> None:
    with costed(helsinki_data, cooldown_factor=0) as fake:
        full = post(fake, WIDE_QUERY).json()["elements"]
        run_s = fake.requests[0].detail["run_s"]
        scan_s = fake.requests[0].detail["scanned"] * 0.00005
        timeout_s = math.ceil(scan_s + (run_s - scan_s) / 2)  # runs out while printing
        response = post(fake, WIDE_QUERY.replace("[timeout:25]", f"[timeout:{timeout_s}]"))
        assert response.status_code == 200
        body = response.json()
        assert (
            body["remark"]
            == f'runtime error: Query timed out in "print" at line 3 after {timeout_s} seconds.'
        )
        assert 0 < len(body["elements"]) < len(full)
        assert fake.requests[-1].outcome == "remark:timeout"
        fake.configure(scan_s_per_element=1.0)  # now the scan alone takes longer than the timeout
        body = post(fake, WIDE_QUERY).json()
        assert body["remark"] == 'runtime error: Query timed out in "query" at line 2 after 25 seconds.'
        assert body["elements"] == []


def test_past_the_maxsize_a_200_with_the_memory_remark(helsinki_data: OsmData) -> None:
    with costed(helsinki_data, cooldown_factor=0, memory_bytes_per_element=2**20) as fake:
        body = post(fake, WIDE_QUERY).json()
        assert (
            body["remark"]
            == 'runtime error: Query run out of memory in "query" at line 2 using about 64 MB of RAM.'
        )
        assert body["elements"] == []
        assert fake.requests[-1].outcome == "remark:memory"
        assert "remark" not in post(fake, SMALL_QUERY).json()


async def test_a_slot_cools_down_after_a_query_then_429(helsinki_data: OsmData) -> None:
    # Each query runs >= 0.1 s (wall) and then holds its slot 20 times as long.
    with costed(
        helsinki_data, time_scale=0.2, scan_s_per_element=0, return_s_per_element=0.5, cooldown_factor=20
    ) as fake:
        async with httpx.AsyncClient(headers=UA, timeout=10) as client:

            async def ask() -> int:
                return (await client.post(fake.interpreter_url, data={"data": SMALL_QUERY})).status_code

            assert [await ask(), await ask()] == [200, 200]  # both slots now cool down
            status = (await client.get(fake.status_url)).text
            assert len(re.findall(r"^Slot available after: \S+Z, in \d+ seconds\.$", status, re.M)) == 2
            assert "slots available now" not in status
            assert await ask() == 429
            assert fake.requests[-1].outcome == "no_slot"
        assert [r.status for r in fake.rejections()] == [429]
