"""The points of the map of places: every picture with a GPS position, with the place it was
named after at index time (search.places). Read only; the web page draws them (web/map_view.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from pixsift.search.storage.models import Image
from pixsift.search.storage.store import LibraryStore

#: The most points one map shows (the oldest ids first); the answer says how many there are.
MAX_POINTS = 20_000


class MapPoint(BaseModel):
    id: int
    lat: float = Field(description="Latitude in degrees (WGS 84).")
    lon: float = Field(description="Longitude in degrees (WGS 84).")
    place: str | None = Field(None, description="City and country, when the position has one.")


class MapPoints(BaseModel):
    points: list[MapPoint]
    total: int = Field(description="Pictures with a GPS position (more than shown past the cap).")


def map_points(store: LibraryStore, limit: int = MAX_POINTS) -> MapPoints:
    placed = Image.gps_latitude.is_not(None) & Image.gps_longitude.is_not(None)
    statement = (
        select(Image.id, Image.gps_latitude, Image.gps_longitude, Image.place_city,
               Image.place_country)
        .where(placed)
        .order_by(Image.id)
        .limit(limit)
    )  # fmt: skip
    with store.session() as session:
        rows = session.execute(statement).all()
        total = session.scalar(select(func.count()).select_from(Image).where(placed)) or 0
    points = [
        MapPoint(id=i, lat=lat, lon=lon, place=", ".join(n for n in (city, country) if n) or None)
        for i, lat, lon, city, country in rows
    ]
    return MapPoints(points=points, total=int(total))
