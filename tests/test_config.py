"""Settings: env vars validated at start-up, errors naming the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from areafetch.areas.google_prices import DEFAULT_PRICES_USD_PER_1000, price_usd
from areafetch.config import MAX_REDIS_BLOCK_S, Settings


def test_defaults_are_valid_and_keep_socket_timeout_above_bullmq_blocking() -> None:
    settings = Settings(_env_file=None)

    assert settings.redis_socket_timeout_s > MAX_REDIS_BLOCK_S
    assert settings.queue_prefix == "bull"


def test_env_vars_are_read_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AREAFETCH_REDIS_URL", "rediss://:pw@redis.example:6380/2")
    monkeypatch.setenv("AREAFETCH_WORKER_CONCURRENCY", "7")

    settings = Settings()

    assert settings.redis_url == "rediss://:pw@redis.example:6380/2"
    assert settings.worker_concurrency == 7


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("AREAFETCH_REDIS_URL", "http://x", "redis_url"),
        ("AREAFETCH_DATABASE_URL", "mysql://x/y", "database_url"),
        ("AREAFETCH_REDIS_SOCKET_TIMEOUT_S", "5", "redis_socket_timeout_s"),
        ("AREAFETCH_WORKER_CONCURRENCY", "0", "worker_concurrency"),
        ("AREAFETCH_QUEUE_PREFIX", "has space", "queue_prefix"),
        ("AREAFETCH_OVERPASS_URL", "ftp://x", "overpass_url"),
        ("AREAFETCH_OVERPASS_URLS", "https://a.example/api/interpreter,ftp://x", "AREAFETCH_OVERPASS_URLS"),
        ("AREAFETCH_OVERPASS_URLS", "https://a.example,https://a.example", "AREAFETCH_OVERPASS_URLS"),
    ],
)
def test_bad_env_var_names_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as caught:
        Settings()

    assert field in str(caught.value)


def test_placeholder_google_key_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(environment="production", google_api_key="changeme")


def test_secret_key_is_hidden_in_repr() -> None:
    settings = Settings(google_api_key="real-secret-value")

    assert "real-secret-value" not in repr(settings)


@pytest.mark.parametrize("value", ["{not json", '{"Nearby Search Ultra": 1}', '{"Nearby Search Pro": -1}'])
def test_a_price_table_that_does_not_parse_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("AREAFETCH_GOOGLE_PRICES", value)

    with pytest.raises((ValidationError, SettingsError)) as caught:
        Settings()

    assert "google_prices" in str(caught.value)


def test_a_price_table_overrides_only_the_skus_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AREAFETCH_GOOGLE_PRICES", '{"Nearby Search Pro": 30.5}')

    prices = Settings().google_prices

    assert prices["Nearby Search Pro"] == 30.5
    assert prices["Text Search Pro"] == DEFAULT_PRICES_USD_PER_1000["Text Search Pro"]
    assert price_usd(2000, prices) == 61.0
