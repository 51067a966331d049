"""Names other code, Node.js producers and dashboards rely on: queues, job names, key prefixes."""

from __future__ import annotations

from typing import Final

TEST_QUEUE: Final = "test-jobs"
AREAS_QUEUE: Final = "areas"
ALL_QUEUES: Final = (TEST_QUEUE, AREAS_QUEUE)

TEST_JOB: Final = "test"

LIMITER_KEY_PREFIX: Final = "areafetch:limiter"
