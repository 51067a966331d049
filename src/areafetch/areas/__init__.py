"""The area domain, shared by the web app and the worker.

Here: the place model, the one source type and whether a source is configured, an area's job ids.
The planning options (`areas.planning`) and the call-budget rule (`areas.budget`) import the
geometry and limiter models, so they are imported from their modules.
"""

from areafetch.areas.job_ids import fetch_job_id, finalise_job_id, plan_job_id
from areafetch.areas.places import Place
from areafetch.areas.sources import (
    RATE_LIMITED_SOURCES,
    SOURCES,
    Source,
    is_configured,
    unconfigured_reason,
)

__all__ = [
    "RATE_LIMITED_SOURCES",
    "SOURCES",
    "Place",
    "Source",
    "fetch_job_id",
    "finalise_job_id",
    "is_configured",
    "plan_job_id",
    "unconfigured_reason",
]
