"""`enqueue_many`: many jobs validated, then added with one bullmq `addBulk`."""

from __future__ import annotations

from bullmq import Job

from areafetch.config import Settings
from areafetch.constants import TEST_JOB
from areafetch.jobs import TEST_JOB_SPEC, TestJobPayload
from areafetch.queue import Queues, enqueue_many, find_job


async def test_enqueue_many_adds_every_job_in_order_with_the_default_options(
    queues: Queues, settings: Settings
) -> None:
    payloads = [TestJobPayload(message=f"job {n}") for n in range(5)]

    job_ids = await enqueue_many(queues, TEST_JOB_SPEC, payloads)

    assert len(set(job_ids)) == 5
    queue = queues.get(TEST_JOB_SPEC.queue)
    for job_id, payload in zip(job_ids, payloads, strict=True):
        public = await find_job(queues, job_id)
        assert public is not None
        assert (public.name, public.state) == (TEST_JOB, "waiting")
        job = await Job.fromId(queue, job_id)
        assert job.data == payload.model_dump(mode="json")
        assert job.opts["attempts"] == settings.job_attempts
        assert job.opts["removeOnComplete"]["count"] == settings.keep_completed_count
    assert await enqueue_many(queues, TEST_JOB_SPEC, []) == []
