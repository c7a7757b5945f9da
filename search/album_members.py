"""What an album holds now: a plain album's items in order; a smart album's pinned pictures,
then what its saved search returns now (so new pictures join by themselves), never its excluded
ones. A smart search with terms is ranked by the query engine (at most MAX_RESULTS pictures,
above its cutoff); one with filters only holds every picture they let through, newest first."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import Engine, select

from pixsift.search.album_makers import maker_sees_places, refuse_maker_location
from pixsift.search.albums import STATE_ALBUM_GENERATION, AlbumRecord, Albums
from pixsift.search.query.context import SearchContext
from pixsift.search.query.engine import run_search
from pixsift.search.query.filters import filter_conditions
from pixsift.search.records import ImageRecord
from pixsift.search.storage.models import Image, LibraryState, Root
from pixsift.search.storage.search_text import STATE_TEXT_GENERATION


@dataclass(frozen=True)
class AlbumPage:
    album: AlbumRecord
    #: The members on this page, in album order (records of pictures still indexed).
    images: list[ImageRecord]
    total: int
    offset: int
    #: Offset of the next page, or None on the last one.
    next_offset: int | None


#: Member lists kept per library (each at most a few MB: ids of one album).
MEMBER_CACHE_SIZE = 32
_CACHES: weakref.WeakKeyDictionary[Engine, OrderedDict[tuple[object, ...], list[int]]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def member_ids(
    library: SearchContext,
    albums: Albums,
    album: AlbumRecord,
    *,
    viewers_see_places: bool = False,
) -> list[int]:
    """Every member of ``album``, in order, whoever opens it. A smart album's search runs with
    its maker's location permission now (search.album_makers; ``viewers_see_places``: whether
    this server shows viewers GPS, false by default as the server's setting is). Kept per
    album and state of the library (the store generation, which every write to the images
    bumps; the album generation, bumped by every change to album items; the album's own last
    change; the tags' generation for a tag filter; the maker's permission), so a warm server
    opens a large smart album without running its search again."""
    engine = library.store.engine
    places = album.kind == "smart" and maker_sees_places(
        library.store, album.owner, viewers_see_places=viewers_see_places
    )
    key = (
        album.id,
        album.updated_at,
        places,
        library.store.index_generation(),
        _generations(engine),
    )
    with _LOCK:
        cache = _CACHES.setdefault(engine, OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    ids = _member_ids(library, albums, album, places=places)
    with _LOCK:
        cache[key] = ids
        while len(cache) > MEMBER_CACHE_SIZE:
            cache.popitem(last=False)
    return ids


def _generations(engine: Engine) -> tuple[str | None, ...]:
    names = (STATE_ALBUM_GENERATION, STATE_TEXT_GENERATION)
    with engine.connect() as connection:
        rows = connection.execute(
            select(LibraryState.key, LibraryState.value).where(LibraryState.key.in_(names))
        )
        found = {str(key): str(value) for key, value in rows}
    return tuple(found.get(name) for name in names)


def _member_ids(
    library: SearchContext, albums: Albums, album: AlbumRecord, *, places: bool
) -> list[int]:
    if album.kind == "album":
        return albums.items(album.id)
    pinned = albums.items(album.id, "pinned")
    excluded = set(albums.items(album.id, "excluded")) | set(pinned)
    assert album.search is not None
    if not places:
        refuse_maker_location(album)
    if album.search.terms:
        page = run_search(library, album.search.search_request(), places=places)
        found = [hit.id for hit in page.hits]
    else:
        found = _filtered_newest_first(library, album)
    return [*pinned, *(image_id for image_id in found if image_id not in excluded)]


def _filtered_newest_first(library: SearchContext, album: AlbumRecord) -> list[int]:
    assert album.search is not None
    statement = (
        select(Image.id)
        .join(Root, Root.id == Image.root_id)
        .where(*filter_conditions(album.search.filters))
        .order_by(Image.taken_at.desc().nulls_last(), Image.mtime_ns.desc(), Image.id.desc())
    )
    with library.store.engine.connect() as connection:
        return list(connection.scalars(statement))


def album_page(
    library: SearchContext,
    albums: Albums,
    album_id: int,
    offset: int = 0,
    limit: int = 100,
    *,
    viewers_see_places: bool = False,
) -> AlbumPage:
    """One page of an album's members, with their records (as stored: the caller shows them
    as the opener may see them)."""
    album = albums.get(album_id)
    ids = member_ids(library, albums, album, viewers_see_places=viewers_see_places)
    shown = ids[offset : offset + limit]
    records = library.images(shown)
    end = offset + limit
    return AlbumPage(
        album=album,
        images=[records[image_id] for image_id in shown if image_id in records],
        total=len(ids),
        offset=offset,
        next_offset=end if end < len(ids) else None,
    )
