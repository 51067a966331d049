"""The limiter's Lua scripts: read once from `lua/`, registered once per Redis client.

A file's name carries its key count (`acquire-3.lua` takes three keys); every call is checked
against it. Calls go out as EVALSHA (redis-py loads a script the server does not know yet),
and every Redis failure is translated to `ServiceUnavailable` here, at the boundary, so a
limiter that cannot reach Redis fails closed with one clear error.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from areafetch.errors import ServiceUnavailable

if TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis
    from redis.commands.core import AsyncScript

_FILE_NAME = re.compile(r"^(?P<name>[a-z_]+)-(?P<keys>\d+)\.lua$")


@dataclass(frozen=True, slots=True)
class _Source:
    name: str
    num_keys: int
    text: str


@cache
def _sources() -> dict[str, _Source]:
    sources: dict[str, _Source] = {}
    for entry in resources.files("areafetch.ratelimit").joinpath("lua").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            name = match["name"]
            sources[name] = _Source(name, int(match["keys"]), entry.read_text(encoding="utf-8"))
    return sources


class BoundScript:
    """One script registered on one client; calling it runs EVALSHA and returns integers."""

    __slots__ = ("_script", "name", "num_keys")

    def __init__(self, client: aioredis.Redis, source: _Source) -> None:
        self.name = source.name
        self.num_keys = source.num_keys
        self._script: AsyncScript = client.register_script(source.text)

    async def __call__(self, keys: Sequence[str], args: Sequence[int | str]) -> list[int]:
        if len(keys) != self.num_keys:
            raise TypeError(f"{self.name} takes {self.num_keys} keys, got {len(keys)}")
        try:
            reply = await self._script(keys=keys, args=args)
        except RedisError as exc:
            raise ServiceUnavailable("redis", f"rate limiter script {self.name}: {exc}") from exc
        if isinstance(reply, list):
            return [int(value) for value in reply]
        return [int(reply)]


class Scripts:
    """Every limiter script, registered on one client."""

    __slots__ = (
        "__weakref__",
        "acquire",
        "confirm",
        "extend_lease",
        "pause",
        "record_bytes",
        "release",
        "status",
    )

    def __init__(self, client: aioredis.Redis) -> None:
        sources = _sources()
        self.acquire = BoundScript(client, sources["acquire"])
        self.confirm = BoundScript(client, sources["confirm"])
        self.release = BoundScript(client, sources["release"])
        self.extend_lease = BoundScript(client, sources["extend_lease"])
        self.pause = BoundScript(client, sources["pause"])
        self.record_bytes = BoundScript(client, sources["record_bytes"])
        self.status = BoundScript(client, sources["status"])


_registry: weakref.WeakKeyDictionary[aioredis.Redis, Scripts] = weakref.WeakKeyDictionary()


def scripts_for(client: aioredis.Redis) -> Scripts:
    """The scripts registered on ``client``, registering them on first use."""
    scripts = _registry.get(client)
    if scripts is None:
        scripts = _registry[client] = Scripts(client)
    return scripts
