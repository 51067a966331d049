"""`areafetch`: thin typer commands that call plain functions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from areafetch.config import Settings, get_settings
from areafetch.log import configure_logging

app = typer.Typer(
    help="Asynchronous, strictly rate-limited retrieval of geographic data.", no_args_is_help=True
)


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command-line options that were given on top."""
    changes = {key: value for key, value in overrides.items() if value is not None}
    settings = Settings(**changes) if changes else get_settings()
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
    uvicorn.run(
        "areafetch.web.app:create_app_from_env",
        factory=True,
        host=settings.web_host,
        port=settings.web_port,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="jobs in flight per queue")] = None,
    queue: Annotated[list[str] | None, typer.Option(help="queue to serve (repeatable); default: all")] = None,
) -> None:
    """Run a worker process (separate from the web app)."""
    from areafetch.worker import run_worker, served_queues

    unknown = sorted(set(queue or ()) - set(served_queues()))
    if unknown:
        raise typer.BadParameter(
            f"no processors for {', '.join(unknown)}; known: {', '.join(served_queues())}"
        )
    settings = _settings(worker_concurrency=concurrency)
    asyncio.run(run_worker(settings, queues=queue or None))


@app.command()
def migrate() -> None:
    """Create the database if needed and apply all migrations."""
    from areafetch.db import migrate as run_migrations
    from areafetch.db import redacted

    settings = _settings()
    run_migrations(settings.database_url)
    typer.echo(f"migrated {redacted(settings.database_url)}")


@app.command()
def dev(
    host: Annotated[str | None, typer.Option(help="interface for the web app")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port for the web app")] = None,
    data_dir: Annotated[Path, typer.Option(help="where embedded servers keep their data")] = Path(
        ".areafetch-dev"
    ),
) -> None:
    """Migrations, then the web app and a worker; embedded Redis/PostgreSQL when none is reachable."""
    from areafetch.dev import run_dev

    settings = _settings(web_host=host, web_port=port)
    raise typer.Exit(run_dev(settings, data_dir=data_dir))


def main() -> None:
    app()
