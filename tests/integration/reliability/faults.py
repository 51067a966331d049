"""What each reliability test injected and what it lost: noted after its assertions passed, printed as
one table at the end of the run (`conftest.pytest_terminal_summary`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FaultRecord:
    fault: str
    injected: int
    jobs_lost: int
    duplicates: int


RECORDS: list[FaultRecord] = []


def record_fault(fault: str, *, injected: int, jobs_lost: int, duplicates: int) -> None:
    """Note one fault scenario's figures (called after the test's assertions passed)."""
    RECORDS.append(FaultRecord(fault, injected, jobs_lost, duplicates))
