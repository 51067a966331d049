"""The package's public names are exactly what it declares."""

from __future__ import annotations

import areafetch.providers as providers


def test_all_names_are_exported_and_documented() -> None:
    assert sorted(providers.__all__) == sorted(
        [
            "GooglePlacesClient",
            "NearbyResult",
            "OverpassClient",
            "TileTooLarge",
            "extract_place_chunks",
            "read_extract_places",
        ]
    )
    for name in providers.__all__:
        member = getattr(providers, name)
        assert member.__doc__, name
        assert member.__module__.startswith("areafetch.providers."), name
