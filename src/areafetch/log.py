"""Structured logging: one event per line, JSON when not on a terminal.

Log lines are short and greppable: `event` names what happened (`job.completed`), the
other keys carry ids and durations.

areafetch's own (structlog) loggers render each line themselves and write it to stderr: a worker
logs twice per job, and handing every event to the stdlib `logging` machinery first (a record,
caller lookup, handler lock, a copied record in the formatter) cost more than the rendering, about
a seventh of a no-op job's CPU time. Libraries' stdlib loggers go through a `logging` handler with
the same processors and renderer, so both kinds of line look the same. JSON is rendered by orjson,
and the ids of the job being run come from its one binding (`areafetch.job_log.add_job_ids`).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict

from areafetch.config import LogFormat
from areafetch.job_log import add_job_ids

__all__ = ["configure_logging", "get_logger"]

# structlog's method names that are not level names (as `structlog.processors.add_log_level` maps them)
_LEVEL_NAMES = {"warn": "warning", "exception": "error"}


def configure_logging(*, level: str = "INFO", log_format: LogFormat = "auto") -> None:
    """Route structlog and the stdlib `logging` through one renderer on stderr."""
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    if use_json:
        own: list[Any] = [_standard_fields, _render_json]
        foreign: list[Any] = [structlog.processors.format_exc_info, _render_json]
    else:
        console = [
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.dev.ConsoleRenderer(colors=False),
        ]
        own, foreign = [_standard_fields, *console], console
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[_standard_fields, structlog.stdlib.ExtraAdder()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *foreign],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=own,
        logger_factory=_stderr_logger,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )


def _standard_fields(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """What every line has: level, logger, time and the ids of the job being run.

    One processor, not structlog's four (a worker writes two lines per job, and with rendering on
    the same call the line costs a sixth less). The time is left for orjson to write in ISO 8601
    (a tenth of what formatting it here costs)."""
    event_dict["level"] = _LEVEL_NAMES.get(method_name, method_name)
    record = event_dict.get("_record")  # a stdlib record: its logger, not the formatter's
    event_dict["logger"] = logger.name if record is None else record.name
    event_dict["timestamp"] = datetime.now(UTC)
    return add_job_ids(logger, method_name, event_dict)


def _render_json(logger: Any, method_name: str, event_dict: EventDict) -> str:
    if "exc_info" in event_dict:  # `log.exception`: the traceback as text, under `exception`
        event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
    return orjson.dumps(event_dict, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z).decode()


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
