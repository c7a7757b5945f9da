"""keyword search on PostgreSQL: a generated tsvector column with a GIN index

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-29 01:45:00

PostgreSQL only (SQLite has its FTS5 table, migration 0002). The document is a STORED generated
column, so PostgreSQL keeps it current on every INSERT and UPDATE by any writer, as 0002's
triggers do for FTS5; the GIN index answers ``@@`` matches without scanning the table. Words are
split the way FTS5's unicode61 tokenizer splits them (punctuation and spaces separate words, so
``IMG_2024-beach.jpg`` holds ``img``, ``2024``, ``beach``, ``jpg``), and the ``simple``
configuration lower-cases without stemming or stop words, like FTS5. Existing rows are filled by
the ALTER TABLE itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMN = "search_text"
INDEX = "ix_images_search_text"


def search_document() -> sa.ColumnElement:
    """The text search document of an ``images`` row (frozen here: the migration's own copy)."""
    images = sa.table(
        "images", sa.column("relative_path"), sa.column("description"), sa.column("keywords")
    )
    text = (
        images.c.relative_path
        + " "
        + sa.func.coalesce(images.c.description, "")
        + " "
        + sa.func.coalesce(images.c.keywords, "")
    )
    words = sa.func.regexp_replace(text, "[[:punct:][:space:]]+", " ", "g")
    # A literal cast is folded to a constant, which a generated column requires (immutable).
    return sa.func.to_tsvector(sa.cast(sa.literal("simple"), postgresql.REGCONFIG), words)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.add_column(
        "images",
        sa.Column(COLUMN, postgresql.TSVECTOR(), sa.Computed(search_document(), persisted=True)),
    )
    op.create_index(INDEX, "images", [COLUMN], postgresql_using="gin")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="images")
    op.drop_column("images", COLUMN)
