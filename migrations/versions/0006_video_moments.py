"""video moments: videos, and images rows that are moments of them

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-29 01:40:00

A video is indexed as moments: each moment is an ``images`` row (so search, filters, the one
writer and the vector ids work unchanged) with the video's id and its time offset. Existing rows
are photos: both new columns stay null for them. On SQLite the reference to ``videos`` is added
with ``ALTER TABLE ... ADD COLUMN ... REFERENCES``, which SQLite supports natively (a batch
copy of ``images`` would drop the keyword-search triggers of revision 0002); without ON DELETE,
which SQLAlchemy cannot read back from an inline reference: the store deletes a video's moments
itself, before the video.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("root_id", sa.Integer(), nullable=False),
        sa.Column("path_bytes", sa.LargeBinary(), nullable=False),
        sa.Column("relative_path", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("indexed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["root_id"], ["roots.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path_bytes"),
    )
    op.create_index(op.f("ix_videos_root_id"), "videos", ["root_id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE images ADD COLUMN video_id INTEGER REFERENCES videos (id)")
    else:
        op.add_column("images", sa.Column("video_id", sa.Integer(), nullable=True))
        op.create_foreign_key(None, "images", "videos", ["video_id"], ["id"])
    op.add_column("images", sa.Column("offset_s", sa.Float(), nullable=True))
    op.create_index(op.f("ix_images_video_id"), "images", ["video_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_images_video_id"), table_name="images")
    # Moments go with their videos; photos keep every column they had before.
    images = sa.table("images", sa.column("video_id", sa.Integer))
    op.execute(sa.delete(images).where(images.c.video_id.is_not(None)))
    op.drop_column("images", "offset_s")
    op.drop_column("images", "video_id")
    op.drop_index(op.f("ix_videos_root_id"), table_name="videos")
    op.drop_table("videos")
