"""A filter's ids read as one aggregated text (search.query.id_lists) are exactly the ids a
row-per-id query returns, on SQLite and PostgreSQL, for every kind of filter condition; and on
SQLite a path glob or a width filter is answered from its index (migration 0019), not the rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pytest
from sqlalchemy import Engine, event, select, text, update

from pixsift.search.library import Library
from pixsift.search.query.filters import filter_conditions, filtered_image_ids
from pixsift.search.query.id_lists import id_list, parse_id_list
from pixsift.search.query.request import SearchFilters
from pixsift.search.storage.models import Image, Root

COUNT = 1200
T = TypeVar("T")


@pytest.fixture
def rows(library: Library) -> Library:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((COUNT, library.embedder.dimension)).astype(np.float32)
    library.import_vectors(vectors, model_id=library.embedder.model_id, publish=False)
    with library.store.session() as session:
        session.execute(update(Image).values(width=(Image.id * 37) % 100 + 1))
        session.execute(update(Image).values(height=(Image.id * 11) % 90 + 1))
    return library


def one_row_per_id(library: Library, filters: SearchFilters) -> list[int]:
    """The ids as the engine read them before: one row each, joined with the roots."""
    statement = (
        select(Image.id)
        .join(Root, Root.id == Image.root_id)
        .where(*filter_conditions(filters))
        .order_by(Image.id)
    )
    with library.store.engine.connect() as connection:
        return list(connection.scalars(statement))


def test_aggregated_ids_equal_one_row_per_id(rows: Library) -> None:
    root = rows.store.root_paths()[0]
    cases = [
        SearchFilters(),
        SearchFilters(min_width=1),
        SearchFilters(min_width=31),
        SearchFilters(max_width=1, min_height=40),
        SearchFilters(orientation="portrait"),
        SearchFilters(path="bulk-*[0-6].jpg"),
        SearchFilters(path="bulk-*00.jpg"),
        SearchFilters(path="bulk-7.jpg"),
        SearchFilters(path="no-such-*"),
        SearchFilters(root=root, max_width=50),
        SearchFilters(root="/nowhere"),
    ]
    for filters in cases:
        expected = one_row_per_id(rows, filters)
        got = filtered_image_ids(rows.store.engine, filters)
        assert got.dtype == np.int64
        assert got.tolist() == expected, filters
    assert 0 < len(one_row_per_id(rows, SearchFilters(min_width=31))) < COUNT


def test_parse_id_list_reads_every_id_or_refuses() -> None:
    assert parse_id_list(None).tolist() == []
    assert parse_id_list("").tolist() == []
    assert parse_id_list("5,3,1000000007").tolist() == [5, 3, 1_000_000_007]
    with pytest.raises(ValueError):
        parse_id_list("5,x,7")


def test_sqlite_answers_path_and_width_filters_from_their_indexes(rows: Library) -> None:
    engine = rows.store.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plan")
    for filters, index in (
        # Either index holding the path will do (0014's folder index also has it).
        (SearchFilters(path="bulk-*00.jpg"), ("ix_images_relative_path", "ix_images_folder")),
        (SearchFilters(min_width=31), ("ix_images_width_height",)),
    ):
        statement = select(id_list(Image.id)).where(*filter_conditions(filters))
        compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
        with engine.connect() as connection:
            plan = " ".join(
                str(row[-1]) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            )
        assert any(f"COVERING INDEX {name}" in plan for name in index), plan


def first_statement_plan(engine: Engine, call: Callable[[], T]) -> tuple[T, str | None]:
    """What ``call`` returns, and SQLite's plan of the first statement it ran (None elsewhere)."""
    statements: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        value = call()
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    if engine.dialect.name != "sqlite":
        return value, None
    (statement, parameters), *_ = statements
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return value, " ".join(str(row[-1]) for row in rows)


def test_has_stacks_answers_from_the_stack_index(rows: Library) -> None:
    """Every search asks whether the library has stacks; SQLite scanned every row for it."""
    from pixsift.search.stacks import has_stacks

    engine = rows.store.engine
    assert has_stacks(engine) is False
    with rows.store.session() as session:
        session.execute(update(Image).where(Image.id == 7).values(stack_id=7))
    found, plan = first_statement_plan(engine, lambda: has_stacks(engine))
    assert found is True
    assert plan is None or "USING COVERING INDEX ix_images_stack_id" in plan, plan


def test_the_hidden_pictures_are_read_from_the_few_hidden_paths(rows: Library) -> None:
    """Every search reads the hidden pictures' ids; SQLite scanned every image for it (an ORDER
    BY on the images' id) — 67 ms a search at 1M with nothing hidden."""
    from pixsift.search.accounts import LOCAL_PRINCIPAL
    from pixsift.search.decisions import Decisions, hidden_image_ids

    engine = rows.store.engine
    assert hidden_image_ids(engine).tolist() == []
    for image_id in (900, 7, 300):
        Decisions(rows.store, LOCAL_PRINCIPAL).hide(image_id)
    found, plan = first_statement_plan(engine, lambda: hidden_image_ids(engine))
    assert found.tolist() == [7, 300, 900]
    assert plan is None or "SCAN images" not in plan, plan
