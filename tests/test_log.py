"""Log lines: areafetch's structlog loggers and libraries' stdlib loggers print the same JSON shape."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from areafetch.job_log import bound
from areafetch.log import configure_logging, get_logger


def test_own_and_library_lines_share_one_json_shape(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="INFO", log_format="json")
    log = get_logger("areafetch.worker")

    with bound(SimpleNamespace(id="j1", data={"area_id": "a1"})):  # as the worker binds the job it runs
        log.info("job.started", attempt=1)
        log.debug("job.hidden")  # below the level
        try:
            raise ZeroDivisionError("boom")
        except ZeroDivisionError:
            log.exception("job.crashed")
        logging.getLogger("areafetch.providers").warning("slow answer from %s", "overpass")
    logging.getLogger("areafetch.metrics").warning("published %d samples", 3)

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == [
        "job.started",
        "job.crashed",
        "slow answer from overpass",
        "published 3 samples",
    ]
    started, crashed, library_in_job, library = lines
    ids = {"job_id": "j1", "area_id": "a1"}
    assert started.items() >= {**ids, "attempt": 1, "level": "info", "logger": "areafetch.worker"}.items()
    assert crashed["level"] == "error"
    assert "ZeroDivisionError: boom" in crashed["exception"]
    assert library_in_job.items() >= {**ids, "logger": "areafetch.providers"}.items()
    assert library.items() >= {"level": "warning", "logger": "areafetch.metrics"}.items()
    assert "job_id" not in library  # logged after the job
    assert all(line["timestamp"].endswith("Z") for line in lines)
