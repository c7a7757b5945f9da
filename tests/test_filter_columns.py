"""Filters answered from the reader's in-memory columns (search.query.filter_columns) select
exactly the images the SQL path selects, on SQLite and PostgreSQL, for globs of every kind,
sizes, formats and roots alone and together. Only a process that opted in (the server's
warm-up) ever reads the columns; after a write the SQL path answers until one background load
has read the new generation's, then the columns do; a filter they cannot answer goes to the
database, and searches through them still leave out hidden pictures and refuse location
filters to a caller without places."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
from sqlalchemy import update
from waiting import LIMIT_SECONDS, wait_for_thread

import pixsift.search.query.filter_columns as columns_module
from pixsift.search.account_records import LOCAL_PRINCIPAL
from pixsift.search.decisions import Decisions
from pixsift.search.errors import PermissionDeniedError
from pixsift.search.library import Library
from pixsift.search.query.filter_columns import (
    ColumnKeeper,
    ColumnsUnavailable,
    column_keeper,
    column_selection,
    warm_filter_columns,
)
from pixsift.search.query.filters import filter_selection, sql_filter_selection
from pixsift.search.query.path_match import PathColumn
from pixsift.search.query.request import QueryTerm, SearchFilters, SearchRequest
from pixsift.search.storage.models import Image
from pixsift.search.storage.writes import STATE_INDEX_GENERATION

COUNT = 600
#: Folders and names that exercise globs: nesting, case, non-ASCII, glob characters, dots.
FOLDERS = ("trips/beach", "Trips/Snow", "home", "été/plage", "a[1]", "x*y", "")
NAMES = ("IMG_{i:04d}.JPG", "img-{i}.jpeg", "photo {i}.png", "ç{i}.webp", "{i}")


@pytest.fixture
def rows(library: Library) -> Library:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((COUNT, library.embedder.dimension)).astype(np.float32)
    ids = library.import_vectors(vectors, model_id=library.embedder.model_id, publish=False)
    formats = ("JPEG", "PNG", "WEBP", "MPO", "jpeg")
    with library.store.session() as session:
        for image_id in ids:
            folder = FOLDERS[image_id % len(FOLDERS)]
            name = NAMES[image_id % len(NAMES) - 1].format(i=image_id)
            session.execute(
                update(Image)
                .where(Image.id == image_id)
                .values(
                    relative_path=f"{folder}/{name}" if folder else name,
                    width=(image_id * 37) % 100 + 1,
                    height=(image_id * 11) % 90 + 1,
                    size_bytes=(image_id * 7919) % 5000,
                    format=formats[image_id % len(formats)],
                )
            )
    bump(library)
    return library


@pytest.fixture
def kept(rows: Library) -> Library:
    """``rows`` in a process that keeps the filter columns (a server after its warm-up)."""
    warm_filter_columns(rows.store.engine)
    return rows


def keeper_of(library: Library) -> ColumnKeeper:
    keeper = column_keeper(library.store.engine)
    assert keeper is not None
    return keeper


def loaded(library: Library) -> None:
    """Wait for the background load the last filter started to end."""
    thread = keeper_of(library).thread
    assert thread is not None
    wait_for_thread(thread, "the filter columns' load")


def bump(library: Library) -> None:
    """A new store generation, as every write to the images makes."""
    library.store.set_state(STATE_INDEX_GENERATION, str(library.store.index_generation() + 1))


CASES = [
    {"path": "*"},
    {"path": "*.JPG"},
    {"path": "*.jp*g"},
    {"path": "trips/*"},
    {"path": "[tT]rips/*/*[0-4].*"},
    {"path": "*/IMG_00?[!0-5].JPG"},
    {"path": "été/*"},
    {"path": "*/ç*"},
    {"path": "a[[]1]/*"},
    {"path": "x[*]y/*"},
    {"path": "*a*e*"},
    {"path": "*/*/*"},
    {"path": "?"},
    {"path": "??"},
    {"path": "*5"},
    {"path": "no-such-*"},
    {"path": "photo 1*.png"},
    {"min_width": 50},
    {"max_width": 20, "min_height": 30},
    {"min_megapixels": 0.004},
    {"max_megapixels": 0.001},
    {"orientation": "square"},
    {"orientation": "portrait", "min_size": 1000, "max_size": 3000},
    {"format": ("jpg",)},
    {"format": ("png", "webp")},
    {"path": "home/*", "format": ("jpeg",), "max_width": 60},
    {"min_width": 1},
]


def ids_of(selection) -> list[int]:
    return selection.ids().tolist()


def test_in_memory_selections_equal_the_database_s(kept: Library) -> None:
    rows = kept
    engine = rows.store.engine
    root = rows.store.root_paths()[0]
    cases = [*CASES, {"root": root}, {"root": root + "/", "min_width": 90}, {"root": "/nowhere"}]
    for params in cases:
        filters = SearchFilters(**params)
        memory_generation, memory = column_selection(engine, filters)
        sql_generation, sql = sql_filter_selection(engine, filters)
        assert ids_of(memory) == ids_of(sql), params
        assert (
            (memory_generation, memory.total)
            == (sql_generation, sql.total)
            == (
                rows.store.index_generation(),
                COUNT,
            )
        )
    # The cases select something and not everything, and "everything" is recognised.
    assert column_selection(engine, SearchFilters(min_width=1))[1].covers_all
    assert 0 < column_selection(engine, SearchFilters(path="trips/*"))[1].count < COUNT


def test_a_process_that_did_not_opt_in_never_reads_columns(
    rows: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = rows.store.engine

    def refused(connection):
        raise AssertionError("a column was read in a one-query process")

    for name in list(columns_module.READERS):
        monkeypatch.setitem(columns_module.READERS, name, refused)
    for params in CASES:
        filters = SearchFilters(**params)
        assert ids_of(filter_selection(engine, filters)[1]) == ids_of(
            sql_filter_selection(engine, filters)[1]
        ), params
        with pytest.raises(ColumnsUnavailable):
            column_selection(engine, filters)
    rows.rebuild_index()
    request = SearchRequest((QueryTerm(text="a photo"),), filters=SearchFilters(path="*.JPG"))
    assert all(rows.image(hit.id).relative_path.endswith(".JPG") for hit in rows.find(request).hits)
    assert column_keeper(engine) is None


def test_after_a_write_the_database_answers_until_one_load_reads_the_new_columns(
    kept: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = kept.store.engine
    filters = SearchFilters(path="renamed/*", min_width=1)
    assert column_selection(engine, filters)[1].count == 0
    with kept.store.session() as session:
        session.execute(
            update(Image).where(Image.id <= 5).values(relative_path="renamed/x.jpg", width=1)
        )
    bump(kept)
    # The new generation's load is held at its path read until the first filters are answered.
    release, reads = threading.Event(), []
    reader = columns_module.READERS["path"]

    def held(connection):
        reads.append(connection)
        assert release.wait(LIMIT_SECONDS)
        return reader(connection)

    monkeypatch.setitem(columns_module.READERS, "path", held)
    for _ in range(3):
        generation, selection = filter_selection(engine, filters)
        assert generation == kept.store.index_generation()
        assert ids_of(selection) == [1, 2, 3, 4, 5]
        with pytest.raises(ColumnsUnavailable):
            column_selection(engine, filters)
    wait_for_thread(keeper_of(kept).thread, "the path read", condition=lambda: bool(reads))
    release.set()
    loaded(kept)
    assert len(reads) == 1  # one load, however many filters asked meanwhile
    generation, selection = column_selection(engine, filters)
    assert generation == kept.store.index_generation()
    assert ids_of(selection) == [1, 2, 3, 4, 5]

    new = kept.import_vectors(np.ones((2, kept.embedder.dimension), np.float32), publish=False)
    every = SearchFilters(min_width=1)
    from_database = filter_selection(engine, every)
    loaded(kept)
    for generation, selection in (from_database, column_selection(engine, every)):
        assert generation == kept.store.index_generation() and selection.total == COUNT + 2
        assert set(new) <= set(ids_of(selection)) and selection.covers_all


def test_what_the_columns_cannot_answer_goes_to_the_database(
    kept: Library, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rows, engine = kept, kept.store.engine
    with pytest.raises(ColumnsUnavailable):  # no in-memory test for folders
        column_selection(engine, SearchFilters(folder="home"))
    with pytest.raises(ColumnsUnavailable):  # a class that is no valid range
        column_selection(engine, SearchFilters(path="*[z-a]*"))
    with rows.store.session() as session:  # a path holding the separator
        session.execute(update(Image).where(Image.id == 3).values(relative_path="a\nb.jpg"))
    bump(rows)
    for filters in (SearchFilters(path="a*"), SearchFilters(folder="home", max_width=50)):
        assert ids_of(filter_selection(engine, filters)[1]) == ids_of(
            sql_filter_selection(engine, filters)[1]
        )
    loaded(rows)
    with pytest.raises(ColumnsUnavailable):
        column_selection(engine, SearchFilters(path="a*"))
    assert column_selection(engine, SearchFilters(max_width=50))[0] == rows.store.index_generation()

    # A write landing while a column is read: that load is not kept.
    reader = columns_module.READERS["size"]

    def racing(connection):
        value = reader(connection)
        bump(rows)
        return value

    before = keeper_of(rows).columns.generation
    bump(rows)
    monkeypatch.setitem(columns_module.READERS, "size", racing)
    filter_selection(engine, SearchFilters(min_size=1))
    loaded(rows)
    assert keeper_of(rows).columns.generation == before

    # A load that fails is logged, never raised into a request; the next filter loads again.
    def broken(connection):
        raise ValueError("a broken read")

    monkeypatch.setitem(columns_module.READERS, "size", reader)
    monkeypatch.setitem(columns_module.READERS, "dimensions", broken)
    with caplog.at_level(logging.ERROR, logger=columns_module.__name__):
        assert filter_selection(engine, SearchFilters(min_size=1))[1].count > 0
        loaded(rows)
    assert "a broken read" in caplog.text and keeper_of(rows).columns.generation == before
    monkeypatch.undo()
    filter_selection(engine, SearchFilters(min_size=1))
    loaded(rows)
    assert column_selection(engine, SearchFilters(min_size=1))[0] == rows.store.index_generation()


def test_searches_through_the_columns_keep_hidden_pictures_and_places_rules(
    kept: Library,
) -> None:
    rows = kept
    rows.rebuild_index()
    warm_filter_columns(rows.store.engine)  # this generation's columns, read now
    text = (QueryTerm(text="a photo"),)
    request = SearchRequest(text, filters=SearchFilters(path="*.JPG"), k=50, weaker=True)
    shown = [hit.id for hit in rows.find(request).hits]
    assert len(shown) == 50 and all(rows.image(i).relative_path.endswith(".JPG") for i in shown)
    Decisions(rows.store, LOCAL_PRINCIPAL).hide(shown[0])
    again = [hit.id for hit in rows.find(request).hits]
    assert again[:49] == shown[1:] and again[49] not in shown
    assert rows.image(again[49]).relative_path.endswith(".JPG")
    assert [hit.id for hit in rows.find(request, places=False).hits] == again
    located = SearchRequest(text, filters=SearchFilters(path="*", has_gps=True))
    with pytest.raises(PermissionDeniedError):
        rows.find(located, places=False)


def test_a_path_column_reads_non_ascii_and_empty_paths() -> None:
    paths = ["", "é", "aé", "ab", "日本/写真.jpg"]
    column = PathColumn.of_text("\n".join(paths), len(paths), "\n")
    assert column.glob("?").tolist() == [False, True, False, False, False]
    assert column.glob("*").tolist() == [True] * 5
    assert column.glob("a?").tolist() == [False, False, True, True, False]
    assert column.glob("*/*.jpg").tolist() == [False, False, False, False, True]
    with pytest.raises(ValueError):
        PathColumn.of_text("a\nb", 3, "\n")


def test_the_warm_up_reads_every_column_once(
    kept: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = kept
    engine = rows.store.engine

    def refused(connection):
        raise AssertionError("a column was read again")

    for name in list(columns_module.READERS):
        monkeypatch.setitem(columns_module.READERS, name, refused)
    filters = SearchFilters(path="home/*", format=("png",), min_size=10, max_width=90, root="/")
    assert column_selection(engine, filters)[0] == rows.store.index_generation()


def test_the_server_s_warm_up_keeps_the_columns_of_a_library_not_indexed_yet(
    library: Library,
) -> None:
    from pixsift.web import create_app
    from pixsift.web.state import web_state

    url = library.store.engine.url.render_as_string(hide_password=False)
    app = create_app({"TESTING": True, "LIBRARY": str(library.directory), "DATABASE_URL": url})
    with app.app_context():
        web_state().warm_up()
        engine = web_state().library.store.engine
        keeper = column_keeper(engine)
        assert keeper is not None and keeper.current(library.store.index_generation())
        library.import_vectors(np.ones((3, library.embedder.dimension), np.float32))
        assert filter_selection(engine, SearchFilters(path="*"))[1].count == 3  # the database
        assert keeper.thread is not None
        wait_for_thread(keeper.thread, "the filter columns' load")
        generation, selection = column_selection(engine, SearchFilters(path="*"))
        assert generation == library.store.index_generation() and selection.count == 3
        web_state().close()
