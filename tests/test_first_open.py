"""Several processes opening the same brand-new (empty) database at once: the first creates the
schema, the others wait for it and find it current. Neither PostgreSQL nor SQLite serialises
Alembic's first ``CREATE TABLE alembic_version`` by itself (tests/test_postgresql.py's
concurrent-indexer test starts from a migrated template, so it cannot see this)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from pixsift.search.storage.database import (
    alembic_config,
    create_database_engine,
    database_revision,
    upgrade_database,
)

PROCESSES = 4
#: Generous: the processes only import the storage code and create a dozen tables.
JOIN_SECONDS = 240


def open_when_all_are_ready(url: str, barrier: Barrier, results: multiprocessing.Queue) -> None:
    engine = create_database_engine(url)
    barrier.wait()
    try:
        upgrade_database(engine)
        results.put("opened")
    except Exception as error:  # reported to the test, which prints it
        results.put(f"{type(error).__name__}: {error}")
    finally:
        engine.dispose()


def open_from_several_processes_at_once(url: str) -> list[str]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=open_when_all_are_ready, args=(url, barrier, results))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=JOIN_SECONDS) for _ in processes]
    for process in processes:
        process.join(JOIN_SECONDS)
    return outcomes


def assert_at_head(url: str) -> None:
    engine = create_database_engine(url)
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert database_revision(engine) == (head,)
    engine.dispose()


@pytest.mark.postgresql
def test_several_processes_open_an_empty_postgresql_database_at_once(postgres_server) -> None:
    url = postgres_server.create_database("pixsift_first_open")  # empty: no template
    try:
        assert open_from_several_processes_at_once(url) == ["opened"] * PROCESSES
        assert_at_head(url)
    finally:
        postgres_server.drop_databases(["pixsift_first_open"])


@pytest.mark.sqlite
def test_several_processes_open_a_new_sqlite_library_file_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'library.sqlite3'}"
    assert open_from_several_processes_at_once(url) == ["opened"] * PROCESSES
    assert_at_head(url)


@pytest.mark.sqlite
def test_a_library_file_another_process_is_writing_opens_once_the_writer_commits(
    tmp_path: Path,
) -> None:
    """Switching a file to WAL needs its exclusive lock, and SQLite refuses at once (no busy
    wait) while another connection writes: the open waits for the writer instead of failing."""
    path = tmp_path / "library.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")  # a file still in the default rollback journal
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    committer = threading.Timer(0.5, writer.execute, args=("COMMIT",))
    committer.start()
    engine = create_database_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        committer.join()
        engine.dispose()
        writer.close()
