"""The filterable columns of one store generation, kept in memory by a long-lived reader.

A filter's first request read its ids from the database: a million-row pass for a wide filter
or a path glob (GLOB or a regular expression per row), 0.2-1 s of CPU at 1M on a loaded 2-core
machine, paid again for every new filter. Here a reader that opted in (the server's warm-up,
:func:`warm_filter_columns`) keeps, per store generation (bumped by the writer with every write
to the images, search.storage.writes), the columns the common filters test, each read as one
aggregated text per column (search.query.id_lists): the paths (search.query.path_match), width
and height, file size, format and root. Any filter on those columns is then a few numpy passes
over arrays.

The columns are used only when they are already loaded for the current generation: a process
that never opted in (a one-query CLI run) never reads them, and after a write the SQL path
answers until one background thread has read the new generation's (:class:`ColumnKeeper`), so
no request pays a read that the SQL path would answer faster.

Only what was published is read: a load is kept only when the generation was the same before
and after each column's read (the rows then describe one state of the library). Filters on
other fields (dates, folders, tags, albums, places, cameras, GPS), a library that changed
mid-read, and a path holding the separator are answered by the SQL path
(:class:`ColumnsUnavailable`), whose results these match exactly.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from pixsift.search.query.id_lists import id_list, parse_id_list
from pixsift.search.query.path_match import PathColumn
from pixsift.search.query.request import SearchFilters
from pixsift.search.storage.models import Image, LibraryState, Root
from pixsift.search.storage.writes import STATE_INDEX_GENERATION
from pixsift.search.vectors.selection import Selection

logger = logging.getLogger(__name__)

#: Joins the paths of one aggregated read (a path holding it is answered by the database).
PATH_SEPARATOR = "\n"


class ColumnsUnavailable(Exception):
    """The in-memory columns cannot answer this filter now: the database must."""


def pixels(megapixels: float) -> int:
    """A megapixel bound as the pixel count the filters compare (width * height) with."""
    return int(megapixels * 1_000_000)


def wanted_formats(names: tuple[str, ...]) -> list[str]:
    """The stored format names (upper case) that a format filter of ``names`` keeps."""
    wanted = {name.upper() for name in names}
    if "JPEG" in wanted:
        wanted.add("MPO")  # Pillow's name for a JPEG that holds several pictures
    return sorted(wanted)


def read_generation(connection: Connection) -> int:
    """The store generation (search.storage.writes), as every reader reads it."""
    value = connection.scalar(
        select(LibraryState.value).where(LibraryState.key == STATE_INDEX_GENERATION)
    )
    return int(value or 0)


# Reading the columns -----------------------------------------------------------------------------


def _read_paths(connection: Connection) -> tuple[np.ndarray, PathColumn]:
    # Both aggregates of one SELECT see the rows in the same order: the i-th id is the i-th path.
    row = connection.execute(
        select(id_list(Image.id), func.aggregate_strings(Image.relative_path, PATH_SEPARATOR))
    ).one()
    ids = parse_id_list(row[0])
    try:
        paths = PathColumn.of_text(row[1] or "", len(ids), PATH_SEPARATOR)
    except ValueError as error:  # a path holds the separator
        raise ColumnsUnavailable(str(error)) from error
    return ids, paths


def _read_numbers(*columns: Any) -> Callable[[Connection], tuple[np.ndarray, list[np.ndarray]]]:
    def read(connection: Connection) -> tuple[np.ndarray, list[np.ndarray]]:
        row = connection.execute(select(id_list(Image.id), *map(id_list, columns))).one()
        values = [parse_id_list(text) for text in row]
        if any(len(value) != len(values[0]) for value in values):
            raise ColumnsUnavailable("a column holds NULL")
        return values[0], values[1:]

    return read


def _read_categories(column: Any) -> Callable[[Connection], tuple[np.ndarray, list[Any]]]:
    """A column of few distinct values: each value's ids, one row per value."""

    def read(connection: Connection) -> tuple[np.ndarray, list[Any]]:
        rows = connection.execute(select(column, id_list(Image.id)).group_by(column)).all()
        parts = [parse_id_list(text) for _value, text in rows]
        ids = np.concatenate([np.zeros(0, dtype=np.int64), *parts])
        smallest = np.min_scalar_type(max(len(rows) - 1, 0))  # a byte per row, usually
        codes = np.repeat(np.arange(len(rows), dtype=smallest), [len(part) for part in parts])
        return ids, [codes, [value for value, _text in rows]]

    return read


#: Each group of columns and how it is read: (ids, its value) in any row order.
READERS: dict[str, Callable[[Connection], tuple[np.ndarray, Any]]] = {
    "path": _read_paths,
    "dimensions": _read_numbers(Image.width, Image.height),
    "size": _read_numbers(Image.size_bytes),
    "format": _read_categories(Image.format),
    "root": _read_categories(Image.root_id),
}


