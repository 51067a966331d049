"""Structured logging: one event per line, JSON when not on a terminal.

Log lines are short and greppable: `event` names what happened (`job.completed`), the
other keys carry ids and durations.

areafetch's own (structlog) loggers render each line themselves and write it to stderr: a worker
logs twice per job, and handing every event to the stdlib `logging` machinery first (a record,
caller lookup, handler lock, a copied record in the formatter) cost more than the rendering, about
a seventh of a no-op job's CPU time. Libraries' stdlib loggers go through a `logging` handler with
the same processors and renderer, so both kinds of line look the same.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from areafetch.config import LogFormat

__all__ = ["configure_logging", "get_logger"]


def configure_logging(*, level: str = "INFO", log_format: LogFormat = "auto") -> None:
    """Route structlog and the stdlib `logging` through one renderer on stderr."""
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        logger_factory=_stderr_logger,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's line writer with the `name` that `add_logger_name` reads."""

    def __init__(self, name: str, file: TextIO) -> None:
        super().__init__(file)
        self.name = name


def _stderr_logger(name: str = "", *args: Any) -> _NamedWriteLogger:
    return _NamedWriteLogger(name, sys.stderr)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger that takes key-value pairs: `log.info("job.completed", job_id=...)`."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
