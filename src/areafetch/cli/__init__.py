"""`areafetch`: thin typer commands that call plain functions."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from areafetch import event_loop
from areafetch.config import Settings, get_settings
from areafetch.log import configure_logging
from areafetch.tracing import TracingError, configure_tracing, shutdown_tracing, tracing_wanted

app = typer.Typer(
    help="Asynchronous, strictly rate-limited retrieval of geographic data.", no_args_is_help=True
)


def _check_tracing() -> None:
    """Stop start-up on a tracing variable areafetch cannot honour, naming it."""
    try:
        tracing_wanted()
    except TracingError as exc:
        typer.echo(f"areafetch: {exc}", err=True)
        raise typer.Exit(2) from exc


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command-line options that were given on top; a
    setting that does not validate stops the command (exit 2) naming its variable."""
    changes = {key: value for key, value in overrides.items() if value is not None}
    try:
        settings = Settings(**changes) if changes else get_settings()
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            where = f"AREAFETCH_{str(error['loc'][0]).upper()}: " if error["loc"] else ""
            typer.echo(
                f"areafetch: invalid settings: {where}{error['msg'].removeprefix('Value error, ')}", err=True
            )
        raise typer.Exit(2) from None
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    return settings


@app.command()
def web(
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
) -> None:
    """Serve the HTTP API and pages."""
    import uvicorn

    settings = _settings(web_host=host, web_port=port)
    _check_tracing()
    uvicorn.run(
        "areafetch.web.app:create_app_from_env",
        factory=True,
        host=settings.web_host,
        port=settings.web_port,
        loop=event_loop.loop_name(settings.event_loop),
        log_config=None,
        timeout_keep_alive=settings.web_keepalive_s,
        timeout_graceful_shutdown=10,
    )


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="jobs in flight per queue")] = None,
    queue: Annotated[list[str] | None, typer.Option(help="queue to serve (repeatable); default: all")] = None,
    processes: Annotated[
        int, typer.Option(help="worker processes under one supervisor; 0: one per core", min=0)
    ] = 1,
    watch_parent: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run a worker process (separate from the web app), or several under a supervisor."""
    from areafetch.supervisor import Supervisor, stop_when_orphaned
    from areafetch.worker import run_worker, served_queues

    unknown = sorted(set(queue or ()) - set(served_queues()))
    if unknown:
        raise typer.BadParameter(
            f"no processors for {', '.join(unknown)}; known: {', '.join(served_queues())}"
        )
    settings = _settings(worker_concurrency=concurrency)
    _check_tracing()
    count = processes or os.cpu_count() or 1
    if count > 1:
        child = [sys.executable, "-m", "areafetch", "worker"]
        child += [] if concurrency is None else ["--concurrency", str(concurrency)]
        child += [arg for name in queue or () for arg in ("--queue", name)]
        raise typer.Exit(Supervisor(child, count, grace_s=settings.shutdown_grace_s).run())
    if watch_parent is not None:
        stop_when_orphaned(watch_parent)
    configure_tracing("areafetch-worker")
    try:
        event_loop.run(run_worker(settings, queues=queue or None), settings.event_loop)
    finally:
        shutdown_tracing()


@app.command()
def migrate() -> None:
    """Create the database if needed and apply all migrations."""
    from areafetch.db import migrate as run_migrations
    from areafetch.redaction import redacted_url

    settings = _settings()
    run_migrations(settings.database_url)
    typer.echo(f"migrated {redacted_url(settings.database_url)}")


@app.command()
def dev(
    host: Annotated[str | None, typer.Option(help="interface for the web app")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port for the web app")] = None,
    data_dir: Annotated[Path, typer.Option(help="where embedded servers keep their data")] = Path(
        ".areafetch-dev"
    ),
    worker_processes: Annotated[
        int, typer.Option(help="worker processes (`areafetch worker --processes`); 0: one per core", min=0)
    ] = 2,
) -> None:
    """Migrations, then the web app and workers; embedded Redis/PostgreSQL when none is reachable."""
    from areafetch.devserver import run_dev

    settings = _settings(web_host=host, web_port=port)
    raise typer.Exit(run_dev(settings, data_dir=data_dir, worker_processes=worker_processes))


_DEFAULT_API_URL = "http://127.0.0.1:8000"


@app.command()
def submit(
    area_file: Annotated[
        Path | None,
        typer.Argument(
            help="GeoJSON: a Polygon/MultiPolygon, a Feature or a FeatureCollection with one polygon",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option(help="overpass, google_places or osm_extract (repeatable)")
    ] = None,
    category: Annotated[list[str] | None, typer.Option(help="e.g. cafe, restaurant (repeatable)")] = None,
    osm_tag: Annotated[
        list[str] | None,
        typer.Option(help="any OSM tag, key=value or a bare key, e.g. shop=bakery, craft (repeatable)"),
    ] = None,
    bbox: Annotated[
        tuple[float, float, float, float] | None,
        typer.Option(help="west south east north, instead of a file", metavar="W S E N", show_default=False),
    ] = None,
    name: Annotated[str | None, typer.Option(help="the area's name; default: the file's name")] = None,
    wait: Annotated[
        bool, typer.Option(help="show progress until the area finishes, then its summary")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option(help="with --wait: stop waiting after this many seconds", min=0.1)
    ] = None,
    estimate: Annotated[
        bool, typer.Option(help="print the estimate (calls, Google's range and price) and submit nothing")
    ] = False,
    api_url: Annotated[str, typer.Option(help="the web app's base URL", envvar="AREAFETCH_API_URL")] = (
        _DEFAULT_API_URL
    ),
) -> None:
    """Submit an area (GeoJSON file or --bbox) to the web app; --wait follows it to the end."""
    from areafetch.cli.submit import EXIT_INVALID, AreaFileError, area_request, load_area_file, run_submit

    if (area_file is None) == (bbox is None):
        raise typer.BadParameter("give an area file or --bbox W S E N (one of them)")
    if not source:
        raise typer.BadParameter("at least one --source", param_hint="--source")
    if not category and not osm_tag:
        raise typer.BadParameter("at least one --category or --osm-tag", param_hint="--category")
    area = None
    if area_file is not None:
        try:
            area = load_area_file(area_file)
        except AreaFileError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_INVALID) from None
    default_name = (
        area_file.stem if area_file is not None else "bbox " + " ".join(f"{v:g}" for v in bbox or ())
    )
    body = area_request(
        name=name or default_name,
        sources=source,
        categories=category or [],
        area=area,
        bbox=bbox,
        osm_tags=osm_tag or [],
    )
    raise typer.Exit(
        run_submit(api_url=api_url, body=body, wait=wait, timeout_s=timeout, estimate_only=estimate)
    )


@app.command()
def status(
    areas: Annotated[int, typer.Option(help="how many recent areas to show", min=1, max=1000)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON, for scripts")] = False,
) -> None:
    """Print queues, rate limiters, workers and recent areas (read from Redis and PostgreSQL)."""
    from areafetch.cli.status import run_status

    raise typer.Exit(run_status(_settings(), areas_limit=areas, as_json=as_json))


@app.command()
def schemas(
    out: Annotated[Path, typer.Option(help="folder to write the JSON Schema files into")] = Path("schemas"),
) -> None:
    """Export the JSON Schema of every job payload and result, and an index of queues and job names."""
    from areafetch.schemas import write_schemas

    written = write_schemas(out)
    typer.echo(f"wrote {len(written)} files to {out}")


@app.command()
def categories(
    as_json: Annotated[bool, typer.Option("--json", help="print the taxonomy as JSON, for scripts")] = False,
) -> None:
    """List the categories you can ask for, by group, with their OSM tags and Google types."""
    import json

    from areafetch.areas.categories import CATEGORIES, GROUPS

    if as_json:
        typer.echo(json.dumps([category.as_json() for category in CATEGORIES.values()], indent=2))
        return
    for group, group_label in GROUPS.items():
        typer.echo(group_label)
        for category in (c for c in CATEGORIES.values() if c.group == group):
            tags = ", ".join(f"{key}={value}" for key, value in category.osm_tags)
            typer.echo(
                f"  {category.name:<20} {category.label:<24} {tags}  [{', '.join(category.google_types)}]"
            )


def main() -> None:
    app()
