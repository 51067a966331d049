from tests.fakes.fixtures import google_places_fake, helsinki_data, helsinki_pbf, overpass_fake

__all__ = ["google_places_fake", "helsinki_data", "helsinki_pbf", "overpass_fake"]
