"""Prometheus metrics of this process and of every live worker process, merged."""

from __future__ import annotations

import prometheus_client
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from areafetch.metrics import REGISTRY, MergedCollector, WorkerSamples, read_worker_samples
from areafetch.web.deps import RedisDep, SettingsDep

router = APIRouter(tags=["metrics"])

_WORKERS_UP = (
    "# HELP areafetch_worker_metrics_up Whether the workers' metrics could be read from Redis "
    "(0: only this web process is counted).\n"
    "# TYPE areafetch_worker_metrics_up gauge\n"
    "areafetch_worker_metrics_up {up}\n"
)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(redis: RedisDep, settings: SettingsDep) -> Response:
    """Prometheus text format: areafetch's counters summed over this process and the live workers."""
    workers: list[WorkerSamples] = []
    try:
        workers = await read_worker_samples(redis, settings.queue_prefix)
        up = 1
    except (
        RedisError,
        OSError,
    ):  # Redis down: still this process's own metrics, the workers' part marked missing
        up = 0
    body = generate_latest(MergedCollector(REGISTRY, workers)) + generate_latest(prometheus_client.REGISTRY)
    return Response(body + _WORKERS_UP.format(up=up).encode(), media_type=CONTENT_TYPE_LATEST)
