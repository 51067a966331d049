"""The estimate prices Google calls, and AREAFETCH_GOOGLE_DAILY_USD refuses an area that does not fit.

The tests share a database: each asks for its own category, so one's stored places are not another's."""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlalchemy import insert

from areafetch.areas.google_prices import price_usd
from areafetch.config import Settings
from areafetch.db import create_engine
from areafetch.db.tables import places
from areafetch.ratelimit import Limiter, policy_for
from tests.helpers import area_client
from tests.web.area_bodies import body


def google_settings(settings: Settings, **update: object) -> Settings:
    return settings.model_copy(update={"google_api_key": SecretStr("test-key"), **update})


async def test_estimate_prices_the_planned_google_calls(settings: Settings) -> None:
    priced = google_settings(settings, google_prices={**settings.google_prices, "Nearby Search Pro": 40.0})
    async with area_client(priced) as client:
        response = await client.post(
            "/api/areas/estimate", json=body(sources=["google_places"], categories=["school"])
        )
    assert response.status_code == 200, response.text
    estimate = response.json()
    google = estimate["google"]
    assert google["sku"] == "Nearby Search Pro"
    assert google["calls_floor"] == estimate["circles"] == estimate["sources"][0]["upstream_calls"]
    if google["known_places"] == 0:  # nothing of the area stored yet: no ceiling
        assert google["calls_ceiling"] is None
        assert google["usd_ceiling"] is None
    assert google["usd_floor"] == price_usd(google["calls_floor"], priced.google_prices)
    assert google["usd_floor"] == google["calls_floor"] * 0.04


async def test_the_google_range_starts_from_the_places_already_known_in_the_area(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(places),
                [  # 45 delis inside SQUARE, 5 outside it, 3 bars inside (not asked for)
                    {
                        "source": "google_places",
                        "source_id": f"in-{i}",
                        "category": "deli",
                        "lon": 24.941 + i * 1e-4,
                        "lat": 60.172,
                    }
                    for i in range(45)
                ]
                + [
                    {
                        "source": "google_places",
                        "source_id": f"out-{i}",
                        "category": "deli",
                        "lon": 24.96,
                        "lat": 60.172,
                    }
                    for i in range(5)
                ]
                + [
                    {
                        "source": "google_places",
                        "source_id": f"bar-{i}",
                        "category": "bar",
                        "lon": 24.945,
                        "lat": 60.172,
                    }
                    for i in range(3)
                ],
            )
    finally:
        await engine.dispose()
    async with area_client(google_settings(settings)) as client:
        estimate = (
            await client.post(
                "/api/areas/estimate", json=body(sources=["google_places"], categories=["deli"])
            )
        ).json()
    google = estimate["google"]
    assert google["known_places"] == 45
    assert google["calls_floor"] == 3  # ceil(45 / 20)
    assert google["calls_ceiling"] == 3 * 3 + 4 * estimate["circles"]
    assert google["usd_floor"] == 0.096
    assert google["usd_ceiling"] == price_usd(google["calls_ceiling"], settings.google_prices)


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
            estimate = (
                await client.post(
                    "/api/areas/estimate", json=body(sources=["google_places"], categories=["pharmacy"])
                )
            ).json()
    finally:
        await redis.aclose()
    assert estimate["accepted"] is False
    (reason,) = estimate["reasons"]
    assert "estimate is 1 Google calls, 0.03 USD" in reason
    assert "only 0.00 USD" in reason
    assert "AREAFETCH_GOOGLE_DAILY_USD = 0.05" in reason
