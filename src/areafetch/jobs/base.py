"""What every job kind declares: its queue, its name, its payload and result models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from areafetch.errors import InvalidPayload

__all__ = ["JobModel", "JobSpec", "describe_validation_error"]


class JobModel(BaseModel):
    """Base of job payloads and results: strict about unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


PayloadT = TypeVar("PayloadT", bound=JobModel)
ResultT = TypeVar("ResultT", bound=JobModel)


@dataclass(frozen=True)
class JobSpec(Generic[PayloadT, ResultT]):
    """One kind of job: where it is queued, what it is called, what it carries and returns."""

    queue: str
    name: str
    payload_model: type[PayloadT]
    result_model: type[ResultT]

    def parse_payload(self, data: Any) -> PayloadT:
        """Validate untrusted job data (from Redis, any producer); raises `InvalidPayload`."""
        try:
            return self.payload_model.model_validate(data)
        except ValidationError as exc:
            raise InvalidPayload(f"invalid {self.name} payload: {describe_validation_error(exc)}") from exc

    def dump_payload(self, payload: PayloadT) -> dict[str, Any]:
        return payload.model_dump(mode="json")

    def parse_result(self, data: Any) -> ResultT:
        return self.result_model.model_validate(data)


def describe_validation_error(exc: ValidationError) -> str:
    """`field: problem; other.field: problem`, the form used in job failure reasons."""
    parts = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(payload)"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)