def _reordered(group: str, value: Any, order: np.ndarray) -> Any:
    if group == "path":
        return value.reordered(order)
    if group in ("format", "root"):
        codes, names = value
        return codes[order], names
    return [column[order] for column in value]


class GenerationChanged(ColumnsUnavailable):
    """The library changed while its columns were read: that read is not kept."""


class FilterColumns:
    """The column groups of one store generation, rows ordered by id, read whole before any
    filter uses them and never changed after (reading them needs no lock). A group that could
    not be kept (a path holding the separator, a NULL) is missing: its filters go to the SQL
    path."""

    def __init__(
        self, generation: int, ids: np.ndarray, groups: dict[str, Any], missing: dict[str, str]
    ) -> None:
        self.generation = generation
        self.ids = ids
        self._groups = groups
        self._missing = missing

    def group(self, name: str) -> Any:
        """The group's value, rows in the order of :attr:`ids`."""
        if name not in self._groups:
            raise ColumnsUnavailable(self._missing.get(name, f"no column group {name!r}"))
        return self._groups[name]


def _read_group(engine: Engine, name: str, generation: int) -> tuple[np.ndarray, Any]:
    with engine.connect() as connection:
        before = read_generation(connection)
        ids, value = READERS[name](connection)
        after = read_generation(connection)
    if not before == after == generation:
        raise GenerationChanged("the library changed while its columns were read")
    order = np.argsort(ids, kind="stable")
    return ids[order], _reordered(name, value, order)


def read_filter_columns(engine: Engine) -> FilterColumns:
    """Every column group of the current store generation, read now (GenerationChanged when a
    write landed meanwhile: the rows of all groups then describe no one state)."""
    with engine.connect() as connection:
        generation = read_generation(connection)
    ids: np.ndarray | None = None
    groups: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for name in READERS:
        try:
            group_ids, groups[name] = _read_group(engine, name, generation)
        except GenerationChanged:
            raise
        except ColumnsUnavailable as error:
            missing[name] = str(error)
            continue
        if ids is None:
            ids = group_ids
        elif not np.array_equal(ids, group_ids):
            raise GenerationChanged("the columns' rows differ")
    empty = np.zeros(0, dtype=np.int64)
    return FilterColumns(generation, empty if ids is None else ids, groups, missing)


Test = Callable[[FilterColumns, Engine, Any], np.ndarray]


def _at_least(group: str, column: int) -> Test:
    return lambda columns, engine, bound: columns.group(group)[column] >= bound


def _at_most(group: str, column: int) -> Test:
    return lambda columns, engine, bound: columns.group(group)[column] <= bound


def _area(columns: FilterColumns, engine: Engine) -> np.ndarray:
    width, height = columns.group("dimensions")
    return width * height


def _orientation(columns: FilterColumns, engine: Engine, value: str) -> np.ndarray:
    width, height = columns.group("dimensions")
    return {"landscape": np.greater, "portrait": np.less, "square": np.equal}[value](width, height)


def _path(columns: FilterColumns, engine: Engine, pattern: str) -> np.ndarray:
    try:
        return columns.group("path").glob(pattern)
    except ValueError as error:  # a class such as [z-a]: the database's own reading decides
        raise ColumnsUnavailable(str(error)) from error


def _format(columns: FilterColumns, engine: Engine, names: tuple[str, ...]) -> np.ndarray:
    codes, stored = columns.group("format")
    if not all(name.isascii() for name in stored):  # upper() differs between the databases
        raise ColumnsUnavailable("a stored format name is not ASCII")
    wanted = set(wanted_formats(names))
    return np.isin(codes, [code for code, name in enumerate(stored) if name.upper() in wanted])


def _root(columns: FilterColumns, engine: Engine, path: str) -> np.ndarray:
    codes, root_ids = columns.group("root")
    with engine.connect() as connection:
        wanted = set(connection.scalars(select(Root.id).where(Root.path == path.rstrip("/"))))
    return np.isin(codes, [code for code, root_id in enumerate(root_ids) if root_id in wanted])


#: The filter fields answered in memory, each a test over the columns (one bool per row).
TESTS: dict[str, Test] = {
    "path": _path,
    "root": _root,
    "min_width": _at_least("dimensions", 0),
    "max_width": _at_most("dimensions", 0),
    "min_height": _at_least("dimensions", 1),
    "max_height": _at_most("dimensions", 1),
    "min_megapixels": lambda columns, engine, value: _area(columns, engine) >= pixels(value),
    "max_megapixels": lambda columns, engine, value: _area(columns, engine) <= pixels(value),
    "orientation": _orientation,
    "format": _format,
    "min_size": _at_least("size", 0),
    "max_size": _at_most("size", 0),
}


