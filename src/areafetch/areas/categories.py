"""The categories a person can ask for, each mapped to OpenStreetMap tags and Google place types.

One table, so every source answers the same question. OSM tags follow the wiki's main
tagging (a category may match several tags); Google types are from Places API (New) Table A,
whose list ships beside this module (`google_place_types_table_a.txt`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

from areafetch.areas.osm_filters import is_osm_filter, osm_filter_matches

__all__ = [
    "CATEGORIES",
    "GROUPS",
    "MAX_INCLUDED_TYPES",
    "Category",
    "category_for_google_types",
    "category_for_osm_tags",
    "google_table_a_types",
    "google_types",
]

GROUPS: Final[dict[str, str]] = {
    "food_drink": "Food & drink",
    "shopping": "Shopping",
    "health": "Health",
    "education": "Education",
    "transport": "Transport",
    "accommodation_tourism": "Accommodation & tourism",
    "leisure_sport": "Leisure & sport",
    "finance_services": "Finance & services",
    "public_services": "Public services",
}


@dataclass(frozen=True)
class Category:
    """A kind of place: its OSM tag matches (any of them) and its Google types (any of them)."""

    name: str
    label: str
    group: str
    osm_tags: tuple[tuple[str, str], ...]
    google_types: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        """The category as `GET /api/categories` lists it."""
        return {
            "name": self.name,
            "label": self.label,
            "group": self.group,
            "osm_tags": [f"{key}={value}" for key, value in self.osm_tags],
            "google_types": list(self.google_types),
        }


def _tags(*pairs: str) -> tuple[tuple[str, str], ...]:
    split = (pair.split("=", 1) for pair in pairs)
    return tuple((key, value) for key, value in split)


def _c(name: str, label: str, group: str, osm: tuple[str, ...], google: tuple[str, ...]) -> Category:
    return Category(name, label, group, _tags(*osm), google)


_FOOD = "food_drink"
_SHOP = "shopping"
_HEALTH = "health"
_EDU = "education"
_TRANSPORT = "transport"
_STAY = "accommodation_tourism"
_LEISURE = "leisure_sport"
_SERVICES = "finance_services"
_PUBLIC = "public_services"

CATEGORIES: Final[dict[str, Category]] = {
    category.name: category
    for category in (
        # The first ten are the original categories; their names, tags and types stay as they were.
        _c("restaurant", "Restaurant", _FOOD, ("amenity=restaurant",), ("restaurant",)),
        _c("cafe", "Café", _FOOD, ("amenity=cafe",), ("cafe",)),
        _c("bar", "Bar or pub", _FOOD, ("amenity=bar", "amenity=pub"), ("bar",)),
        _c("school", "School", _EDU, ("amenity=school",), ("school",)),
        _c("pharmacy", "Pharmacy", _HEALTH, ("amenity=pharmacy",), ("pharmacy",)),
        _c("hospital", "Hospital", _HEALTH, ("amenity=hospital",), ("hospital",)),
        _c("supermarket", "Supermarket", _SHOP, ("shop=supermarket",), ("supermarket",)),
        _c("bank", "Bank", _SERVICES, ("amenity=bank",), ("bank",)),
        _c("fuel", "Fuel station", _TRANSPORT, ("amenity=fuel",), ("gas_station",)),
        _c("park", "Park", _LEISURE, ("leisure=park",), ("park",)),
        # Food & drink
        _c("fast_food", "Fast food", _FOOD, ("amenity=fast_food",), ("fast_food_restaurant",)),
        _c("bakery", "Bakery", _FOOD, ("shop=bakery",), ("bakery",)),
        _c("ice_cream", "Ice cream", _FOOD, ("amenity=ice_cream", "shop=ice_cream"), ("ice_cream_shop",)),
        _c("food_court", "Food court", _FOOD, ("amenity=food_court",), ("food_court",)),
        _c("nightclub", "Nightclub", _FOOD, ("amenity=nightclub",), ("night_club",)),
        _c("biergarten", "Beer garden", _FOOD, ("amenity=biergarten",), ("bar",)),
        _c("pastry", "Pastry shop", _FOOD, ("shop=pastry",), ("dessert_shop", "confectionery")),
        _c("deli", "Delicatessen", _FOOD, ("shop=deli",), ("deli",)),
        # Shopping
        _c("convenience", "Convenience store", _SHOP, ("shop=convenience",), ("convenience_store",)),
        _c("greengrocer", "Greengrocer", _SHOP, ("shop=greengrocer",), ("grocery_store",)),
        _c("butcher", "Butcher", _SHOP, ("shop=butcher",), ("butcher_shop",)),
        _c("alcohol", "Alcohol shop", _SHOP, ("shop=alcohol", "shop=wine"), ("liquor_store",)),
        _c("clothes", "Clothes shop", _SHOP, ("shop=clothes",), ("clothing_store",)),
        _c("shoes", "Shoe shop", _SHOP, ("shop=shoes",), ("shoe_store",)),
        _c("books", "Bookshop", _SHOP, ("shop=books",), ("book_store",)),
        _c(
            "electronics",
            "Electronics shop",
            _SHOP,
            ("shop=electronics", "shop=computer"),
            ("electronics_store",),
        ),
        _c("mobile_phone", "Mobile phone shop", _SHOP, ("shop=mobile_phone",), ("cell_phone_store",)),
        _c(
            "hardware",
            "Hardware store",
            _SHOP,
            ("shop=hardware", "shop=doityourself"),
            ("hardware_store", "home_improvement_store"),
        ),
        _c("furniture", "Furniture shop", _SHOP, ("shop=furniture",), ("furniture_store",)),
        _c("department_store", "Department store", _SHOP, ("shop=department_store",), ("department_store",)),
        _c("mall", "Shopping centre", _SHOP, ("shop=mall",), ("shopping_mall",)),
        _c("florist", "Florist", _SHOP, ("shop=florist",), ("florist",)),
        _c("jewelry", "Jewellery shop", _SHOP, ("shop=jewelry",), ("jewelry_store",)),
        _c("gift", "Gift shop", _SHOP, ("shop=gift",), ("gift_shop",)),
        _c("pet", "Pet shop", _SHOP, ("shop=pet",), ("pet_store",)),
        _c("bicycle_shop", "Bicycle shop", _SHOP, ("shop=bicycle",), ("bicycle_store",)),
        _c("sports_shop", "Sports shop", _SHOP, ("shop=sports", "shop=outdoor"), ("sporting_goods_store",)),
        _c("marketplace", "Marketplace", _SHOP, ("amenity=marketplace",), ("market",)),
        _c("car_dealer", "Car dealer", _SHOP, ("shop=car",), ("car_dealer",)),
        # Health
        _c("clinic", "Clinic", _HEALTH, ("amenity=clinic", "healthcare=clinic"), ("doctor",)),
        _c("doctors", "Doctor", _HEALTH, ("amenity=doctors",), ("doctor",)),
        _c("dentist", "Dentist", _HEALTH, ("amenity=dentist",), ("dentist", "dental_clinic")),
        _c("veterinary", "Veterinary", _HEALTH, ("amenity=veterinary",), ("veterinary_care",)),
        _c(
            "physiotherapist",
            "Physiotherapist",
            _HEALTH,
            ("healthcare=physiotherapist",),
            ("physiotherapist",),
        ),
        _c("optician", "Optician", _HEALTH, ("shop=optician",), ("store",)),
        _c("chemist", "Chemist", _HEALTH, ("shop=chemist",), ("drugstore",)),
        # Education
        _c("kindergarten", "Kindergarten", _EDU, ("amenity=kindergarten",), ("preschool",)),
        _c("university", "University", _EDU, ("amenity=university",), ("university",)),
        _c("college", "College", _EDU, ("amenity=college",), ("university",)),
        _c("library", "Library", _EDU, ("amenity=library",), ("library",)),
        _c("childcare", "Childcare", _EDU, ("amenity=childcare",), ("child_care_agency",)),
        # Transport
        _c("bus_stop", "Bus stop", _TRANSPORT, ("highway=bus_stop",), ("bus_stop",)),
        _c("bus_station", "Bus station", _TRANSPORT, ("amenity=bus_station",), ("bus_station",)),
        _c("train_station", "Train station", _TRANSPORT, ("railway=station",), ("train_station",)),
        _c("tram_stop", "Tram stop", _TRANSPORT, ("railway=tram_stop",), ("light_rail_station",)),
        _c(
            "subway_entrance", "Metro entrance", _TRANSPORT, ("railway=subway_entrance",), ("subway_station",)
        ),
        _c("ferry_terminal", "Ferry terminal", _TRANSPORT, ("amenity=ferry_terminal",), ("ferry_terminal",)),
        _c("airport", "Airport", _TRANSPORT, ("aeroway=aerodrome",), ("airport",)),
        _c("taxi", "Taxi stand", _TRANSPORT, ("amenity=taxi",), ("taxi_stand",)),
        _c("parking", "Parking", _TRANSPORT, ("amenity=parking",), ("parking",)),
        _c(
            "charging_station",
            "EV charging station",
            _TRANSPORT,
            ("amenity=charging_station",),
            ("electric_vehicle_charging_station",),
        ),
        _c(
            "bicycle_rental",
            "Bicycle rental",
            _TRANSPORT,
            ("amenity=bicycle_rental",),
            ("sports_activity_location",),
        ),
        _c("car_rental", "Car rental", _TRANSPORT, ("amenity=car_rental",), ("car_rental",)),
        _c("car_wash", "Car wash", _TRANSPORT, ("amenity=car_wash",), ("car_wash",)),
        _c("car_repair", "Car repair", _TRANSPORT, ("shop=car_repair",), ("car_repair",)),
        # Accommodation & tourism
        _c("hotel", "Hotel", _STAY, ("tourism=hotel",), ("hotel",)),
        _c("hostel", "Hostel", _STAY, ("tourism=hostel",), ("hostel",)),
        _c(
            "guest_house",
            "Guest house",
            _STAY,
            ("tourism=guest_house",),
            ("guest_house", "bed_and_breakfast"),
        ),
        _c("motel", "Motel", _STAY, ("tourism=motel",), ("motel",)),
        _c("camp_site", "Campsite", _STAY, ("tourism=camp_site",), ("campground",)),
        _c("museum", "Museum", _STAY, ("tourism=museum",), ("museum",)),
        _c("gallery", "Art gallery", _STAY, ("tourism=gallery",), ("art_gallery",)),
        _c("attraction", "Tourist attraction", _STAY, ("tourism=attraction",), ("tourist_attraction",)),
        _c("viewpoint", "Viewpoint", _STAY, ("tourism=viewpoint",), ("observation_deck",)),
        _c(
            "tourist_information",
            "Tourist information",
            _STAY,
            ("tourism=information",),
            ("tourist_information_center",),
        ),
        _c("zoo", "Zoo", _STAY, ("tourism=zoo",), ("zoo",)),
        _c("theme_park", "Theme park", _STAY, ("tourism=theme_park",), ("amusement_park",)),
        _c("monument", "Monument", _STAY, ("historic=monument", "historic=memorial"), ("monument",)),
        _c("travel_agency", "Travel agency", _STAY, ("shop=travel_agency",), ("travel_agency",)),
        # Leisure & sport
        _c("playground", "Playground", _LEISURE, ("leisure=playground",), ("playground",)),
        _c("fitness_centre", "Gym", _LEISURE, ("leisure=fitness_centre",), ("gym", "fitness_center")),
        _c("sports_centre", "Sports centre", _LEISURE, ("leisure=sports_centre",), ("sports_complex",)),
        _c("swimming_pool", "Swimming pool", _LEISURE, ("leisure=swimming_pool",), ("swimming_pool",)),
        _c("stadium", "Stadium", _LEISURE, ("leisure=stadium",), ("stadium",)),
        _c("pitch", "Sports pitch", _LEISURE, ("leisure=pitch",), ("athletic_field",)),
        _c("golf_course", "Golf course", _LEISURE, ("leisure=golf_course",), ("golf_course",)),
        _c("ice_rink", "Ice rink", _LEISURE, ("leisure=ice_rink",), ("ice_skating_rink",)),
        _c("cinema", "Cinema", _LEISURE, ("amenity=cinema",), ("movie_theater",)),
        _c("theatre", "Theatre", _LEISURE, ("amenity=theatre",), ("performing_arts_theater",)),
        _c("arts_centre", "Arts centre", _LEISURE, ("amenity=arts_centre",), ("cultural_center",)),
        _c(
            "community_centre",
            "Community centre",
            _LEISURE,
            ("amenity=community_centre",),
            ("community_center",),
        ),
        _c("dog_park", "Dog park", _LEISURE, ("leisure=dog_park",), ("dog_park",)),
        _c("garden", "Garden", _LEISURE, ("leisure=garden",), ("garden",)),
        _c("beach", "Beach", _LEISURE, ("natural=beach", "leisure=beach_resort"), ("beach",)),
        _c("marina", "Marina", _LEISURE, ("leisure=marina",), ("marina",)),
        _c("sauna", "Sauna", _LEISURE, ("leisure=sauna", "amenity=public_bath"), ("sauna", "public_bath")),
        # Finance & services
        _c("atm", "ATM", _SERVICES, ("amenity=atm",), ("atm",)),
        _c("hairdresser", "Hairdresser", _SERVICES, ("shop=hairdresser",), ("hair_salon", "barber_shop")),
        _c("beauty", "Beauty salon", _SERVICES, ("shop=beauty",), ("beauty_salon", "nail_salon")),
        _c("laundry", "Laundry", _SERVICES, ("shop=laundry", "shop=dry_cleaning"), ("laundry",)),
        _c("lawyer", "Lawyer", _SERVICES, ("office=lawyer",), ("lawyer",)),
        _c("accountant", "Accountant", _SERVICES, ("office=accountant",), ("accounting",)),
        _c("insurance", "Insurance office", _SERVICES, ("office=insurance",), ("insurance_agency",)),
        _c("estate_agent", "Estate agent", _SERVICES, ("office=estate_agent",), ("real_estate_agency",)),
        _c(
            "coworking",
            "Coworking space",
            _SERVICES,
            ("amenity=coworking_space", "office=coworking"),
            ("corporate_office",),
        ),
        _c("funeral", "Funeral home", _SERVICES, ("shop=funeral_directors",), ("funeral_home",)),
        # Public services
        _c("post_office", "Post office", _PUBLIC, ("amenity=post_office",), ("post_office",)),
        _c("police", "Police", _PUBLIC, ("amenity=police",), ("police",)),
        _c("fire_station", "Fire station", _PUBLIC, ("amenity=fire_station",), ("fire_station",)),
        _c("townhall", "Town hall", _PUBLIC, ("amenity=townhall",), ("city_hall",)),
        _c("courthouse", "Courthouse", _PUBLIC, ("amenity=courthouse",), ("courthouse",)),
        _c("embassy", "Embassy", _PUBLIC, ("office=diplomatic", "amenity=embassy"), ("embassy",)),
        _c("government_office", "Government office", _PUBLIC, ("office=government",), ("government_office",)),
        _c("toilets", "Public toilets", _PUBLIC, ("amenity=toilets",), ("public_bathroom",)),
        _c("cemetery", "Cemetery", _PUBLIC, ("landuse=cemetery", "amenity=grave_yard"), ("cemetery",)),
        _c(
            "place_of_worship",
            "Place of worship",
            _PUBLIC,
            ("amenity=place_of_worship",),
            ("church", "mosque", "synagogue", "hindu_temple"),
        ),
    )
}


# Nearby Search (New): "Up to 50 types from Table A may be specified" per type filter.
MAX_INCLUDED_TYPES: Final = 50


def google_types(categories: Iterable[str]) -> list[str]:
    """The distinct Google place types of the categories, in the categories' order."""
    types: list[str] = []
    for name in categories:
        if is_osm_filter(name):  # Google has no equivalent of an OSM tag
            continue
        for google_type in CATEGORIES[name].google_types:
            if google_type not in types:
                types.append(google_type)
    return types


@cache
def google_table_a_types() -> frozenset[str]:
    """Places API (New) Table A: the types a Nearby Search may filter by."""
    text = resources.files("areafetch.areas").joinpath("google_place_types_table_a.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def category_for_osm_tags(tags: dict[str, str], wanted: tuple[str, ...]) -> str | None:
    """The first of the `wanted` categories whose OSM tags these tags carry, or None."""
    for name in wanted:
        if is_osm_filter(name):
            if osm_filter_matches(name, tags):
                return name
        elif any(tags.get(key) == value for key, value in CATEGORIES[name].osm_tags):
            return name
    return None


def category_for_google_types(types: list[str], wanted: tuple[str, ...]) -> str | None:
    """The first of the `wanted` categories among a Google place's types, or None."""
    for name in wanted:
        if is_osm_filter(name):
            continue
        if any(google_type in types for google_type in CATEGORIES[name].google_types):
            return name
    return None
