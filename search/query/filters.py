"""Search filters as SQL: which images a query may return, as conditions on the images table.

The database selects the matching ids; the vector search then runs inside that set, so a
selective filter still fills a page of k results. The filters themselves are declared once, in
:class:`search.query.request.SearchFilters`; this module maps each of its fields to a condition
(:data:`CONDITIONS`), and refuses to load if a field has none.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    func,
    or_,
    select,
    union,
)
from sqlalchemy.orm import Session, aliased

from pixsift.search.query.filter_columns import (
    ColumnsUnavailable,
    column_selection,
    pixels,
    read_generation,
    wanted_formats,
)
from pixsift.search.query.globs import glob_condition
from pixsift.search.query.id_lists import id_list, parse_id_list
from pixsift.search.query.request import GeoBox, SearchFilters
from pixsift.search.records import ImageIdArray
from pixsift.search.storage.albums import AlbumItem
from pixsift.search.storage.models import Image, ImageTag, LibraryState, Root
from pixsift.search.storage.search_text import text_generation
from pixsift.search.storage.tags import SHOWN
from pixsift.search.vectors.selection import Selection

__all__ = [
    "CONDITIONS",
    "SearchFilters",
    "SelectionCache",
    "epoch_nanoseconds",
    "filter_conditions",
    "filter_selection",
    "selection_cache",
    "sql_filter_selection",
]

#: Selections kept per library (each at most one bit per image id: 125 KB per million).
SELECTION_CACHE_SIZE = 64

Condition = ColumnElement[bool]


def epoch_nanoseconds(moment: datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return int(aware.timestamp() * 1_000_000_000)


def _root(path: str) -> Condition:
    return Root.path == path.rstrip("/")


def _folder(folder: str) -> Condition:
    folder = folder.strip("/")
    exact = or_(
        Image.relative_path == folder,
        Image.relative_path.startswith(folder + "/", autoescape=True),
    )
    if "/" in folder:
        return exact
    # A bare name is how people say a folder ("summer" for photos/2023/summer): any folder of
    # that name, at any depth, in any case.
    name = folder.lower()
    path = func.lower(Image.relative_path)
    return or_(
        exact,
        path.startswith(name + "/", autoescape=True),
        path.contains("/" + name + "/", autoescape=True),
    )


def _taken(bound: datetime, *, after: bool) -> Condition:
    # Images without an EXIF date fall back to the file's modification time.
    nanoseconds = epoch_nanoseconds(bound)
    if after:
        return or_(
            Image.taken_at >= bound,
            and_(Image.taken_at.is_(None), Image.mtime_ns >= nanoseconds),
        )
    return or_(
        Image.taken_at <= bound,
        and_(Image.taken_at.is_(None), Image.mtime_ns <= nanoseconds),
    )


def _same_text(column: Any) -> Callable[[str], Condition]:
    return lambda value: func.lower(column) == value.strip().lower()


def _at_least(column: Any) -> Callable[[int], Condition]:
    return lambda value: column >= value


def _at_most(column: Any) -> Callable[[int], Condition]:
    return lambda value: column <= value


def _orientation(value: str) -> Condition:
    return {
        "landscape": Image.width > Image.height,
        "portrait": Image.width < Image.height,
        "square": Image.width == Image.height,
    }[value]


def _formats(names: tuple[str, ...]) -> Condition:
    return func.upper(Image.format).in_(wanted_formats(names))


def _has_gps(value: bool) -> Condition:
    has_position = and_(Image.gps_latitude.is_not(None), Image.gps_longitude.is_not(None))
    return has_position if value else ~has_position


def _inside(box: GeoBox) -> Condition:
    latitude = Image.gps_latitude.between(box.south, box.north)
    if box.west <= box.east:
        return and_(latitude, Image.gps_longitude.between(box.west, box.east))
    # The box crosses the antimeridian.
    return and_(latitude, or_(Image.gps_longitude >= box.west, Image.gps_longitude <= box.east))


def _tags(tags: tuple[str, ...]) -> Condition:
    return and_(
        *(
            Image.id.in_(
                select(ImageTag.image_id).where(ImageTag.tag == tag, ImageTag.source.in_(SHOWN))
            )
            for tag in tags
        )
    )


def _album(album_id: int) -> Condition:
    # A plain album's items and a smart album's pinned pictures; never its excluded ones.
    return Image.id.in_(
        select(AlbumItem.image_id).where(
            AlbumItem.album_id == album_id, AlbumItem.state != "excluded"
        )
    )


def _place(name: str) -> Condition:
    # A union of three index reads (migration 0017's lower-case indexes): written as one OR,
    # SQLite would rather scan every image in id order than read the indexes and sort.
    wanted = name.strip().lower()
    placed = aliased(Image)
    return Image.id.in_(
        union(
            *(
                select(placed.id).where(func.lower(column) == wanted)
                for column in (placed.place_city, placed.place_region, placed.place_country)
            )
        )
    )


_PIXELS = Image.width * Image.height
#: Each filter field's SQL condition, given the field's (validated, set) value.
CONDITIONS: dict[str, Callable[[Any], Condition]] = {
    "root": _root,
    "folder": _folder,
    "path": glob_condition,
    "after": lambda moment: _taken(moment, after=True),
    "before": lambda moment: _taken(moment, after=False),
    "camera_make": _same_text(Image.camera_make),
    "camera_model": _same_text(Image.camera_model),
    "min_width": _at_least(Image.width),
    "max_width": _at_most(Image.width),
    "min_height": _at_least(Image.height),
    "max_height": _at_most(Image.height),
    "min_megapixels": lambda value: pixels(value) <= _PIXELS,
    "max_megapixels": lambda value: pixels(value) >= _PIXELS,
    "orientation": _orientation,
    "format": _formats,
    "min_size": _at_least(Image.size_bytes),
    "max_size": _at_most(Image.size_bytes),
    "has_gps": _has_gps,
    "gps_box": _inside,
    "tag": _tags,
    "album": _album,
    "place": _place,
    "month": lambda month: func.extract("month", Image.taken_at) == month,
}
if set(CONDITIONS) != set(SearchFilters.model_fields):  # a new filter field needs its SQL here
    raise ImportError(
        f"filter fields without SQL: {set(SearchFilters.model_fields) ^ set(CONDITIONS)}"
    )


def filter_conditions(filters: SearchFilters) -> list[Condition]:
    """SQL conditions on ``Image`` (joined with ``Root``) for the set fields of ``filters``."""
    return [CONDITIONS[name](value) for name, value in filters.set_values().items()]


def filtered_image_ids(engine: Engine, filters: SearchFilters) -> ImageIdArray:
    """Ids of the images that satisfy ``filters``, ascending."""
    with engine.connect() as connection:
        return _filtered_ids(connection, filters)


def filtered_ids_statement(filters: SearchFilters) -> Select[tuple[int]]:
    """The SELECT of the ids of the images that satisfy ``filters``, ascending (its plan is
    checked by tests/test_place_index.py; _filtered_ids reads the same rows aggregated)."""
    return _ids_from(filters, Image.id).order_by(Image.id)


def _ids_from(filters: SearchFilters, column: Any) -> Select[Any]:
    # Only the root filter reads the roots table; without it the database may answer from an
    # index of the filtered columns alone (every image has its root: the join dropped none).
    statement = select(column).select_from(Image).where(*filter_conditions(filters))
    if filters.root is not None:
        statement = statement.join(Root, Root.id == Image.root_id)
    return statement


def _filtered_ids(connection: Connection, filters: SearchFilters) -> ImageIdArray:
    # One aggregated text rather than a row per id (search.query.id_lists).
    statement = _ids_from(filters, id_list(Image.id))
    return np.sort(parse_id_list(connection.scalar(statement)))


def filter_selection(engine: Engine, filters: SearchFilters) -> tuple[int, Selection]:
    """The images that satisfy ``filters`` as a :class:`Selection`, and the store generation
    it was read at: from the reader's in-memory columns of that generation where they answer
    every set field (search.query.filter_columns), else from the database."""
    try:
        return column_selection(engine, filters)
    except ColumnsUnavailable:
        return sql_filter_selection(engine, filters)


def sql_filter_selection(engine: Engine, filters: SearchFilters) -> tuple[int, Selection]:
    """:func:`filter_selection` read from the database. The selection knows whether it holds
    every image only when the generation is the same after the reads as before: every write
    bumps it in the same transaction, so the ids and the image count then describe one state of
    the library (the driver does not hold a read snapshot across statements)."""
    with engine.connect() as connection:
        before = read_generation(connection)
        ids = _filtered_ids(connection, filters)
        total = connection.scalar(select(func.count()).select_from(Image)) or 0
        after = read_generation(connection)
    return before, Selection.of_ids(ids, total=int(total) if after == before else None)


class SelectionCache:
    """Selections by what made them (a filter, a set of phrases) and the store generation they
    were read at; every write to the images bumps the generation, so a cached selection is
    never stale. Least recently used entries go first. Thread-safe."""

    def __init__(self, capacity: int = SELECTION_CACHE_SIZE) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[Hashable, int], Selection] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        key: Hashable,
        generation: int,
        build: Callable[[], tuple[int, Selection]],
    ) -> Selection:
        """The selection for ``key`` at ``generation``; ``build`` (which returns the generation
        it read at with the selection) runs on a miss."""
        with self._lock:
            cached = self._entries.get((key, generation))
            if cached is not None:
                self._entries.move_to_end((key, generation))
                return cached
        built_at, selection = build()
        with self._lock:
            # Entries of older generations can never be asked for again.
            for stale in [entry for entry in self._entries if entry[1] < built_at]:
                del self._entries[stale]
            self._entries[(key, built_at)] = selection
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return selection

    def __len__(self) -> int:
        return len(self._entries)


_CACHES: weakref.WeakKeyDictionary[Engine, SelectionCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def selection_cache(engine: Engine) -> SelectionCache:
    """The selection cache of the database behind ``engine`` (one per engine, gone with it)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = SelectionCache()
        return cache


def cached_filter_selection(engine: Engine, filters: SearchFilters, generation: int) -> Selection:
    """:func:`filter_selection`, read once per filter and store generation (and, for a tag
    filter, per generation of the tags: editing tags does not touch the image rows)."""
    key: tuple[object, ...] = ("filters", filters.model_dump_json(exclude_defaults=True))
    if filters.tag:
        key = (*key, tag_generation(engine))
    if filters.album is not None:
        key = (*key, "album", _album_generation(engine))
    return selection_cache(engine).get(key, generation, lambda: filter_selection(engine, filters))


def _album_generation(engine: Engine) -> int:
    """Counts the writes to album items (search.albums): they change without the images."""
    with engine.connect() as connection:
        value = connection.scalar(
            select(LibraryState.value).where(LibraryState.key == "album_generation")
        )
    return int(value or 0)


def tag_generation(engine: Engine) -> int:
    """Counts the writes to tags and recognised text (see search.storage.search_text)."""
    with Session(engine) as session:
        return text_generation(session)
