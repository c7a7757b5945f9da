"""What the library holds, counted: the values a filter picker offers (folders as a tree, tags,
formats, cameras, the date range, how many carry GPS). One read of the images table, cached
until the library changes (its image count or latest indexing time moves)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from pixsift.search.storage.models import Image
from pixsift.search.storage.store import LibraryStore
from pixsift.search.storage.tags import tag_counts

#: The most values a picker lists (the rest are reachable by typing the filter in the URL).
MAX_VALUES = 200


class ValueCount(BaseModel):
    value: str
    count: int


class FolderCount(ValueCount):
    depth: int = Field(description="0 for a top folder, 1 for a folder inside it, ...")
    name: str = Field(description="The folder's own name (the last part of value).")


class Facets(BaseModel):
    """The values of the library's filters, most common first (folders in tree order)."""

    total: int
    folders: list[FolderCount]
    formats: list[ValueCount]
    cameras: list[ValueCount]
    tags: list[ValueCount]
    earliest: datetime | None
    latest: datetime | None
    with_gps: int
    places: list[ValueCount] = Field(
        default_factory=list,
        description="Cities, regions and countries the pictures were taken in (the place filter).",
    )


_cache: dict[int, tuple[tuple[object, ...], Facets]] = {}
_lock = threading.Lock()


def library_facets(store: LibraryStore) -> Facets:
    with store.session() as session:
        version = tuple(session.execute(select(func.count(), func.max(Image.indexed_at))).one())
        with _lock:
            cached = _cache.get(id(store))
        if cached is not None and cached[0] == version:
            return cached[1]
        facets = _count(session, int(version[0]))  # type: ignore[arg-type]
    with _lock:
        _cache[id(store)] = (version, facets)
    return facets


def _count(session: object, total: int) -> Facets:
    folders: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    cameras: Counter[str] = Counter()
    with_gps = 0
    earliest = latest = None
    rows = session.execute(  # type: ignore[attr-defined]
        select(
            Image.relative_path, Image.format, Image.camera_model, Image.gps_latitude,
            Image.taken_at, Image.mtime_ns, Image.place_city, Image.place_region,
            Image.place_country,
        )
    )  # fmt: skip
    places: Counter[str] = Counter()
    for path, image_format, camera, latitude, taken_at, mtime_ns, *place in rows:
        # Each name once per picture: a city-state's city, region and country are one name.
        places.update({name for name in place if name})
        # The date a search filters on: taken, else the file's time.
        taken = taken_at or datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc).replace(
            tzinfo=None
        )
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folders["/".join(parts[:depth])] += 1
        formats[image_format] += 1
        if camera:
            cameras[camera.strip()] += 1
        with_gps += latitude is not None
        if taken is not None:
            earliest = taken if earliest is None or taken < earliest else earliest
            latest = taken if latest is None or taken > latest else latest
    return Facets(
        total=total,
        folders=_tree(folders),
        formats=_most_common(formats),
        cameras=_most_common(cameras),
        tags=[ValueCount(value=t.tag, count=t.images) for t in tag_counts(session)][:MAX_VALUES],  # type: ignore[arg-type]
        earliest=earliest,
        latest=latest,
        with_gps=with_gps,
        places=_most_common(places),
    )


def _most_common(counts: Counter[str]) -> list[ValueCount]:
    return [ValueCount(value=v, count=n) for v, n in counts.most_common(MAX_VALUES)]


def _tree(folders: Counter[str]) -> list[FolderCount]:
    """Folders in tree order (a folder, then the folders inside it), the most common kept."""
    kept = {path for path, _ in folders.most_common(MAX_VALUES)}
    return [
        FolderCount(
            value=path, count=folders[path], depth=path.count("/"), name=path.rsplit("/", 1)[-1]
        )
        for path in sorted(kept, key=lambda p: p.lower().split("/"))
    ]
