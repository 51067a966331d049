"""Credentials and TLS from settings: `rediss://user:pass@host` and `postgresql://…?sslmode=…` become the
right client options, and no password ever shows in what we log or answer."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from areafetch.config import Settings
from areafetch.db.engine import async_url, create_engine
from areafetch.queue import Queues
from areafetch.redaction import redacted_url
from areafetch.redis import connection_options, create_client
from areafetch.web.app import create_app
from tests.helpers import free_port

pytestmark = pytest.mark.reliability

PASSWORD = "s3cr%40t-pa%3Ass"  # percent-encoded in the URL: "s3cr@t-pa:ss"
DECODED = "s3cr@t-pa:ss"


def test_rediss_url_gives_tls_and_acl_credentials() -> None:
    options = connection_options(
        f"rediss://app:{PASSWORD}@redis.example:6380/2?ssl_cert_reqs=required", socket_timeout_s=30
    )

    assert options["ssl"] is True
    assert options["ssl_cert_reqs"] == "required"
    assert (options["username"], options["password"]) == ("app", DECODED)
    assert (options["host"], options["port"], options["db"]) == ("redis.example", 6380, 2)
    client = create_client(f"rediss://app:{PASSWORD}@redis.example:6380/2", socket_timeout_s=30)
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"


def test_plain_redis_url_has_no_tls() -> None:
    assert "ssl" not in connection_options("redis://127.0.0.1:6379/0", socket_timeout_s=30)


@pytest.mark.parametrize(
    "url",
    [
        f"rediss://app:{PASSWORD}@redis.example:6380/2?ssl_cert_reqs=required",
        f"redis://:{PASSWORD}@redis.example:6379/0",
        "redis://:plainsecret@redis.example:6379/0",
    ],
)
def test_redis_urls_are_redacted(url: str) -> None:
    shown = redacted_url(url)

    assert "***" in shown
    for secret in (PASSWORD, DECODED, "plainsecret", "s3cr"):
        assert secret not in shown


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("require", "require"), ("verify-full", "verify-full"), ("disable", "disable")],
)
def test_postgresql_sslmode_becomes_asyncpg_ssl(mode: str, expected: str) -> None:
    url = async_url(f"postgresql://app:{PASSWORD}@db.example:5432/areafetch?sslmode={mode}")

    assert url.drivername == "postgresql+asyncpg"
    assert url.query == {"ssl": expected}
    assert (url.username, url.password, url.host, url.database) == ("app", DECODED, "db.example", "areafetch")
    engine = create_engine(url.render_as_string(hide_password=False).replace("+asyncpg", ""))
    assert engine.url.query == {"ssl": expected}
    assert DECODED not in repr(engine)
    assert PASSWORD not in repr(engine)


def test_postgresql_urls_are_redacted() -> None:
    shown = redacted_url(f"postgresql://app:{PASSWORD}@db.example:5432/areafetch?sslmode=require")

    assert "***" in shown
    assert PASSWORD not in shown
    assert DECODED not in shown


def test_unknown_sslmode_is_refused() -> None:
    with pytest.raises(ValueError, match="sslmode"):
        async_url("postgresql://app@db.example/areafetch?sslmode=sometimes")


def test_settings_errors_never_echo_a_url_with_its_password() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(
            redis_url=f"http://app:{PASSWORD}@redis.example/0", database_url=f"mysql://a:{PASSWORD}@h/db"
        )

    assert PASSWORD not in str(caught.value)
    assert DECODED not in str(caught.value)


async def test_queues_label_and_503_hide_the_redis_password(settings: Settings) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    down = Settings.model_validate({**settings.model_dump(), "redis_url": url})
    queues = Queues(down)
    try:
        assert PASSWORD not in queues.redis_label
    finally:
        await queues.close()
    app = create_app(down)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as api,
    ):
        responses = [
            await api.post("/api/jobs/test", json={"message": "hi"}),
            await api.get("/api/queues"),
            await api.get("/readyz"),
        ]
    for response in responses:
        assert response.status_code == 503, response.text
        assert PASSWORD not in response.text
        assert DECODED not in response.text
