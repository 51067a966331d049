"""`python -m bench [name ...]`: run every benchmark module (or the named ones) in turn, then write
`bench/results/summary.md` (the headline table and each module's tables) and `summary.json`."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

from bench._report import Report, headline_table, write


def main(names: list[str]) -> int:
    available = sorted(
        module.name
        for module in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not module.name.startswith("_")
    )
    chosen = names or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr
        )
        return 2
    reports: list[Report] = []
    for name in chosen:
        print(f"== bench.{name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        started = time.monotonic()
        report = module.main()
        report.seconds = time.monotonic() - started
        reports.append(report)
    summary = write(reports)
    print(f"\n{headline_table(reports)}\n\nwrote {summary} and {summary.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
