"""Peak memory of a worker storing an area of 1,000,000 places read from a local OSM extract.

A generated `.osm.pbf` holds 1,000,000 tagged nodes (``amenity=cafe`` and a ``name``) on a grid
inside a 0.1 x 0.05 degree box. It is
written once with pyosmium's `SimpleWriter` and cached as ``bench/results/memory-<N>.osm.pbf``.

A real ``areafetch worker`` process (``AREAFETCH_OSM_EXTRACT_PATH`` set to that file, one CPU pool
process) runs against Redis and a throwaway PostgreSQL database ``bench_<random>``. The area (the
box, a little larger) is submitted through the web API (the app runs in this process) with sources
``["osm_extract"]``; this process waits until the area is completed and checks that the database
links exactly N distinct places to it.

Memory is measured two ways, for the worker and for each of its child processes (the CPU pool's
process, which reads the extract, and multiprocessing's resource tracker):

- ``VmHWM`` from ``/proc/<pid>/status`` (the kernel's high-water mark of the resident set) read
  once the area is completed: the exact peak;
- the resident set sampled every 50 ms with psutil, as a cross-check and a timeline.

The target (issue 7, item 5) applies to the worker process: peak RSS under 300 MB.

    python -m bench memory        (or: python -m bench.memory)

``AREAFETCH_BENCH_MEMORY_PLACES`` sets N (default 1,000,000). Prints a Markdown table and writes
bench/results/memory.json. Takes about a minute once the extract is cached (generating it adds
about 15 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from tests.helpers import area_client, settings_env

from bench._infra import REDIS_URL, bench_database, delete_keys, plain_dsn
from bench._report import RESULTS_DIR, Figure, Report, at_most, save

PLACES = int(os.environ.get("AREAFETCH_BENCH_MEMORY_PLACES", "1000000"))
BBOX = (24.90, 60.15, 25.00, 60.20)  # west, south, east, north: about 5.6 x 5.6 km in Helsinki
AREA_MARGIN_DEG = 0.001
TARGET_MB = 300.0
SAMPLE_S = 0.05
TIMEOUT_S = 600.0
MB = 1024 * 1024


# --- the extract ---------------------------------------------------------------------------------


def extract_path(places: int) -> Path:
    return RESULTS_DIR / f"memory-{places}.osm.pbf"


def grid_location(index: int, places: int, bbox: tuple[float, float, float, float]) -> tuple[float, float]:
    """The ``index``-th point of a square grid of ``places`` points inside ``bbox`` (cell centres)."""
    west, south, east, north = bbox
    side = math.ceil(math.sqrt(places))
    row, col = divmod(index, side)
    return west + (col + 0.5) * (east - west) / side, south + (row + 0.5) * (north - south) / side


def write_extract(path: Path, places: int, bbox: tuple[float, float, float, float] = BBOX) -> Path:
    """Write ``places`` cafes (node ids 1..places) on a grid inside ``bbox``; atomically, then cached."""
    import osmium
    import osmium.osm.mutable

    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial.osm.pbf")
    writer = osmium.SimpleWriter(str(partial), overwrite=True)
    try:
        for index in range(places):
            node_id = index + 1
            writer.add_node(
                osmium.osm.mutable.Node(
                    id=node_id,
                    version=1,
                    location=grid_location(index, places, bbox),
                    tags={"amenity": "cafe", "name": f"Cafe {node_id}"},
                )
            )
    finally:
        writer.close()
    partial.replace(path)
    return path


# --- the database, the worker --------------------------------------------------------------------


@contextlib.contextmanager
def worker_process(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``areafetch worker`` as its own OS process, ready (it logged ``worker.started``); killed at the end."""
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "areafetch", "worker"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not _log_events(log_path, "worker.started"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start:\n{log_path.read_text(errors='replace')}")
                time.sleep(0.05)
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
            proc.wait()


def _log_events(log_path: Path, event: str) -> list[dict[str, Any]]:
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == event:
                found.append(record)
    return found


# --- measuring memory ----------------------------------------------------------------------------


def vm_hwm_bytes(pid: int) -> int | None:
    """The peak resident set of a process (``VmHWM``), or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def database_backends_cpu_s(database: str) -> float:
    """CPU seconds of the PostgreSQL backends serving ``database`` (those still connected)."""
    total = 0.0
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(database in part for part in proc.info["cmdline"] or ()):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


def role_of(proc: psutil.Process) -> str:
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.Error:
        return "gone"
    if "resource_tracker" in cmdline:
        return "resource tracker"
    if "spawn_main" in cmdline:
        return "CPU pool process"
    return "other child"


@dataclass
class TreeSampler:
    """Samples the RSS of a process and its descendants every ``interval_s`` in a thread."""

    pid: int
    interval_s: float = SAMPLE_S
    peaks: dict[int, int] = field(default_factory=dict)
    roles: dict[int, str] = field(default_factory=dict)
    cpu_s: dict[int, float] = field(default_factory=dict)  # user + system, at the last sample
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # (s, worker RSS, children RSS)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        root = psutil.Process(self.pid)
        started = time.monotonic()
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                worker_rss = self._sample(root)
                children_rss = sum(self._sample(child) for child in root.children(recursive=True))
                self.timeline.append((time.monotonic() - started, worker_rss, children_rss))
                self.samples += 1
            self._stop.wait(self.interval_s)

    def _sample(self, proc: psutil.Process) -> int:
        try:
            with proc.oneshot():
                rss = int(proc.memory_info().rss)
                times = proc.cpu_times()
        except psutil.Error:
            return 0
        self.cpu_s[proc.pid] = times.user + times.system
        if proc.pid not in self.roles:
            self.roles[proc.pid] = "worker" if proc.pid == self.pid else role_of(proc)
        self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), rss)
        return rss


# --- one run -------------------------------------------------------------------------------------


def area_bbox() -> list[float]:
    west, south, east, north = BBOX
    return [west - AREA_MARGIN_DEG, south - AREA_MARGIN_DEG, east + AREA_MARGIN_DEG, north + AREA_MARGIN_DEG]


async def submit_and_wait(
    settings: Any, worker: subprocess.Popen[bytes]
) -> tuple[str, dict[str, Any], float]:
    """Submit the area through the web API; wait until it is completed. (area id, area, seconds)."""
    async with area_client(settings) as client:
        started = time.monotonic()
        response = await client.post(
            "/api/areas",
            json={
                "name": "bench-memory",
                "bbox": area_bbox(),
                "sources": ["osm_extract"],
                "categories": ["cafe"],
            },
        )
        if response.status_code != 202:
            raise RuntimeError(f"submit refused: {response.status_code} {response.text}")
        area_id: str = response.json()["area_id"]
        deadline = started + TIMEOUT_S
        while True:
            area: dict[str, Any] = (await client.get(f"/api/areas/{area_id}")).json()
            if area["state"] in {"completed", "failed"}:
                return area_id, area, time.monotonic() - started
            if time.monotonic() > deadline:
                raise RuntimeError(f"area not finished after {TIMEOUT_S:g} s: {area}")
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}) before the area finished")
            await asyncio.sleep(0.1)


async def stored_counts(database_url: str, area_id: str) -> tuple[int, int]:
    """(links of the area, distinct places linked), straight from the database."""
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS links, count(DISTINCT place_id) AS places FROM area_places WHERE area_id = $1",
            uuid.UUID(area_id),
        )
        assert row is not None
        return int(row["links"]), int(row["places"])
    finally:
        await conn.close()


def measure(places: int = PLACES) -> dict[str, Any]:
    from areafetch.config import Settings

    started = time.monotonic()
    pbf = write_extract(extract_path(places), places)
    generated_s = time.monotonic() - started
    with bench_database() as database_url:
        settings = Settings(
            environment="test",
            redis_url=REDIS_URL,
            database_url=database_url,
            queue_prefix=f"bm{uuid.uuid4().hex[:10]}",
            osm_extract_path=pbf,
            log_format="json",
            cpu_workers=1,
            submit_burst=1000,
        )
        log_path = RESULTS_DIR / "memory-worker.log"
        try:
            with worker_process(settings_env(settings), log_path) as proc:
                idle_rss = psutil.Process(proc.pid).memory_info().rss
                sampler = TreeSampler(proc.pid)
                sampler.start()
                try:
                    backends_before_s = database_backends_cpu_s(database_name(database_url))
                    area_id, area, elapsed_s = asyncio.run(submit_and_wait(settings, proc))
                    hwm = {pid: vm_hwm_bytes(pid) for pid in sampler.roles}
                    backends_s = database_backends_cpu_s(database_name(database_url)) - backends_before_s
                finally:
                    sampler.stop()
                fetches = [
                    record
                    for record in _log_events(log_path, "job.completed")
                    if record.get("name") == "fetch"
                ]
        finally:
            delete_keys(REDIS_URL, f"{settings.queue_prefix}:*")
        if area["state"] != "completed":
            raise RuntimeError(f"area failed: {area['failed_reason']}")
        links, distinct = asyncio.run(stored_counts(database_url, area_id))
    if links != places or distinct != places:
        raise RuntimeError(f"expected {places} places stored once, found {links} links, {distinct} distinct")
    result = _result(places, pbf, generated_s, idle_rss, sampler, hwm, area, elapsed_s, fetches, proc.pid)
    result["postgres_cpu_s"] = backends_s
    return result


def database_name(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    return str(make_url(database_url).database)


def _result(
    places: int,
    pbf: Path,
    generated_s: float,
    idle_rss: int,
    sampler: TreeSampler,
    hwm: dict[int, int | None],
    area: dict[str, Any],
    elapsed_s: float,
    fetches: list[dict[str, Any]],
    worker_pid: int,
) -> dict[str, Any]:
    processes = [
        {
            "pid": pid,
            "role": role,
            "vm_hwm_mb": (hwm.get(pid) or 0) / MB,
            "sampled_peak_mb": sampler.peaks.get(pid, 0) / MB,
            "cpu_s": sampler.cpu_s.get(pid, 0.0),
        }
        for pid, role in sampler.roles.items()
    ]
    processes.sort(key=lambda row: (row["pid"] != worker_pid, row["pid"]))
    fetch_s = sum(record["duration_ms"] for record in fetches) / 1000
    step = max(1, round(0.5 / SAMPLE_S))
    return {
        "places": places,
        "extract": {"path": str(pbf), "bytes": pbf.stat().st_size, "generated_s": generated_s},
        "worker_idle_mb": idle_rss / MB,
        "processes": processes,
        "samples": sampler.samples,
        "submit_to_completed_s": elapsed_s,
        "fetch_job_s": fetch_s,
        "places_per_s": places / elapsed_s,
        "summary": area["summary"],
        "timeline_mb": [
            (round(t, 2), round(worker / MB, 1), round(children / MB, 1))
            for t, worker, children in sampler.timeline[::step]
        ],
    }


# --- report --------------------------------------------------------------------------------------


def _peak(result: dict[str, Any], role: str) -> float:
    return max((row["vm_hwm_mb"] for row in result["processes"] if row["role"] == role), default=0.0)


def _table(result: dict[str, Any]) -> str:
    lines = [
        f"One `areafetch worker` (one CPU pool process) stores an area of {result['places']:,} places "
        f"from a {result['extract']['bytes'] / MB:.1f} MB `.osm.pbf`; peak RSS is the kernel's `VmHWM`, "
        f"cross-checked by psutil every {SAMPLE_S * 1000:.0f} ms ({result['samples']} samples):",
        "",
        "| process | peak RSS (VmHWM) | peak RSS sampled | CPU time | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in result["processes"]:
        target = f"< {TARGET_MB:g} MB" if row["role"] == "worker" else ""
        lines.append(
            f"| {row['role']} (pid {row['pid']}) | {row['vm_hwm_mb']:.0f} MB | {row['sampled_peak_mb']:.0f} MB "
            f"| {row['cpu_s']:.1f} s | {target} |"
        )
    lines += [
        f"| PostgreSQL backends of the run's database | | | {result['postgres_cpu_s']:.1f} s | |",
        "",
        "| places | worker RSS idle | submit to completed | fetch job | places/s |",
        "| ---: | ---: | ---: | ---: | ---: |",
        f"| {result['places']:,} | {result['worker_idle_mb']:.0f} MB | {result['submit_to_completed_s']:.1f} s | "
        f"{result['fetch_job_s']:.1f} s | {result['places_per_s']:,.0f} |",
    ]
    return "\n".join(lines)


def main() -> Report:
    started = time.monotonic()
    result = measure()
    table = _table(result)
    print(table)
    print(f"\n({time.monotonic() - started:.0f} s)")
    figures = [
        at_most(
            f"worker peak RSS, {result['places']:,} places", _peak(result, "worker"), TARGET_MB, unit="MB"
        ),
        Figure("CPU pool process peak RSS", _peak(result, "CPU pool process"), "MB"),
        Figure("places stored per second (submit to completed)", result["places_per_s"], "/s"),
    ]
    return save(Report("memory", "Memory", figures, table, result))


if __name__ == "__main__":
    main()
