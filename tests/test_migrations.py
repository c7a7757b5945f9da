"""The schema comes from Alembic migrations only, and they agree with the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from pixsift.search.library import Library
from pixsift.search.storage.database import (
    alembic_config,
    create_database_engine,
    database_revision,
    include_in_schema_comparison,
    upgrade_database,
)
from pixsift.search.storage.models import Base


def test_models_and_migrations_agree(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'check.sqlite3'}")
    upgrade_database(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": include_in_schema_comparison},
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_opening_a_library_applies_every_migration(tmp_path: Path) -> None:
    with Library.open(tmp_path / "library") as library:
        head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
        assert database_revision(library.store.engine) == (head,)
        tables = set(inspect(library.store.engine).get_table_names())
    assert {"images", "embeddings", "roots", "failures", "library_state"} <= tables


def test_reopening_keeps_data_and_upgrade_is_idempotent(tmp_path: Path) -> None:
    with Library.open(tmp_path / "library") as library:
        library.store.set_state("probe", "kept")
    with Library.open(tmp_path / "library") as library:
        upgrade_database(library.store.engine)
        assert library.store.get_state("probe") == "kept"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    with (
        Library.open(tmp_path / "library") as library,
        library.store.engine.connect() as connection,
    ):
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_upgrading_from_the_first_schema_keeps_images_and_indexes_their_names(
    tmp_path: Path,
) -> None:
    from datetime import datetime

    from alembic import command
    from sqlalchemy import insert, text

    from pixsift.search.storage.models import Image, Root

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_database_engine(url)
    with engine.begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        now = datetime(2024, 1, 1)
        connection.execute(insert(Root).values(id=1, path="/p", path_bytes=b"/p", added_at=now))
        connection.execute(
            insert(Image).values(
                id=1, root_id=1, path_bytes=b"/p/zebra.png", relative_path="zebra.png",
                size_bytes=1, mtime_ns=0, content_hash="h", width=1, height=1, format="PNG",
                indexed_at=now,
            )
        )  # fmt: skip
    upgrade_database(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM images")).scalar() == 1
        match = text("SELECT rowid FROM image_search_text WHERE image_search_text MATCH 'zebra'")
        assert connection.execute(match).scalar() == 1
