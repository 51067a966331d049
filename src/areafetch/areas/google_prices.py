"""Google Places list prices per SKU, and what a number of calls costs.

The table is the setting `AREAFETCH_GOOGLE_PRICES` (JSON, SKU name -> USD per 1,000 calls); the
default below is Google Maps Platform's list price of the first volume tier (0-100,000 calls a
month) as published for Places API (New). Prices change: compare with
https://developers.google.com/maps/billing-and-pricing/pricing and set the setting to override
any SKU (the names are Google's). Nearby Search as areafetch asks it (`FIELD_MASK`: id, display
name, location, types) bills the Pro SKU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from areafetch.config import Settings

__all__ = [
    "DEFAULT_PRICES_USD_PER_1000",
    "NEARBY_SKU",
    "NEARBY_SKUS",
    "GoogleFields",
    "SkuName",
    "money_refusal",
    "nearby_sku",
    "price_usd",
]

SkuName = Literal[
    "Nearby Search Pro",
    "Nearby Search Enterprise",
    "Nearby Search Enterprise + Atmosphere",
    "Text Search Essentials (IDs Only)",
    "Text Search Pro",
    "Text Search Enterprise",
    "Text Search Enterprise + Atmosphere",
]

DEFAULT_PRICES_USD_PER_1000: Final[dict[SkuName, float]] = {
    "Nearby Search Pro": 32.0,
    "Nearby Search Enterprise": 35.0,
    "Nearby Search Enterprise + Atmosphere": 40.0,
    "Text Search Essentials (IDs Only)": 0.0,
    "Text Search Pro": 32.0,
    "Text Search Enterprise": 35.0,
    "Text Search Enterprise + Atmosphere": 40.0,
}

GoogleFields = Literal["pro", "enterprise"]
"""`AREAFETCH_GOOGLE_FIELDS`: which tier of Place fields a Nearby Search asks for."""

NEARBY_SKUS: Final[dict[GoogleFields, SkuName]] = {
    "pro": "Nearby Search Pro",
    "enterprise": "Nearby Search Enterprise",
}
"""The SKU a Nearby Search call is billed as, by the field tier it asks for (the highest tier of
any field in the mask: https://developers.google.com/maps/billing-and-pricing/sku-details/places)."""

NEARBY_SKU: Final[SkuName] = NEARBY_SKUS["pro"]


def nearby_sku(settings: Settings) -> SkuName:
    """The SKU this deployment's Nearby Search calls are billed as."""
    return NEARBY_SKUS[settings.google_fields]


def price_usd(calls: int, prices: dict[SkuName, float], sku: SkuName = NEARBY_SKU) -> float:
    """The list price of `calls` billed calls of one SKU, in USD."""
    return round(calls * prices[sku] / 1000.0, 4)


def money_refusal(needed_calls: int, requests_left: int | None, settings: Settings) -> str | None:
    """Why an area is refused for money (its estimate, the money left today, the setting), or None
    when `AREAFETCH_GOOGLE_DAILY_USD` is unset or the estimate fits."""
    if settings.google_daily_usd is None or requests_left is None or needed_calls <= requests_left:
        return None
    prices, sku = settings.google_prices, nearby_sku(settings)
    left_usd = min(settings.google_daily_usd, price_usd(requests_left, prices, sku))
    return (
        f"the area's estimate is {needed_calls} Google calls, {price_usd(needed_calls, prices, sku):.2f} USD "
        f"at {prices[sku]:g} USD per 1,000 ({sku}), but only {left_usd:.2f} USD of today's "
        f"AREAFETCH_GOOGLE_DAILY_USD = {settings.google_daily_usd:g} is left"
    )
