"""Prometheus metrics of this process and of every live worker process, merged."""

from __future__ import annotations

import prometheus_client
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from areafetch.metrics import REGISTRY, MergedCollector, read_worker_samples
from areafetch.web.deps import RedisDep, SettingsDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(redis: RedisDep, settings: SettingsDep) -> Response:
    """Prometheus text format: areafetch's counters summed over this process and the live workers."""
    workers = await read_worker_samples(redis, settings.queue_prefix)
    body = generate_latest(MergedCollector(REGISTRY, workers)) + generate_latest(prometheus_client.REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
