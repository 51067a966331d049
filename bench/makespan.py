"""Rate-limited makespan: one area of K Overpass calls at rate R, with 1, 2 and 4 worker processes.

Everything runs as in production, each its own OS process: the local test Overpass
(`tests/fakes/overpass.py`, real Helsinki data; it answers 429 to a client that breaks its rate
and 403 to one that keeps sending after a 429), one `areafetch web` and N `areafetch worker`
processes (default concurrency), PostgreSQL and Redis.

The area is submitted through the real API (`POST /api/areas` to the `areafetch web` process,
sources ``["overpass"]``): a rectangle over central Helsinki, cut into Overpass tiles of at most
`TILE_KM2`, so it needs K = 60 calls (66 with the global grid before issue 12) (the planned tile count; no tile is split). The fake enforces
R calls/s per client with no burst (plus its default 50 ms of tolerance for network noise), and
the workers' shared limiter is set to the same R (`AREAFETCH_OVERPASS_RATE_PER_S`, burst 1, one
call in flight), so there is no headroom: a call that reaches the fake late, followed by a
punctual one, is a 429. The fake's penalty is 30 s, as the client's shortest pause after a 429.

Worker processes are started once and kept, as in a running service: between runs workers are
only added or stopped (1 → 2 → 4, then 4 → 2 → 1), each warmed up before it takes jobs. Each run
starts from a fresh limiter (its keys deleted) and a reset fake. A fresh
limiter starts with an *empty* bucket (a lost state must never allow a burst, see
`areafetch.ratelimit.gcra`), so the first call goes one interval after planning asks for it and
the K-th call K / R after that: K / R is the least time the rate allows from the first request
to the last, and the ratio's excess over 1 is everything else (the POST, planning, gaps between
calls, the last call, the finalise job, the poll).

    makespan = from just before the POST to the first `GET /api/areas/{id}` that shows
               `completed` (polled every `POLL_S`)
    ratio    = makespan / (K / R)     K = calls the fake answered 200, checked == planned tiles;
                                      429s and 403s are counted apart (each would be one more call)

The fake's request log gives the timeline: POST → first call (includes the first interval),
gaps between call start times, last call done → completed. Worker counts run in the order
1, 2, 4, 4, 2, 1 (`ROUNDS` rounds, alternating); the median per count is reported. Isolation: a
Redis db of its own (the limiter's keys are not per queue prefix, and tests clear them on db 0)
and a PostgreSQL database of its own, dropped at the end.

    python -m bench makespan        (or: python -m bench.makespan)

Prints Markdown tables and writes bench/results/makespan.json (the processes' logs of the last run
are in bench/results/makespan-logs/). Takes about two minutes and a quarter on a busy machine;
a 429 adds the shared pause it causes (30 s or more).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.fakes.extract import helsinki_extract
from tests.fakes.fixtures import TEST_USER_AGENT
from tests.fakes.overpass import OverpassFake
from tests.helpers import ChildProcess, eventually, free_port, settings_env, wait_healthy

from areafetch.config import Settings
from areafetch.constants import LIMITER_KEY_PREFIX
from bench._infra import bench_database, claimed_redis_db, delete_keys
from bench._report import Figure, Report, at_most, save

LOGS = Path(__file__).parent / "results" / "makespan-logs"  # the processes' logs of the last run

# Central Helsinki, inside the extract; with tiles of at most TILE_KM2 it needs 60 Overpass calls.
AREA_BBOX = (24.936, 60.165, 24.952, 60.178)
TILE_KM2 = 0.025
CATEGORIES = ["cafe", "restaurant", "bar"]
RATE_PER_S = 4.4  # K / R = 15 s
WORKER_COUNTS = (1, 2, 4)
ROUNDS = int(os.environ.get("AREAFETCH_BENCH_MAKESPAN_ROUNDS", "2"))
TARGET_RATIO = 1.05
POLL_S = 0.02
RUN_TIMEOUT_S = 150.0  # a 429 costs a shared pause of 30 s or more
CLAIM_KEY = "areafetch:bench:makespan:claim"


@dataclass(frozen=True)
class Run:
    workers: int
    round: int
    planned_tiles: int
    calls: int
    ok: int
    status_429: int
    status_403: int
    makespan_s: float
    bound_s: float
    ratio: float
    first_call_s: float
    last_call_end_s: float
    tail_s: float
    mean_gap_s: float
    max_gap_s: float
    late_calls: int
    area_state: str
    call_starts_s: tuple[float, ...]


# --- isolation: a Redis db of our own, a PostgreSQL database of our own ------------------------


# --- processes -----------------------------------------------------------------------------------


def _settings(database_url: str, redis_url: str, prefix: str, overpass_url: str) -> Settings:
    return Settings(
        environment="test",
        redis_url=redis_url,
        database_url=database_url,
        queue_prefix=prefix,
        log_format="json",
        user_agent=TEST_USER_AGENT,
        overpass_url=overpass_url,
        overpass_rate_per_s=RATE_PER_S,
        overpass_burst=1,
        overpass_max_in_flight=1,
        overpass_max_tile_km2=TILE_KM2,
        submit_rate_per_s=100.0,
    )


class _Workers:
    """The worker processes of the runs, kept from one run to the next: only added or stopped."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self._env = env
        self._log_dir = log_dir
        self._children: list[ChildProcess] = []
        self._started = 0

    async def resize(self, count: int) -> None:
        while len(self._children) > count:
            await _stop(self._children.pop())
        new = [self._start() for _ in range(count - len(self._children))]
        self._children += new
        await asyncio.gather(*(child.wait_for_event("worker.started", timeout_s=60) for child in new))

    def _start(self) -> ChildProcess:
        self._started += 1
        return ChildProcess(["worker"], self._env, self._log_dir / f"worker-{self._started}.log")

    async def close(self) -> None:
        await asyncio.gather(*(_stop(child) for child in self._children))
        self._children = []


