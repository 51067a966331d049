"""Rich attributes under one set of names whatever the source, in `properties.attributes`:
`address` (street, housenumber, postcode, city), `opening_hours`, `website`, `phone`, `brand`,
`cuisine`, `wheelchair`; from Google also `rating`, `user_rating_count`, `price_level`,
`business_status`. An attribute a source does not know is absent, never null.

OSM places keep all their tags beside these (the names above are OSM's own keys, so a tag and its
normalised value agree); Google places keep `types` and `primaryType`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = ["NORMALISED", "csv_values", "google_attributes", "osm_attributes"]

NORMALISED: Final = (
    "address",
    "opening_hours",
    "website",
    "phone",
    "brand",
    "cuisine",
    "wheelchair",
    "rating",
    "user_rating_count",
    "price_level",
    "business_status",
)
"""The normalised attribute names, in the order of the CSV export's columns."""

_OSM_ADDRESS: Final = {
    "street": "addr:street",
    "housenumber": "addr:housenumber",
    "postcode": "addr:postcode",
    "city": "addr:city",
}
_OSM_FIRST_OF: Final = {
    "opening_hours": ("opening_hours",),
    "website": ("website", "contact:website", "url"),
    "phone": ("phone", "contact:phone"),
    "brand": ("brand",),
    "cuisine": ("cuisine",),
    "wheelchair": ("wheelchair",),
}
_GOOGLE_ADDRESS: Final = {
    "street": "route",
    "housenumber": "street_number",
    "postcode": "postal_code",
    "city": "locality",
}


def osm_attributes(tags: Mapping[str, str]) -> dict[str, Any]:
    """An OSM element's tags plus the normalised names."""
    attributes: dict[str, Any] = dict(tags)
    address = {name: tags[key] for name, key in _OSM_ADDRESS.items() if tags.get(key)}
    if address:
        attributes["address"] = address
    for name, keys in _OSM_FIRST_OF.items():
        value = next((tags[key] for key in keys if tags.get(key)), None)
        if value is not None:
            attributes[name] = value
    return attributes


def google_attributes(place: Mapping[str, Any]) -> dict[str, Any]:
    """A Places API (New) place (its JSON) as normalised attributes, with its types."""
    attributes: dict[str, Any] = {"types": list(place.get("types") or [])}
    if place.get("primaryType"):
        attributes["primaryType"] = place["primaryType"]
    address = _google_address(place.get("addressComponents") or [])
    if address:
        attributes["address"] = address
    hours = (place.get("regularOpeningHours") or {}).get("weekdayDescriptions")
    if hours:
        attributes["opening_hours"] = "; ".join(hours)
    simple = {
        "website": place.get("websiteUri"),
        "phone": place.get("internationalPhoneNumber") or place.get("nationalPhoneNumber"),
        "rating": place.get("rating"),
        "user_rating_count": place.get("userRatingCount"),
        "price_level": place.get("priceLevel"),
        "business_status": place.get("businessStatus"),
    }
    attributes.update({name: value for name, value in simple.items() if value is not None})
    entrance = (place.get("accessibilityOptions") or {}).get("wheelchairAccessibleEntrance")
    if entrance is not None:
        attributes["wheelchair"] = "yes" if entrance else "no"
    return attributes


def _google_address(components: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    address = {}
    for name, google_type in _GOOGLE_ADDRESS.items():
        text = next((c.get("longText") for c in components if google_type in (c.get("types") or [])), None)
        if text:
            address[name] = str(text)
    return address


def csv_values(attributes: Mapping[str, Any]) -> list[str]:
    """The normalised attributes as CSV cells (the address as `street housenumber, postcode city`)."""
    cells = []
    for name in NORMALISED:
        value = attributes.get(name)
        if name == "address" and isinstance(value, Mapping):
            street = " ".join(filter(None, [value.get("street"), value.get("housenumber")]))
            town = " ".join(filter(None, [value.get("postcode"), value.get("city")]))
            value = ", ".join(filter(None, [street, town]))
        cells.append("" if value is None else str(value))
    return cells
