"""The place filter on a large library reads an index (migration 0017), not every image: the
query plan of the filter's own SELECT names the lower-case place indexes on SQLite and
PostgreSQL, once the database has statistics (as ``pixsift index`` leaves it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from conftest import DatabaseFactory
from sqlalchemy import Connection, insert, text

from pixsift.search.library import Library
from pixsift.search.query.filters import filtered_ids_statement, filtered_image_ids
from pixsift.search.query.request import SearchFilters
from pixsift.search.storage.models import Image, Root

#: Enough rows for a planner to prefer an index; a place holds 1 in 200 of them.
ROWS = 20_000
PLACES = [(f"City {n}", f"Region {n % 40}", f"Country {n % 7}") for n in range(200)]
INDEXES = {"ix_images_place_city_lower", "ix_images_place_region_lower",
           "ix_images_place_country_lower"}  # fmt: skip


def image_row(n: int, now: datetime) -> dict[str, object]:
    # Most pictures have no place (no GPS); the others one of PLACES.
    city, region, country = PLACES[n % len(PLACES)] if n % 3 == 0 else (None, None, None)
    return {
        "root_id": 1, "path_bytes": f"/p/{n}.jpg".encode(), "relative_path": f"{n}.jpg",
        "size_bytes": 1, "mtime_ns": 1, "content_hash": f"{n:064x}", "width": 4, "height": 3,
        "format": "JPEG", "indexed_at": now, "place_city": city, "place_region": region,
        "place_country": country,
    }  # fmt: skip


@pytest.fixture(scope="module")
def placed(
    tmp_path_factory: pytest.TempPathFactory, new_database_url: DatabaseFactory
) -> Iterator[Library]:
    library = Library.open(tmp_path_factory.mktemp("place-index"), database_url=new_database_url())
    now = datetime(2024, 1, 1)
    rows = [image_row(n, now) for n in range(ROWS)]
    with library.store.engine.begin() as connection:
        connection.execute(insert(Root).values(id=1, path="/p", path_bytes=b"/p", added_at=now))
        connection.execute(insert(Image), rows)
        connection.execute(text("ANALYZE"))
    yield library
    library.close()


def plan(connection: Connection, filters: SearchFilters) -> str:
    statement = filtered_ids_statement(filters)
    compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
    rows = connection.execute(text(explain + str(compiled))).all()
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


def test_the_place_filter_reads_the_place_indexes(placed: Library) -> None:
    filters = SearchFilters(place="city 7")  # any case, like the filter
    with placed.store.engine.connect() as connection:
        shown = plan(connection, filters)
    # Each of the three names is looked up in its index (an OR of index reads), never a scan
    # of the images table.
    assert all(name in shown for name in INDEXES), shown
    assert "SCAN images" not in shown and "Seq Scan on images" not in shown, shown
    ids = filtered_image_ids(placed.store.engine, filters)
    expected = [n + 1 for n in range(0, ROWS, 3) if n % len(PLACES) == 7]
    assert ids.tolist() == expected  # every City 7 picture (ids start at 1), no other


def test_a_country_finds_all_its_cities(placed: Library) -> None:
    found = filtered_image_ids(placed.store.engine, SearchFilters(place="COUNTRY 3"))
    expected = [n + 1 for n in range(0, ROWS, 3) if (n % len(PLACES)) % 7 == 3]
    assert found.tolist() == expected
