"""keyword search: an FTS5 index over file names, folders, descriptions and keywords

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 15:00:00

SQLite only: the full-text table is kept current by triggers, so every writer (indexer, tests,
future tools) updates it without knowing it exists. PostgreSQL gets its own full-text search
in migration 0007.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = (
    "CREATE VIRTUAL TABLE image_search_text USING fts5("
    "path_words, description, keywords, tokenize = 'unicode61 remove_diacritics 2')",
    "INSERT INTO image_search_text (rowid, path_words, description, keywords) "
    "SELECT id, relative_path, coalesce(description, ''), coalesce(keywords, '') FROM images",
    "CREATE TRIGGER images_search_text_insert AFTER INSERT ON images BEGIN "
    "INSERT INTO image_search_text (rowid, path_words, description, keywords) VALUES "
    "(new.id, new.relative_path, coalesce(new.description, ''), coalesce(new.keywords, '')); END",
    "CREATE TRIGGER images_search_text_delete AFTER DELETE ON images BEGIN "
    "DELETE FROM image_search_text WHERE rowid = old.id; END",
    "CREATE TRIGGER images_search_text_update AFTER UPDATE ON images BEGIN "
    "DELETE FROM image_search_text WHERE rowid = old.id; "
    "INSERT INTO image_search_text (rowid, path_words, description, keywords) VALUES "
    "(new.id, new.relative_path, coalesce(new.description, ''), coalesce(new.keywords, '')); END",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS images_search_text_{trigger}")
    op.execute("DROP TABLE IF EXISTS image_search_text")
