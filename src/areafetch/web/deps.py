"""Shared route dependencies as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.config import Settings
from areafetch.queue import Queues
from areafetch.web.access import check_token, client_key, take_submission_slot
from areafetch.web.state import AppState

__all__ = [
    "EngineDep",
    "QueuesDep",
    "ReadAccessDep",
    "RedisDep",
    "SettingsDep",
    "StateDep",
    "SubmitSlotDep",
    "WriteAccessDep",
]


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.areafetch
    return state


def _settings(state: Annotated[AppState, Depends(_state)]) -> Settings:
    return state.settings


def _queues(state: Annotated[AppState, Depends(_state)]) -> Queues:
    return state.queues


def _redis(state: Annotated[AppState, Depends(_state)]) -> Redis:
    return state.redis


def _engine(state: Annotated[AppState, Depends(_state)]) -> AsyncEngine:
    return state.engine


StateDep = Annotated[AppState, Depends(_state)]
SettingsDep = Annotated[Settings, Depends(_settings)]
QueuesDep = Annotated[Queues, Depends(_queues)]
RedisDep = Annotated[Redis, Depends(_redis)]
EngineDep = Annotated[AsyncEngine, Depends(_engine)]


# auto_error=False: without configured tokens a request needs no header; the scheme still
# shows in OpenAPI, so clients know what to send when tokens are configured.
_bearer = HTTPBearer(auto_error=False, description="an API token from AREAFETCH_API_TOKENS")
_CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _write_access(credentials: _CredentialsDep, settings: SettingsDep) -> str | None:
    return check_token(credentials, settings)


def _read_access(credentials: _CredentialsDep, settings: SettingsDep) -> str | None:
    return check_token(credentials, settings) if settings.protect_reads else None


WriteAccessDep = Annotated[str | None, Depends(_write_access)]
"""The caller's valid token (None when no token is configured); 401 otherwise."""
ReadAccessDep = Annotated[str | None, Depends(_read_access)]
"""Like `WriteAccessDep` when `AREAFETCH_PROTECT_READS` is set; reads are public otherwise."""


async def submit_slot(request: Request, token: WriteAccessDep, state: StateDep) -> None:
    await take_submission_slot(state.redis, state.settings, client_key(request, token))


SubmitSlotDep = Annotated[None, Depends(submit_slot)]
"""Write access plus one slot of the caller's submission rate limit (429 at once when over it)."""
