"""The upstream clients, behind one shape: each returns `Place`s.

- `OverpassClient.fetch(polygon, categories)`: the Overpass API, one QL query per tile.
- `GooglePlacesClient.search_nearby(lon, lat, radius_m, categories)`: Places API (New), one circle.
- `read_extract_places(path, bbox, categories)`: a local `.osm.pbf`, for the process pool.

Every network call goes through the upstream's shared `areafetch.ratelimit.Limiter`. Errors are
`areafetch.errors.UpstreamError` and its subclasses; `TileTooLarge` tells the caller to split.
"""

from areafetch.providers.base import Place, Source
from areafetch.providers.google_places import GooglePlacesClient, NearbyResult
from areafetch.providers.osm_extract import read_extract_places
from areafetch.providers.overpass import OverpassClient, TileTooLarge

__all__ = [
    "GooglePlacesClient",
    "NearbyResult",
    "OverpassClient",
    "Place",
    "Source",
    "TileTooLarge",
    "read_extract_places",
]
