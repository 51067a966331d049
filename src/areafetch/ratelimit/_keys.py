"""Redis key names of one limiter, all under one hash tag so they share a Redis Cluster slot."""

from __future__ import annotations

import re
from dataclasses import dataclass

from areafetch.constants import LIMITER_KEY_PREFIX

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


@dataclass(frozen=True, slots=True)
class LimiterKeys:
    """The keys of the limiter ``name``: ``{<namespace>:<name>}:<part>``.

    The namespace defaults to ``areafetch:limiter``; a deployment (or a test run) that shares a
    Redis with another sets its own (`AREAFETCH_LIMITER_NAMESPACE`) so their budgets stay apart.
    """

    name: str
    state: str
    leases: str
    wake: str
    budget: str

    @classmethod
    def for_name(cls, name: str, namespace: str = LIMITER_KEY_PREFIX) -> LimiterKeys:
        if not _NAME.match(name):
            raise ValueError(
                f"limiter name {name!r} must be 1-128 characters of letters, digits and _.:- "
                "starting with a letter or digit"
            )
        tag = f"{{{namespace}:{name}}}"
        return cls(
            name=name,
            state=f"{tag}:state",
            leases=f"{tag}:leases",
            wake=f"{tag}:wake",
            budget=f"{tag}:budget",
        )

    def all(self) -> tuple[str, ...]:
        return (self.state, self.leases, self.wake, self.budget)
