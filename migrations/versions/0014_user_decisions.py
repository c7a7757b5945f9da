"""user decisions (hidden pictures, pairs that are not duplicates) and browsing indexes

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-06 03:00:00

Add-only. Two tables of the user's decisions, keyed by what survives re-indexing (a file's exact
path, a pair of content hashes) and with no foreign key to ``images``, so that indexing never
removes them: ``hidden_images`` and ``not_duplicates``.

Three indexes for browsing a large library without reading every row (search.browse,
search.folders): the timeline walks pictures newest first by date taken
(``ix_images_timeline_taken``: taken_at, id) and, for pictures without one, by file time
(``ix_images_timeline_file``: mtime_ns, id, partial on taken_at IS NULL on PostgreSQL;
taken_at, mtime_ns, id on SQLite); a folder is a range of
relative paths of one root (``ix_images_folder``: root_id, relative_path, compared byte-wise:
COLLATE "C" on PostgreSQL, SQLite's default elsewhere).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hidden_images",
        sa.Column("path_bytes", sa.LargeBinary(), nullable=False),
        sa.Column("hidden_by", sa.String(length=100), nullable=False),
        sa.Column("hidden_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("path_bytes"),
    )
    op.create_table(
        "not_duplicates",
        sa.Column("hash_a", sa.String(length=64), nullable=False),
        sa.Column("hash_b", sa.String(length=64), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("hash_a < hash_b", name="ck_not_duplicates_ordered"),
        sa.PrimaryKeyConstraint("hash_a", "hash_b"),
    )
    op.create_index("ix_images_timeline_taken", "images", ["taken_at", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_images_timeline_file",
            "images",
            ["mtime_ns", "id"],
            postgresql_where=sa.text("taken_at IS NULL"),
        )
    else:
        # SQLite plans without statistics: "taken_at IS NULL" looks like an equality to it, so
        # it takes an index that starts with taken_at whatever else there is; this one then
        # also gives the order (no sort of every undated row).
        op.create_index("ix_images_timeline_file", "images", ["taken_at", "mtime_ns", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute('CREATE INDEX ix_images_folder ON images (root_id, relative_path COLLATE "C")')
    else:
        op.create_index("ix_images_folder", "images", ["root_id", "relative_path"])


def downgrade() -> None:
    for name in ("ix_images_folder", "ix_images_timeline_file", "ix_images_timeline_taken"):
        op.drop_index(name, table_name="images")
    op.drop_table("not_duplicates")
    op.drop_table("hidden_images")
