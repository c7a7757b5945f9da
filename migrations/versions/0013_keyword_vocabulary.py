"""keyword vocabulary: the FTS5 index's term list as a table (SQLite)

Revision ID: 0013
Revises: 0007
Create Date: 2026-12-05 23:55:00

An fts5vocab table over image_search_text: one row per indexed term with the number of rows
that hold it, read from the index's own term list. The keyword half of a query looks its words
up here first, so a query none of whose words is indexed never ranks the full-text table, and
words found in most of the library can be left out of a hybrid ranking. Nothing is copied: the
table is a view of the index and stays current with it. PostgreSQL needs nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS image_search_text_vocab "
        "USING fts5vocab(image_search_text, row)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TABLE IF EXISTS image_search_text_vocab")
