"""Alembic environment: runs against the connection pixsift hands over, or a URL for the CLI."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from pixsift.search.storage.database import include_in_schema_comparison
from pixsift.search.storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as new_connection:
        _run_with(new_connection)


def _run_with(connection) -> None:
    # render_as_batch lets SQLite alter tables by copy-and-move, the only way it can.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_object=include_in_schema_comparison,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("pixsift migrations run online only")
run_migrations_online()
