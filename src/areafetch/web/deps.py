"""Shared route dependencies as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.config import Settings
from areafetch.queue import Queues
from areafetch.web.state import AppState

__all__ = ["EngineDep", "QueuesDep", "RedisDep", "SettingsDep", "StateDep"]


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
