"""The reliability suite: faults injected into real processes. Each test records what it injected,
and the figures are printed as one table at the end of the run (the table in docs/reliability.md)."""

from __future__ import annotations

import pytest

from tests.fakes.fixtures import google_places_fake, helsinki_data, helsinki_pbf, overpass_fake
from tests.integration.reliability.faults import RECORDS

__all__ = [
    "google_places_fake",
    "helsinki_data",
    "helsinki_pbf",
    "overpass_fake",
]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RECORDS:
        return
    terminalreporter.section("reliability")
    terminalreporter.write_line("| fault | injected | jobs lost | duplicates |")
    terminalreporter.write_line("| --- | --- | --- | --- |")
    for row in RECORDS:
        terminalreporter.write_line(f"| {row.fault} | {row.injected} | {row.jobs_lost} | {row.duplicates} |")
