"""The schema comes from Alembic migrations only, and they agree with the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from search.database import (
    alembic_config,
    create_database_engine,
    database_revision,
    upgrade_database,
)
from search.library import Library
from search.models import Base


def test_models_and_migrations_agree(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'check.sqlite3'}")
    upgrade_database(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
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
