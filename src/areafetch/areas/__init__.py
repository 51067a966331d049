"""The area domain, shared by the web app and the worker: what an area's jobs are called."""

from areafetch.areas.job_ids import fetch_job_id, finalise_job_id, plan_job_id

__all__ = ["fetch_job_id", "finalise_job_id", "plan_job_id"]
