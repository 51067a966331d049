"""Run a command-line entry point under cProfile counting CPU time (not wall time, which other
processes on a busy machine inflate), and write the stats when it exits:

    python -m bench._profiled OUTPUT.prof areafetch worker --queue test-jobs
"""

from __future__ import annotations

import cProfile
import sys
import time


def main(output: str, argv: list[str]) -> None:
    from areafetch.cli import app

    profiler = cProfile.Profile(time.process_time)
    sys.argv = argv
    profiler.enable()
    try:
        app()
    except SystemExit:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(output)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
