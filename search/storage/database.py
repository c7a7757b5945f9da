"""Opening a library database and keeping its schema current through Alembic."""

from __future__ import annotations

import ast
import re
import sqlite3
import time
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from pixsift.search.errors import LibraryError

if TYPE_CHECKING:
    from alembic.config import Config

#: Alembic's scripts, found as package data of the ``migrations`` package (never imported here:
#: the core does not depend on its migrations' code, only on their files).
MIGRATIONS_DIRECTORY = Path(str(resources.files("pixsift.migrations")))
SQLITE_BUSY_TIMEOUT_MS = 30_000


SUPPORTED_DATABASES = ("sqlite", "postgresql")


def create_database_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; SQLite gets the settings a concurrent library needs.
    SQLite and PostgreSQL (``postgresql+psycopg://``, the ``pixsift[postgres]`` extra) are
    supported; another URL is a LibraryError."""
    try:
        backend = make_url(database_url).get_backend_name()
    except ArgumentError as error:
        raise LibraryError(f"not a database URL: {database_url!r}") from error
    if backend not in SUPPORTED_DATABASES:
        raise LibraryError(f"pixsift stores libraries in SQLite or PostgreSQL, not {backend}")
    if backend == "postgresql":
        try:
            return create_engine(database_url, pool_pre_ping=True)
        except ImportError as error:
            raise LibraryError(
                f"no PostgreSQL driver ({error.name}): pip install 'pixsift[postgres]'"
            ) from error
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    return create_engine(database_url, pool_pre_ping=True)


def _configure_sqlite_connection(dbapi_connection, _connection_record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # WAL lets the web server read while an indexing run writes; NORMAL sync is crash-safe in WAL
    # mode (a power cut may lose the last commits, never corrupt the file).
    _use_write_ahead_log(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _use_write_ahead_log(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL unless it already is (the mode is stored in the file).

    Switching needs the file's exclusive lock, and SQLite answers "database is locked" at once,
    without waiting out the busy timeout, when another process is creating the schema of a new
    file at that moment (waiting could deadlock, so SQLite refuses). So the switch is retried
    until the busy timeout has passed, as the busy handler would have done."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


#: Tables that exist only in migrations (SQLite's full-text index and its shadow tables).
MIGRATION_ONLY_TABLE_PREFIX = "image_search_text"
#: PostgreSQL's full-text column and its index, also only in migrations (0007).
MIGRATION_ONLY_NAMES = {("column", "search_text"), ("index", "ix_images_search_text")}
#: Browsing indexes (0014): partial and collated, so declared in the migration alone.
MIGRATION_ONLY_NAMES |= {
    ("index", "ix_images_timeline_taken"),
    ("index", "ix_images_timeline_file"),
    ("index", "ix_images_folder"),
}


def include_in_schema_comparison(
    _object: object, name: str | None, type_: str, _reflected: bool, _compare_to: object
) -> bool:
    """Autogenerate filter: leave out what the models deliberately do not describe."""
    if (type_, name) in MIGRATION_ONLY_NAMES:
        return False
    return not (type_ == "table" and (name or "").startswith(MIGRATION_ONLY_TABLE_PREFIX))


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


#: The PostgreSQL advisory lock key every pixsift process takes around its migrations
#: (any constant works; this one spells "pixsift" in ASCII, which no other tool is likely to use).
MIGRATION_LOCK_KEY = 0x70697873696674


def upgrade_database(engine: Engine) -> None:
    """Apply every migration the database lacks. Safe to call on every open, from several
    processes at once: a database that is current costs one read of its version table (Alembic,
    a quarter of a second of imports, is loaded only when there is something to migrate), and
    the check and the upgrade run under one database-wide lock, so the first process creates
    the schema and the others find it current."""
    try:
        connection = engine.connect()
    except SQLAlchemyError as error:
        raise LibraryError(
            f"cannot connect to the library database {_shown_url(engine)}: "
            f"{database_error_reason(error, engine)}"
        ) from error
    try:
        with connection:
            heads = migration_heads()
            if heads and _recorded_revisions(connection) == heads:
                return
            connection.rollback()  # the lock below must open its own transaction
            _lock_for_migrations(connection)
            if _is_current(connection):
                connection.commit()
                return
            _upgrade(connection)
            connection.commit()
    except SQLAlchemyError as error:
        raise LibraryError(
            f"cannot upgrade the library database {_shown_url(engine)}: "
            f"{database_error_reason(error, engine)}"
        ) from error


def _shown_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


#: What the drivers put before the reason itself (psycopg's connection attempt, the server's
#: severity), left out of the one line pixsift prints.
_REASON_PREFIXES = re.compile(
    r"^(connection failed: )?"
    r'(connection to server (at|on) "[^"]*"(, port \d+)? failed: )?'
    r"((FATAL|ERROR):\s+)?"
)


def database_error_reason(error: SQLAlchemyError, engine: Engine) -> str:
    """The driver's own first line, without SQLAlchemy's statement and "Background on this
    error" link, libpq's hints on the lines after, or the password if the driver repeated it."""
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error).strip()
    first_line = text.splitlines()[0].strip() if text else type(error).__name__
    reason = _REASON_PREFIXES.sub("", first_line) or first_line
    password = engine.url.password
    if password:
        reason = reason.replace(str(password), "***")
    return reason


