"""tags and text in images: automatic and manual tags, OCR text, both in the keyword index

Revision ID: 0005
Revises: 0008
Create Date: 2026-11-29 01:30:00

Adds ``image_tags`` (automatic, manual and user-removed tags, told apart by ``source``) and
``image_text`` (recognised text, or why recognition failed). On SQLite the full-text table of
migration 0002 is made again with two more columns, ``tags`` and ``text_in_image``, so that the
keyword half of hybrid search finds both; the triggers on ``images`` fill them from the new
tables, and the code that writes tags or text refreshes the rows it changed
(search.storage.search_text). Nothing stored is dropped: the full-text table holds only copies.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TAGS = (
    "coalesce((SELECT group_concat(tag, ' ') FROM image_tags "
    "WHERE image_tags.image_id = {row}.id AND image_tags.source != 'removed'), '')"
)
_TEXT = "coalesce((SELECT text FROM image_text WHERE image_text.image_id = {row}.id), '')"
_COLUMNS = "rowid, path_words, description, keywords, tags, text_in_image"


def _values(row: str) -> str:
    return (
        f"{row}.id, {row}.relative_path, coalesce({row}.description, ''), "
        f"coalesce({row}.keywords, ''), {_TAGS.format(row=row)}, {_TEXT.format(row=row)}"
    )


STATEMENTS = (
    "DROP TRIGGER IF EXISTS images_search_text_insert",
    "DROP TRIGGER IF EXISTS images_search_text_delete",
    "DROP TRIGGER IF EXISTS images_search_text_update",
    "DROP TABLE IF EXISTS image_search_text",
    "CREATE VIRTUAL TABLE image_search_text USING fts5(path_words, description, keywords, "
    "tags, text_in_image, tokenize = 'unicode61 remove_diacritics 2')",
    f"INSERT INTO image_search_text ({_COLUMNS}) SELECT {_values('images')} FROM images",
    "CREATE TRIGGER images_search_text_insert AFTER INSERT ON images BEGIN "
    f"INSERT INTO image_search_text ({_COLUMNS}) SELECT {_values('new')}; END",
    "CREATE TRIGGER images_search_text_delete AFTER DELETE ON images BEGIN "
    "DELETE FROM image_search_text WHERE rowid = old.id; END",
    "CREATE TRIGGER images_search_text_update AFTER UPDATE ON images BEGIN "
    "DELETE FROM image_search_text WHERE rowid = old.id; "
    f"INSERT INTO image_search_text ({_COLUMNS}) SELECT {_values('new')}; END",
)


def upgrade() -> None:
    op.create_table(
        "image_tags",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_id", "tag"),
    )
    op.create_index("ix_image_tags_tag", "image_tags", ["tag", "source"], unique=False)
    op.create_table(
        "image_text",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("recognised_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_id"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in STATEMENTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Back to migration 0002's full-text table (its module name is no identifier).
        keyword_search = importlib.import_module("migrations.versions.0002_keyword_search")
        for statement in (*STATEMENTS[:4], *keyword_search.STATEMENTS):
            op.execute(statement)
    op.drop_index("ix_image_tags_tag", table_name="image_tags")
    op.drop_table("image_text")
    op.drop_table("image_tags")
