"""What every benchmark module's `main()` returns, and how `python -m bench` writes it out.

Each module measures side by side in one run and returns a `Report`: headline `Figure`s (the
performance table's rows (docs/performance.md), each with its target when the issue sets one), the module's own detailed
Markdown tables, and its raw data. `python -m bench` writes `bench/results/summary.json` (every
report) and `summary.md` for the whole run; each module's `main()` also `save`s its own
`<name>.json`, so that running one module alone leaves its figures."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Figure:
    measure: str
    value: float
    unit: str
    target: str | None = None
    met: bool | None = None

    def cell(self) -> str:
        if self.unit == "ratio":
            return f"{self.value:.3f}"
        if abs(self.value) >= 100 or float(self.value).is_integer():
            return f"{self.value:,.0f} {self.unit}"
        return f"{self.value:.2f} {self.unit}"


@dataclass
class Report:
    name: str
    title: str
    figures: list[Figure]
    markdown: str
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def at_least(measure: str, value: float, bound: float, unit: str = "ratio") -> Figure:
    return Figure(measure, value, unit, target=f">= {bound:g}", met=value >= bound)


def at_most(measure: str, value: float, bound: float, unit: str = "ratio") -> Figure:
    return Figure(measure, value, unit, target=f"<= {bound:g}", met=value <= bound)


def save(report: Report) -> Report:
    """Write ``results/<name>.json`` (the report's data and tables) and hand the report back."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    document = {**report.data, "table_markdown": report.markdown}
    (RESULTS_DIR / f"{report.name}.json").write_text(json.dumps(document, indent=2) + "\n")
    return report


def headline_table(reports: list[Report]) -> str:
    lines = ["| benchmark | measure | figure | target | met |", "| --- | --- | ---: | --- | --- |"]
    for report in reports:
        for figure in report.figures:
            met = {True: "yes", False: "**no**", None: ""}[figure.met]
            lines.append(
                f"| {report.title} | {figure.measure} | {figure.cell()} | {figure.target or ''} | {met} |"
            )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write(reports: list[Report]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    host = machine()
    summary = {"machine": host, "reports": [asdict(report) for report in reports]}
    (RESULTS_DIR / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    parts = [f"# areafetch benchmarks ({host['at']}, {host['cpus']} CPUs)", ""]
    parts += [headline_table(reports), ""]
    for report in reports:
        parts += [f"## {report.title} ({report.seconds:.0f} s)", "", report.markdown, ""]
    path = RESULTS_DIR / "summary.md"
    path.write_text("\n".join(parts))
    return path