async def _stop(child: ChildProcess) -> None:
    child.signal()
    try:
        await child.wait_exit(timeout_s=30)
    except TimeoutError:
        child.kill()


# --- one run -------------------------------------------------------------------------------------


async def _submit_and_wait(base_url: str) -> tuple[str, dict[str, Any], float]:
    west, south, east, north = AREA_BBOX
    body = {"name": "makespan", "bbox": [west, south, east, north], "sources": ["overpass"]}
    body["categories"] = CATEGORIES
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        submitted = time.time()
        response = await client.post("/api/areas", json=body)
        response.raise_for_status()
        area_id = response.json()["area_id"]

        async def finished() -> dict[str, Any] | None:
            area: dict[str, Any] = (await client.get(f"/api/areas/{area_id}")).json()
            return area if area["state"] in {"completed", "failed"} else None

        area = await eventually(finished, timeout_s=RUN_TIMEOUT_S, interval_s=POLL_S, what="area")
        return area_id, area, submitted


async def _one_run(
    fake: OverpassFake, workers: _Workers, base_url: str, redis_url: str, count: int, round_: int
) -> Run:
    await workers.resize(count)
    delete_keys(redis_url, f"{{{LIMITER_KEY_PREFIX}:*")
    fake.reset()
    _, area, submitted = await _submit_and_wait(base_url)
    done = time.time()
    return _measure(fake, area, submitted, done, count, round_)


def _measure(
    fake: OverpassFake, area: dict[str, Any], submitted: float, done: float, workers: int, round_: int
) -> Run:
    records = sorted(fake.requests, key=lambda record: record.started)
    calls = [record for record in records if record.path == "/api/interpreter"]
    starts = [record.started - submitted for record in calls]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    interval = 1.0 / RATE_PER_S
    makespan = done - submitted
    ok = sum(1 for record in calls if record.status == 200)
    bound = ok / RATE_PER_S  # K: the calls the area needed, each answered once (429s are extra)
    last_end = max((record.finished for record in calls), default=submitted) - submitted
    return Run(
        workers=workers,
        round=round_,
        planned_tiles=int(area["progress"]["tiles_total"]),
        calls=len(calls),
        ok=ok,
        status_429=sum(1 for record in calls if record.status == 429),
        status_403=sum(1 for record in calls if record.status == 403),
        makespan_s=makespan,
        bound_s=bound,
        ratio=makespan / bound if bound else float("inf"),
        first_call_s=starts[0] if starts else float("nan"),
        last_call_end_s=last_end,
        tail_s=makespan - last_end,
        mean_gap_s=statistics.fmean(gaps) if gaps else float("nan"),
        max_gap_s=max(gaps, default=float("nan")),
        late_calls=sum(1 for gap in gaps if gap > interval * 1.1),
        area_state=str(area["state"]),
        call_starts_s=tuple(round(start, 4) for start in starts),
    )


# --- report --------------------------------------------------------------------------------------


