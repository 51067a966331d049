"""Everything that knows BullMQ: the producer, the area flows, the dashboard's admin, the scripts."""

from areafetch.queue.producer import (
    JobPublic,
    JobState,
    Queues,
    default_job_options,
    enqueue,
    enqueue_area_plan,
    enqueue_many,
    enqueue_test_job,
    find_job,
)

__all__ = [
    "JobPublic",
    "JobState",
    "Queues",
    "default_job_options",
    "enqueue",
    "enqueue_area_plan",
    "enqueue_many",
    "enqueue_test_job",
    "find_job",
]
