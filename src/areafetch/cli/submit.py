"""`areafetch submit`: send an area to the web app's `POST /api/areas`, optionally follow it to the end.

The command talks HTTP only (like any other client), so it works against a web app on another
machine. Exit codes: 0 submitted (or, with `--wait`, completed), 1 the area failed or the web app
could not be used, 2 the input was refused (a bad file, or a 422 naming the field).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from areafetch.areas.states import FINISHED_STATES

__all__ = [
    "EXIT_FAILED",
    "EXIT_INVALID",
    "EXIT_OK",
    "AreaFileError",
    "SubmitError",
    "area_geometry",
    "area_request",
    "load_area_file",
    "run_submit",
    "summary_tables",
    "validation_messages",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_PARTIAL = 3  # some tiles failed for good; the places of the others are stored

_POLYGONS = ("Polygon", "MultiPolygon")

_MAX_POLL_ERRORS = 20  # consecutive failed polls (about 10 s at 0.5 s) before giving up
_HTTP_TIMEOUT_S = 30.0

# The request body's fields as a person typed them on the command line.
_FIELD_OPTIONS = {
    "name": "--name",
    "area": "the area file",
    "bbox": "--bbox",
    "sources": "--source",
    "categories": "--category",
    "osm_tags": "--osm-tag",
}


class AreaFileError(ValueError):
    """The area file cannot be read, is not JSON, or holds no single polygon."""


class SubmitError(Exception):
    """The submission or the wait for it went wrong; `exit_code` says how the command ends."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --- the request ------------------------------------------------------------------------------


def load_area_file(path: Path) -> dict[str, Any]:
    """The polygon geometry in a GeoJSON file.

    Args:
        path: a file holding a Polygon/MultiPolygon geometry, a Feature with one, or a
            FeatureCollection with exactly one feature, a polygon.

    Raises:
        AreaFileError: the file cannot be read, is not JSON or holds no single polygon.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AreaFileError(f"{path}: cannot read it: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AreaFileError(f"{path}: not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    try:
        return area_geometry(data)
    except AreaFileError as exc:
        raise AreaFileError(f"{path}: {exc}") from None


def area_geometry(data: Any) -> dict[str, Any]:
    """The Polygon/MultiPolygon geometry of parsed GeoJSON (a geometry, Feature or FeatureCollection).

    Only the shape of the GeoJSON is checked here; coordinates, rings and size are the web
    app's to judge (its 422 names the problem).

    Raises:
        AreaFileError: no single polygon geometry in it.
    """
    if not isinstance(data, dict):
        raise AreaFileError(f"expected a GeoJSON object, got a JSON {type(data).__name__}")
    kind = data.get("type")
    if kind == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list):
            raise AreaFileError("a FeatureCollection needs a `features` list")
        if len(features) != 1:
            raise AreaFileError(
                f"the FeatureCollection holds {len(features)} features; it must hold exactly one, a polygon"
            )
        data, kind = features[0], "Feature"
        if not isinstance(data, dict) or data.get("type") != "Feature":
            raise AreaFileError("the FeatureCollection's feature is not a GeoJSON Feature")
    if kind == "Feature":
        geometry = data.get("geometry")
        if not isinstance(geometry, dict):
            raise AreaFileError("the Feature has no geometry")
        data, kind = geometry, geometry.get("type")
    if kind not in _POLYGONS:
        raise AreaFileError(
            f"expected a Polygon or MultiPolygon (or a Feature or FeatureCollection holding one), got {kind!r}"
        )
    if "coordinates" not in data:
        raise AreaFileError(f"the {kind} has no coordinates")
    return {"type": kind, "coordinates": data["coordinates"]}


def area_request(
    *,
    name: str,
    sources: Sequence[str],
    categories: Sequence[str],
    area: dict[str, Any] | None = None,
    bbox: Sequence[float] | None = None,
    osm_tags: Sequence[str] = (),
) -> dict[str, Any]:
    """The `POST /api/areas` body: `area` (GeoJSON geometry) or `bbox` (west, south, east, north)."""
    if (area is None) == (bbox is None):
        raise ValueError("give exactly one of area and bbox")
    body: dict[str, Any] = {"name": name, "sources": list(sources), "categories": list(categories)}
    if osm_tags:
        body["osm_tags"] = list(osm_tags)
    if area is not None:
        body["area"] = area
    else:
        body["bbox"] = list(bbox or ())
    return body


def validation_messages(detail: Any) -> list[str]:
    """One line per entry of a 422's `detail`, naming the field (and its command-line option)."""
    if not isinstance(detail, list):
        return [str(detail)]
    lines = []
    for entry in detail:
        if not isinstance(entry, dict):
            lines.append(str(entry))
            continue
        loc = [str(part) for part in entry.get("loc", ()) if part != "body"]
        field = ".".join(loc) or "request body"
        option = _FIELD_OPTIONS.get(loc[0]) if loc else None
        label = f"{field} ({option})" if option else field
        lines.append(f"{label}: {entry.get('msg', 'invalid')}")
    return lines


# --- talking to the web app -------------------------------------------------------------------