def _tables(runs: list[Run]) -> str:
    lines = [
        f"One area of K Overpass calls (bbox {list(AREA_BBOX)}, tiles <= {TILE_KM2} km²) at R = "
        f"{RATE_PER_S:g}/s (limiter and fake alike, burst 1, 1 in flight); makespan from POST to "
        "`completed`; ratio = makespan / (K / R). Median per worker count:",
        "",
        "| workers | runs | K (calls) | K / R (s) | makespan (s) | ratio | 429 | 403 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for count in WORKER_COUNTS:
        mine = [run for run in runs if run.workers == count]
        lines.append(
            f"| {count} | {len(mine)} | {mine[0].ok} | {mine[0].bound_s:.2f} | "
            f"{statistics.median(run.makespan_s for run in mine):.2f} | "
            f"{statistics.median(run.ratio for run in mine):.3f} | "
            f"{sum(run.status_429 for run in mine)} | {sum(run.status_403 for run in mine)} |"
        )
    lines += [
        "",
        "Every run, in the order run; times from the POST (s). Gaps are between the fake's call "
        f"start times (the rate allows one per {1 / RATE_PER_S:g} s); late = gap > 1.1 interval:",
        "",
        "| round | workers | planned | calls | first call | mean gap | max gap | late | last call done "
        "| tail | makespan | ratio |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {run.round} | {run.workers} | {run.planned_tiles} | {run.calls} | {run.first_call_s:.3f} | "
        f"{run.mean_gap_s:.3f} | {run.max_gap_s:.3f} | {run.late_calls} | {run.last_call_end_s:.3f} | "
        f"{run.tail_s:.3f} | {run.makespan_s:.3f} | {run.ratio:.3f} |"
        for run in runs
    ]
    return "\n".join(lines)


def _figures(runs: list[Run]) -> list[Figure]:
    figures = [
        at_most(
            f"makespan / (K / R), {count} worker(s)",
            statistics.median(run.ratio for run in runs if run.workers == count),
            TARGET_RATIO,
        )
        for count in WORKER_COUNTS
    ]
    rejected = sum(run.status_429 for run in runs)
    banned = sum(run.status_403 for run in runs)
    figures.append(Figure("429 answers, all runs", rejected, "calls", "= 0", rejected == 0))
    figures.append(Figure("403 answers, all runs", banned, "calls", "= 0", banned == 0))
    return figures


def _check(runs: list[Run]) -> None:
    for run in runs:
        if run.area_state != "completed":
            raise RuntimeError(f"area did not complete: {run}")
        if run.ok != run.planned_tiles:
            raise RuntimeError(f"the fake answered {run.ok} calls for {run.planned_tiles} planned tiles")


def _order() -> list[tuple[int, int]]:
    order: list[tuple[int, int]] = []
    for round_ in range(1, ROUNDS + 1):
        counts = WORKER_COUNTS if round_ % 2 else tuple(reversed(WORKER_COUNTS))
        order += [(count, round_) for count in counts]
    return order


async def _run_all(database_url: str, redis_url: str, prefix: str, logs: Path) -> list[Run]:
    runs: list[Run] = []
    with OverpassFake.running(
        helsinki_extract(), in_process=False, rate_per_s=RATE_PER_S, burst=1, penalty_s=30, ban_s=60
    ) as fake:
        settings = _settings(database_url, redis_url, prefix, fake.interpreter_url)
        env = settings_env(settings)
        port = free_port()
        web = ChildProcess(["web", "--host", "127.0.0.1", "--port", str(port)], env, logs / "web.log")
        workers = _Workers(env, logs)
        try:
            base_url = f"http://127.0.0.1:{port}"
            await wait_healthy(base_url, web, timeout_s=60)
            for count, round_ in _order():
                run = await _one_run(fake, workers, base_url, redis_url, count, round_)
                print(
                    f"  {count} worker(s), round {round_}: {run.calls} calls, {run.makespan_s:.2f} s, "
                    f"ratio {run.ratio:.3f}, 429s {run.status_429}",
                    flush=True,
                )
                runs.append(run)
        finally:
            await workers.close()
            await _stop(web)
    return runs


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that every `finally` runs and stops the processes we started


def main() -> Report:
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return _main()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main() -> Report:
    tag = uuid.uuid4().hex[:10]
    prefix = f"bench-makespan-{tag}"
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    with claimed_redis_db() as redis_url, bench_database() as database_url:
        runs = asyncio.run(_run_all(database_url, redis_url, prefix, LOGS))
    _check(runs)
    table = _tables(runs)
    print(table)
    data = {
        "settings": {
            "area_bbox": AREA_BBOX,
            "tile_km2": TILE_KM2,
            "rate_per_s": RATE_PER_S,
            "rounds": ROUNDS,
            "poll_s": POLL_S,
        },
        "runs": [asdict(run) for run in runs],
    }
    return save(Report("makespan", "Rate-limited makespan", _figures(runs), table, data))


if __name__ == "__main__":
    main()
