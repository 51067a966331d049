"""The estimate prices Google calls, and AREAFETCH_GOOGLE_DAILY_USD refuses an area that does not fit."""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import SecretStr

from areafetch.config import Settings
from areafetch.providers.google_prices import price_usd
from areafetch.ratelimit import Limiter, policy_for
from tests.helpers import area_client
from tests.web.test_areas_api import body


def google_settings(settings: Settings, **update: object) -> Settings:
    return settings.model_copy(update={"google_api_key": SecretStr("test-key"), **update})


async def test_estimate_prices_the_planned_google_calls(settings: Settings) -> None:
    priced = google_settings(settings, google_prices={**settings.google_prices, "Nearby Search Pro": 40.0})
    async with area_client(priced) as client:
        response = await client.post("/api/areas/estimate", json=body(sources=["google_places"]))
    assert response.status_code == 200, response.text
    (google,) = response.json()["sources"]
    assert google["upstream_calls"] >= 1
    assert google["usd_at_least"] == price_usd(google["upstream_calls"], priced.google_prices)
    assert google["usd_at_least"] == google["upstream_calls"] * 0.04


async def test_an_area_that_does_not_fit_the_money_left_is_refused_naming_estimate_budget_and_setting(
    settings: Settings,
) -> None:
    budgeted = google_settings(settings, google_daily_usd=0.05)  # one call at 32 USD per 1,000
    assert policy_for(budgeted, "google_places").daily_requests == 1
    redis = aioredis.Redis.from_url(budgeted.redis_url)
    try:
        limiter = Limiter(
            redis,
            "google_places",
            policy_for(budgeted, "google_places"),
            namespace=budgeted.limiter_namespace,
        )
        async with limiter.acquire():  # today's one call is spent
            pass
        async with area_client(budgeted) as client:
            estimate = (await client.post("/api/areas/estimate", json=body(sources=["google_places"]))).json()
    finally:
        await redis.aclose()
    assert estimate["accepted"] is False
    (reason,) = estimate["reasons"]
    assert "estimate is 1 Google calls, 0.03 USD" in reason
    assert "only 0.00 USD" in reason
    assert "AREAFETCH_GOOGLE_DAILY_USD = 0.05" in reason