async def _submit(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[str, str]:
    try:
        response = await client.post("/api/areas", json=body)
    except httpx.TransportError as exc:
        raise SubmitError(f"cannot reach the web app at {client.base_url}: {exc}") from exc
    if response.status_code == 422:
        lines = validation_messages(_json(response).get("detail"))
        raise SubmitError("the area was refused:\n  " + "\n  ".join(lines), exit_code=EXIT_INVALID)
    if response.status_code != 202:
        raise SubmitError(f"POST /api/areas answered {response.status_code}: {response.text[:500]}")
    created = _json(response)
    return str(created["area_id"]), str(created["job_id"])


async def _estimate(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = await client.post("/api/areas/estimate", json=body)
    except httpx.TransportError as exc:
        raise SubmitError(f"cannot reach the web app at {client.base_url}: {exc}") from exc
    if response.status_code == 422:
        lines = validation_messages(_json(response).get("detail"))
        raise SubmitError("the area was refused:\n  " + "\n  ".join(lines), exit_code=EXIT_INVALID)
    if response.status_code != 200:
        raise SubmitError(f"POST /api/areas/estimate answered {response.status_code}: {response.text[:500]}")
    return _json(response)


def estimate_lines(estimate: dict[str, Any]) -> list[str]:
    """What `submit --estimate` prints: size, calls per source, Google's range and price, the verdict."""
    calls = ", ".join(f"{s['source']} {s['upstream_calls']}" for s in estimate["sources"])
    lines = [
        f"{estimate['area_km2']} km², {estimate['tiles']} tiles, {estimate['circles']} circles",
        f"upstream calls {estimate['upstream_calls']} ({calls}); per-job cap {estimate['max_upstream_calls_per_job']}",
    ]
    google = estimate.get("google")
    if google:
        ceiling = google["calls_ceiling"]
        usd_ceiling = google["usd_ceiling"]
        lines.append(
            f"google {google['calls_floor']}-{'?' if ceiling is None else ceiling} calls "
            f"({google['known_places']} places known), {google['usd_floor']:.2f}-"
            f"{'?' if usd_ceiling is None else f'{usd_ceiling:.2f}'} USD at {google['sku']}"
        )
    verdict = "accepted" if estimate["accepted"] else "would be refused: " + "; ".join(estimate["reasons"])
    lines.append(verdict)
    return lines


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"detail": response.text[:500]}
    return data if isinstance(data, dict) else {"detail": data}


@dataclass
class _ProgressView:
    """A rich progress bar of the area's work done (the API's `percent`, which only rises when
    Overpass cells split), with its tiles done / total beside it; still planning, it pulses."""

    progress: Progress
    task: TaskID

    @classmethod
    def start(cls, console: Console) -> _ProgressView:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[tiles]} tiles"),
            TimeElapsedColumn(),
            console=console,
        )
        progress.start()
        return cls(progress, progress.add_task("queued", total=None, tiles="0/?"))

    def update(self, area: dict[str, Any]) -> None:
        state = str(area.get("state"))
        tiles = area.get("progress") or {}
        total = int(tiles.get("tiles_total") or 0)
        by_source = tiles.get("by_source") or {}
        detail = "  ".join(f"{name} {p['done']}/{p['total']}" for name, p in sorted(by_source.items()))
        self.progress.update(
            self.task,
            description=f"{state:<9} {detail}".rstrip(),
            completed=float(tiles.get("percent") or 0.0),
            total=100.0 if total else None,
            tiles=f"{int(tiles.get('tiles_done') or 0)}/{total}",
        )

    def stop(self) -> None:
        self.progress.stop()


