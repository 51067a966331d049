"""The upstream clients, behind one shape: each returns `Place`s.

- `OverpassClient.fetch(polygon, categories)`: the Overpass API, one QL query per tile.
- `GooglePlacesClient.search_nearby(lon, lat, radius_m, categories)`: Places API (New), one circle.
- `extract_place_chunks(cpu, path, bbox, categories)`: a local `.osm.pbf`, read in the process pool
  and streamed back in chunks; `read_extract_places(path, bbox, categories)` reads it into one list.

Every network call goes through the upstream's shared `areafetch.ratelimit.Limiter`. Errors are
`areafetch.errors.UpstreamError` and its subclasses; `TileTooLarge` tells the caller to split.
"""

from areafetch.providers.google_places import GooglePlacesClient, NearbyResult
from areafetch.providers.osm_extract import extract_place_chunks, read_extract_places
from areafetch.providers.overpass import OverpassClient, TileTooLarge

__all__ = [
    "GooglePlacesClient",
    "NearbyResult",
    "OverpassClient",
    "TileTooLarge",
    "extract_place_chunks",
    "read_extract_places",
]
