"""Who may call the API, how often, and with how large a body.

- Bearer tokens (`AREAFETCH_API_TOKENS`): compared in constant time against every configured
  token; write routes need one when any is configured, read routes when
  `AREAFETCH_PROTECT_READS` is set too.
- Per-client submissions: one shared limiter (`areafetch.ratelimit`, Redis time) per client,
  keyed by a hash of its token or, without one, of its address. An HTTP request never waits
  for a slot: over the limit it is answered 429 with Retry-After at once; Redis down is 503.
- Bodies: `BodyLimitMiddleware` refuses bodies above `AREAFETCH_MAX_BODY_BYTES` (413) by
  Content-Length and while streaming, a body that is not `application/json` (415), JSON nested
  deeper than `AREAFETCH_MAX_JSON_DEPTH` (422) and anything beyond standard JSON (`strict_json`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials

from areafetch.errors import LimiterTimeout, TooManyRequests, Unauthorized
from areafetch.ratelimit import Limiter, LimitPolicy
from areafetch.web.strict_json import JsonRefusal, check_standard_json

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from areafetch.config import Settings

__all__ = [
    "BodyLimitMiddleware",
    "check_token",
    "client_key",
    "document_access",
    "json_depth_exceeds",
    "submission_policy",
    "take_submission_slot",
]


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def token_matches(given: str, tokens: Sequence[str]) -> bool:
    """Whether ``given`` is one of ``tokens``; every token is compared, each in constant time."""
    given_digest = _digest(given)
    found = False
    for token in tokens:  # no early exit: the time taken does not tell which token matched
        found |= hmac.compare_digest(given_digest, _digest(token))
    return found


def check_token(credentials: HTTPAuthorizationCredentials | None, settings: Settings) -> str | None:
    """The bearer token of a request if it is valid, None when no token is configured.

    Raises:
        Unauthorized: a missing or unknown token (401 with ``WWW-Authenticate: Bearer``).
    """
    tokens = settings.api_token_list
    if not tokens:
        return None
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("an API token is required: Authorization: Bearer <token>")
    if not token_matches(credentials.credentials, tokens):
        raise Unauthorized("unknown API token")
    return credentials.credentials


def client_key(request: Request, token: str | None) -> str:
    """Who is submitting, for the rate limit: a hash of the token, else of the client address."""
    if token is not None:
        return "t" + hashlib.sha256(token.encode()).hexdigest()[:24]
    host = request.client.host if request.client else "unknown"
    return "a" + hashlib.sha256(host.encode()).hexdigest()[:24]


def submission_policy(settings: Settings) -> LimitPolicy:
    """The per-client submission limit; a new client starts with its full burst."""
    return LimitPolicy(
        rate_per_s=settings.submit_rate_per_s,
        burst=settings.submit_burst,
        max_in_flight=10_000,
        max_wait_s=0.0,
        start_full=True,
    )


async def take_submission_slot(redis: Redis, settings: Settings, client: str) -> None:
    """Take one submission slot of ``client`` now, or refuse at once.

    Raises:
        TooManyRequests: over the limit (429 with Retry-After).
        ServiceUnavailable: Redis cannot be reached (the limiter fails closed: 503).
    """
    deployment = settings.queue_prefix.replace("{", "").replace("}", "")  # a cluster's hash tag is no name
    name = f"submit:{deployment}:{client}"  # one deployment per prefix, one limit per client
    limiter = Limiter(
        redis, name, submission_policy(settings), metrics_label="submit", namespace=settings.limiter_namespace
    )
    try:
        async with limiter.acquire(max_wait_s=0.0):
            pass
    except LimiterTimeout as exc:
        raise TooManyRequests(
            "too many submissions from this client; retry later", retry_after_s=exc.retry_after_s or 1.0
        ) from exc


# --- bodies ------------------------------------------------------------------------------------

_JSON_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """Whether a JSON text nests arrays/objects deeper than ``max_depth`` (strings ignored)."""
    if body.count(b"[") + body.count(b"{") <= max_depth:  # the common case: no scan needed
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


class BodyLimitMiddleware:
    """Refuse request bodies above ``max_bytes`` (413) and JSON nested deeper than ``max_depth`` (422).

    The body is read (at most ``max_bytes``) before the app sees it, then replayed; later
    ``receive`` calls (disconnect detection of streaming responses) go to the server.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await _refuse(send, 413, f"request body larger than {self.max_bytes} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(send, 413, f"request body larger than {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = _body_problem(scope, body, self.max_depth)
        if problem is not None:
            await _refuse(send, *problem)
            return
        replayed: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([replayed], receive), send)


def _body_problem(scope: Scope, body: bytes, max_depth: int) -> tuple[int, object] | None:
    """The status and detail to refuse ``body`` with, or None to let the app read it."""
    if not body:
        return None
    if not _is_json(scope):
        return 415, "request bodies must be JSON (Content-Type: application/json)"
    if json_depth_exceeds(body, max_depth):
        return 422, [
            _body_error("json_too_deep", f"JSON nested deeper than {max_depth} levels", loc=["body"])
        ]
    try:
        check_standard_json(body)
    except JsonRefusal as exc:
        if exc.loc is None:
            return 400, str(exc)
        return 422, [_body_error("json_not_standard", str(exc), loc=exc.loc)]
    return None


def _body_error(kind: str, message: str, *, loc: list[str | int]) -> dict[str, object]:
    """FastAPI's shape for a 422, so clients show it like any other field error."""
    return {"type": kind, "loc": loc, "msg": message, "input": None}


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _refuse(send: Send, status: int, detail: object) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- OpenAPI ------------------------------------------------------------------------------------

_DETAIL_SCHEMA: Final = {"type": "object", "properties": {"detail": {}}, "required": ["detail"]}


def _answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _DETAIL_SCHEMA}}}


def document_access(app: FastAPI, *, submit_slot: Callable[..., Any]) -> None:
    """Add the answers of the access checks to the app's OpenAPI: 401 where a token can be
    asked for, 400 and 413 where there is a body, 429 and 503 on the rate-limited submissions."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = default_openapi()
        limited = {
            (context.path_format, method.lower())
            for context in iter_route_contexts(app.routes)  # included routers' routes, with their prefixes
            if isinstance(route := context.original_route, APIRoute) and _calls(route.dependant, submit_slot)
            for method in route.methods or ()
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                if "security" in operation:
                    responses.setdefault("401", _answer("a token is required and was missing or unknown"))
                if "requestBody" in operation:
                    responses.setdefault("400", _answer("the body cannot be decoded (not UTF-8 JSON)"))
                    responses.setdefault("413", _answer("the body is larger than AREAFETCH_MAX_BODY_BYTES"))
                    responses.setdefault("415", _answer("the body is not application/json"))
                if (path, method) in limited:
                    responses.setdefault(
                        "429", _answer("too many submissions from this client; see Retry-After")
                    )
                    responses.setdefault("503", _answer("Redis down"))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _calls(dependant: Dependant, target: Callable[..., Any]) -> bool:
    return any(dep.call is target or _calls(dep, target) for dep in dependant.dependencies)
