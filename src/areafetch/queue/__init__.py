"""Everything that knows BullMQ: the producer, the area flows, the dashboard's admin, the scripts."""

from areafetch.queue.producer import (
    JOB_STATES,
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
    "JOB_STATES",
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