def _lock_for_migrations(connection: Connection) -> None:
    """Take the lock that serialises migrations, held until this transaction ends.

    Without it two processes opening an empty database both find no ``alembic_version`` and
    both create it: PostgreSQL fails one with UniqueViolation, SQLite with "table already
    exists" (pysqlite runs DDL outside a transaction, so the file lock does not serialise it)."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
    elif connection.dialect.name == "sqlite":
        # SQLite's write lock, taken now (waiting up to the busy timeout) rather than at the
        # first write; the DDL that follows runs inside this transaction. A driver statement:
        # SQLAlchemy has no construct for SQLite's BEGIN IMMEDIATE.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _upgrade(connection: Connection) -> None:
    from alembic import command

    config = alembic_config(connection.engine.url.render_as_string(hide_password=False))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _is_current(connection: Connection) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    current = MigrationContext.configure(connection).get_current_heads()
    return set(current) == set(script.get_heads())


#: Alembic's own record of the applied revision (read without importing Alembic).
_VERSION_TABLE = Table("alembic_version", MetaData(), Column("version_num", String(32)))


def _recorded_revisions(connection: Connection) -> frozenset[str]:
    if not inspect(connection).has_table(_VERSION_TABLE.name):
        return frozenset()
    return frozenset(connection.scalars(select(_VERSION_TABLE.c.version_num)))


@cache
def migration_heads() -> frozenset[str]:
    """The head revisions of the migration scripts, read from their ``revision`` and
    ``down_revision`` assignments with :mod:`ast` (Alembic is not imported). An empty set when
    a script declares them some other way: the caller then asks Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted(MIGRATIONS_DIRECTORY.joinpath("versions").glob("*.py")):
        assigned = _assignments(script)
        if "revision" not in assigned:
            if script.name == "__init__.py":
                continue
            return frozenset()
        revision, down = assigned["revision"], assigned.get("down_revision")
        if not isinstance(revision, str) or not (down is None or isinstance(down, str | tuple)):
            return frozenset()
        revisions.add(revision)
        parents.update((down,) if isinstance(down, str) else (down or ()))
    return frozenset(revisions - parents)


def _assignments(script: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            try:
                found[target.id] = ast.literal_eval(node.value)  # type: ignore[union-attr,arg-type]
            except ValueError:
                return {}
    return found


def database_revision(engine: Engine) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return tuple(MigrationContext.configure(connection).get_current_heads())


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