async def _wait(
    client: httpx.AsyncClient,
    area_id: str,
    *,
    console: Console,
    poll_interval_s: float,
    timeout_s: float | None,
) -> dict[str, Any]:
    """Poll `GET /api/areas/{id}` until the area completes or fails, showing a progress bar."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    errors: list[str] = []
    view = _ProgressView.start(console)
    state = "queued"
    try:
        while True:
            try:
                response = await client.get(f"/api/areas/{area_id}")
            except httpx.TransportError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code == 404:
                    raise SubmitError(f"area {area_id} is gone (404)")
                if response.status_code == 200:
                    errors.clear()
                    area = response.json()
                    state = str(area.get("state"))
                    view.update(area)
                    if state in FINISHED_STATES:
                        return dict(area)
                else:  # 503 while Redis or PostgreSQL restart: keep trying for a while
                    errors.append(f"{response.status_code}: {response.text[:200]}")
            if len(errors) >= _MAX_POLL_ERRORS:
                raise SubmitError(f"gave up following area {area_id}: {errors[-1]}")
            if deadline is not None and time.monotonic() > deadline:
                raise SubmitError(f"area {area_id} still {state} after {timeout_s:g} s; it goes on")
            await asyncio.sleep(poll_interval_s)
    finally:
        view.stop()


# --- the summary ------------------------------------------------------------------------------


def summary_tables(area: dict[str, Any]) -> list[Table]:
    """Places by category and source, then the area's figures (density, calls, duration)."""
    summary = area.get("summary") or {}
    by_source: dict[str, dict[str, int]] = summary.get("places_by_source_and_category") or {}
    sources = sorted(by_source)
    categories = sorted({category for counts in by_source.values() for category in counts})
    places = Table(title=f"places in {area.get('name', 'the area')}")
    places.add_column("category")
    for source in sources:
        places.add_column(source, justify="right")
    places.add_column("total", justify="right", style="bold")
    for category in categories:
        counts = [by_source[source].get(category, 0) for source in sources]
        places.add_row(category, *map(str, counts), str(sum(counts)))
    totals = [sum(by_source[source].values()) for source in sources]
    places.add_row("total", *map(str, totals), str(summary.get("places_total", sum(totals))), style="bold")

    figures = Table(title="figures", show_header=False)
    figures.add_column("figure")
    figures.add_column("value", justify="right")
    figures.add_row("places", str(summary.get("places_total", 0)))
    if len(sources) > 1 and summary.get("places_merged") is not None:
        figures.add_row("real places (records linked)", str(summary["places_merged"]))
        figures.add_row("  in more than one source", str(summary.get("places_in_several_sources", 0)))
        for source, count in sorted((summary.get("places_only_in_source") or {}).items()):
            figures.add_row(f"  only in {source}", str(count))
    figures.add_row("area (km²)", f"{float(summary.get('area_km2', area.get('area_km2', 0))):.3f}")
    figures.add_row("density (places/km²)", f"{float(summary.get('density_per_km2', 0)):.1f}")
    figures.add_row("tiles", str(summary.get("tiles", area.get("progress", {}).get("tiles_total", 0))))
    figures.add_row("upstream calls", str(summary.get("upstream_calls", area.get("upstream_calls", 0))))
    figures.add_row("duration (s)", f"{float(summary.get('duration_s', 0)):.1f}")
    return [places, figures]


# --- the command ------------------------------------------------------------------------------


async def _submit_and_follow(
    *,
    api_url: str,
    body: dict[str, Any],
    wait: bool,
    console: Console,
    err_console: Console,
    poll_interval_s: float,
    timeout_s: float | None,
    estimate_only: bool = False,
) -> int:
    async with httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=_HTTP_TIMEOUT_S) as client:
        if estimate_only:
            estimate = await _estimate(client, body)
            for line in estimate_lines(estimate):
                console.print(line, highlight=False, markup=False)
            return EXIT_OK if estimate["accepted"] else EXIT_FAILED
        area_id, job_id = await _submit(client, body)
        console.print(f"area_id {area_id}")
        console.print(f"job_id  {job_id}")
        if not wait:
            return EXIT_OK
        area = await _wait(
            client, area_id, console=err_console, poll_interval_s=poll_interval_s, timeout_s=timeout_s
        )
    state = area["state"]
    if state in ("failed", "cancelled"):
        reason = escape(str(area.get("failed_reason") or "no reason given"))
        err_console.print(f"[bold red]area {area_id} {state}:[/] {reason}", highlight=False)
        _print_failed_tiles(err_console, area)
        return EXIT_FAILED
    console.print(f"area {area_id} {state}")
    for table in summary_tables(area):
        console.print(table)
    if state == "partial":
        _print_failed_tiles(err_console, area)
        err_console.print(f"retry the failed tiles: POST /api/areas/{area_id}/retry", highlight=False)
        return EXIT_PARTIAL
    return EXIT_OK


def _print_failed_tiles(console: Console, area: dict[str, Any]) -> None:
    failed: list[dict[str, str]] = area.get("failed_tiles") or []
    if not failed:
        return
    table = Table("source", "tile", "reason", title=f"{len(failed)} failed tile(s)", title_justify="left")
    for tile in failed:
        table.add_row(tile["source"], tile["tile_id"], tile["reason"])
    console.print(table)


def run_submit(
    *,
    api_url: str,
    body: dict[str, Any],
    wait: bool = False,
    console: Console | None = None,
    err_console: Console | None = None,
    poll_interval_s: float = 0.5,
    timeout_s: float | None = None,
    estimate_only: bool = False,
) -> int:
    """Submit an area and (with `wait`) follow it to the end; returns the exit code.

    Args:
        api_url: the web app's base URL, e.g. ``http://127.0.0.1:8000``.
        body: the `POST /api/areas` body (see `area_request`).
        wait: follow the area with a progress bar until it completes or fails, then print
            its summary.
        console: where ids and the summary go (stdout by default).
        err_console: where the progress bar and errors go (stderr by default).
        poll_interval_s: time between two `GET /api/areas/{id}`.
        timeout_s: give up waiting after this long (the area goes on); None waits for ever.
        estimate_only: print the estimate (`POST /api/areas/estimate`) and submit nothing; exit 1
            when the area would be refused.
    """
    console = console or Console()
    err_console = err_console or Console(stderr=True)
    try:
        return asyncio.run(
            _submit_and_follow(
                api_url=api_url,
                body=body,
                wait=wait,
                console=console,
                err_console=err_console,
                poll_interval_s=poll_interval_s,
                timeout_s=timeout_s,
                estimate_only=estimate_only,
            )
        )
    except SubmitError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("stopped waiting; the area goes on in the workers")
        return 130