def answers_in_memory(filters: SearchFilters) -> bool:
    """Whether every set field of ``filters`` has an in-memory test."""
    values = filters.set_values()
    return bool(values) and set(values) <= set(TESTS)


def column_selection(engine: Engine, filters: SearchFilters) -> tuple[int, Selection]:
    """The images that satisfy ``filters``, from the columns this process keeps for the current
    store generation, and that generation. ColumnsUnavailable when the database must answer
    instead: a field without an in-memory test, a process that keeps no columns, or columns not
    loaded yet for this generation (a process that keeps them then loads them in the
    background)."""
    if not answers_in_memory(filters):
        raise ColumnsUnavailable("a filter field has no in-memory test")
    with engine.connect() as connection:
        generation = read_generation(connection)
    columns = kept_columns(engine, generation)
    selected: np.ndarray | None = None
    for name, value in filters.set_values().items():
        passed = TESTS[name](columns, engine, value)
        selected = passed if selected is None else selected & passed
    kept = columns.ids if selected is None else columns.ids[selected]
    return generation, Selection.of_ids(kept, total=len(columns.ids))


class ColumnKeeper:
    """The filter columns one long-lived reader keeps for one database: those of the newest
    generation read whole, swapped in at once when a newer one is read. A generation is loaded
    by at most one load at a time, in a background thread started by the first filter that
    found its columns missing (that filter, and any until the load ends, the SQL path
    answers); a load that fails is logged, and the next filter starts another."""

    def __init__(self) -> None:
        self.columns: FilterColumns | None = None
        #: The last background load's thread, and how many loads have ended (kept or not).
        self.thread: threading.Thread | None = None
        self.loads = 0
        self._loading = False
        self._lock = threading.Lock()

    def current(self, generation: int) -> FilterColumns | None:
        columns = self.columns
        return columns if columns is not None and columns.generation == generation else None

    def load_later(self, engine: Engine, generation: int) -> None:
        """Start loading the columns in the background, unless a load runs already or those
        kept are as new as ``generation``."""
        with self._lock:
            kept = self.columns
            if self._loading or (kept is not None and kept.generation >= generation):
                return
            self._loading = True
            self.thread = threading.Thread(
                target=self._load, args=(engine,), name="pixsift-filter-columns", daemon=True
            )
            self.thread.start()

    def load_now(self, engine: Engine) -> None:
        """Load the current generation's columns in this thread (unless a load runs already)."""
        with self._lock:
            if self._loading:
                return
            self._loading = True
        self._load(engine)

    def _load(self, engine: Engine) -> None:
        columns = None
        try:
            columns = read_filter_columns(engine)
        except GenerationChanged as error:  # not a fault: the next filter asks again
            logger.info("filter columns not kept: %s", error)
        except (SQLAlchemyError, ColumnsUnavailable, ValueError, OSError, MemoryError):
            logger.exception("reading the filter columns failed; the database answers filters")
        finally:
            with self._lock:
                kept = self.columns
                if columns is not None and (kept is None or columns.generation > kept.generation):
                    self.columns = columns
                self._loading = False
                self.loads += 1


_KEEPERS: weakref.WeakKeyDictionary[Engine, ColumnKeeper] = weakref.WeakKeyDictionary()
_KEEPERS_LOCK = threading.Lock()


def column_keeper(engine: Engine) -> ColumnKeeper | None:
    """The keeper of the filter columns of ``engine``'s database, if this process keeps them."""
    with _KEEPERS_LOCK:
        return _KEEPERS.get(engine)


def kept_columns(engine: Engine, generation: int) -> FilterColumns:
    """The kept columns of ``generation``; ColumnsUnavailable (and a load started, where this
    process keeps columns) when there are none."""
    keeper = column_keeper(engine)
    if keeper is None:
        raise ColumnsUnavailable("this process keeps no filter columns")
    columns = keeper.current(generation)
    if columns is None:
        keeper.load_later(engine, generation)
        raise ColumnsUnavailable(f"the columns of generation {generation} are not loaded yet")
    return columns


def warm_filter_columns(engine: Engine) -> ColumnKeeper:
    """Keep the filter columns of ``engine``'s database from now on (a long-lived reader: the
    server's warm-up) and load the current generation's now, in this thread. A process that
    never calls this (a one-query CLI run) never reads them: the SQL path answers its filters."""
    with _KEEPERS_LOCK:
        keeper = _KEEPERS.get(engine)
        if keeper is None:
            keeper = _KEEPERS[engine] = ColumnKeeper()
    keeper.load_now(engine)
    return keeper
