"""The filterable columns of one store generation, read once and kept in memory by the reader.

A filter's first request read its ids from the database: a million-row pass for a wide filter
or a path glob (GLOB or a regular expression per row), 0.2-1 s of CPU at 1M on a loaded 2-core
machine, paid again for every new filter. Here a reader keeps, per store generation (bumped by
the writer with every write to the images, search.storage.writes), the columns the common
filters test, each read from the database once, as one aggregated text per column (search.query
.id_lists): the paths (search.query.path_match), width and height, file size, format and root.
Any filter on those columns is then a few numpy passes over arrays, and later filters of the same
generation read nothing.

Only what was published is read: a column is kept only when the generation was the same before
and after its read and is the generation of the columns read before it (the rows then describe
one state of the library). Filters on other fields (dates, folders, tags, albums, places,
cameras, GPS), a library that changed mid-read, and a path holding the separator are answered by
the SQL path (:class:`ColumnsUnavailable`), whose results these match exactly.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, select

from pixsift.search.query.id_lists import id_list, parse_id_list
from pixsift.search.query.path_match import PathColumn
from pixsift.search.query.request import SearchFilters
from pixsift.search.storage.models import Image, LibraryState, Root
from pixsift.search.storage.writes import STATE_INDEX_GENERATION
from pixsift.search.vectors.selection import Selection

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


class FilterColumns:
    """The column groups of one store generation, each read on first use, rows ordered by id.
    Thread-safe: a group is read once, under a lock; reading the arrays needs none."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.ids: np.ndarray | None = None
        self._groups: dict[str, Any] = {}
        self._lock = threading.Lock()

    def group(self, engine: Engine, name: str) -> Any:
        """The group's value, rows in the order of :attr:`ids` (read now if need be)."""
        with self._lock:
            if name not in self._groups:
                self._groups[name] = self._read(engine, name)
            return self._groups[name]

    def _read(self, engine: Engine, name: str) -> Any:
        with engine.connect() as connection:
            before = read_generation(connection)
            ids, value = READERS[name](connection)
            after = read_generation(connection)
        if not before == after == self.generation:
            raise ColumnsUnavailable("the library changed while its columns were read")
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if self.ids is None:
            self.ids = ids
        elif not np.array_equal(ids, self.ids):
            raise ColumnsUnavailable("the columns' rows differ")
        return _reordered(name, value, order)


Test = Callable[[FilterColumns, Engine, Any], np.ndarray]


def _at_least(group: str, column: int) -> Test:
    return lambda columns, engine, bound: columns.group(engine, group)[column] >= bound


def _at_most(group: str, column: int) -> Test:
    return lambda columns, engine, bound: columns.group(engine, group)[column] <= bound


def _area(columns: FilterColumns, engine: Engine) -> np.ndarray:
    width, height = columns.group(engine, "dimensions")
    return width * height


def _orientation(columns: FilterColumns, engine: Engine, value: str) -> np.ndarray:
    width, height = columns.group(engine, "dimensions")
    return {"landscape": np.greater, "portrait": np.less, "square": np.equal}[value](width, height)


def _path(columns: FilterColumns, engine: Engine, pattern: str) -> np.ndarray:
    try:
        return columns.group(engine, "path").glob(pattern)
    except ValueError as error:  # a class such as [z-a]: the database's own reading decides
        raise ColumnsUnavailable(str(error)) from error


def _format(columns: FilterColumns, engine: Engine, names: tuple[str, ...]) -> np.ndarray:
    codes, stored = columns.group(engine, "format")
    if not all(name.isascii() for name in stored):  # upper() differs between the databases
        raise ColumnsUnavailable("a stored format name is not ASCII")
    wanted = set(wanted_formats(names))
    return np.isin(codes, [code for code, name in enumerate(stored) if name.upper() in wanted])


def _root(columns: FilterColumns, engine: Engine, path: str) -> np.ndarray:
    codes, root_ids = columns.group(engine, "root")
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
    """The images that satisfy ``filters``, from the columns of the current store generation,
    and that generation. ColumnsUnavailable when the database must answer instead."""
    if not answers_in_memory(filters):
        raise ColumnsUnavailable("a filter field has no in-memory test")
    with engine.connect() as connection:
        generation = read_generation(connection)
    columns = filter_columns(engine, generation)
    selected: np.ndarray | None = None
    for name, value in filters.set_values().items():
        passed = TESTS[name](columns, engine, value)
        selected = passed if selected is None else selected & passed
    ids = columns.ids if columns.ids is not None else np.zeros(0, dtype=np.int64)
    kept = ids if selected is None else ids[selected]
    return generation, Selection.of_ids(kept, total=len(ids))


_COLUMNS: weakref.WeakKeyDictionary[Engine, FilterColumns] = weakref.WeakKeyDictionary()
_COLUMNS_LOCK = threading.Lock()


def filter_columns(engine: Engine, generation: int) -> FilterColumns:
    """The columns of ``generation`` of the database behind ``engine``: one generation is kept
    per engine (a newer one replaces it; an older one is never kept again)."""
    with _COLUMNS_LOCK:
        columns = _COLUMNS.get(engine)
        if columns is None or columns.generation < generation:
            columns = _COLUMNS[engine] = FilterColumns(generation)
        elif columns.generation > generation:
            return FilterColumns(generation)  # a reader behind the times: read, not kept
        return columns


def warm_filter_columns(engine: Engine) -> None:
    """Read every column group of the current generation now (a server's warm-up), so that no
    filter's first request reads one. A group that cannot be read is left to the SQL path."""
    with engine.connect() as connection:
        columns = filter_columns(engine, read_generation(connection))
    for name in READERS:
        try:
            columns.group(engine, name)
        except ColumnsUnavailable:
            continue
