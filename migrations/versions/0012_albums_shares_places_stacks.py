"""albums, smart albums, share links, places and stacks

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-05 23:55:00

Add-only: three new tables (``albums``, ``album_items``, ``share_links``) and four nullable
columns on ``images`` (``place_city``, ``place_region``, ``place_country``: the GPS position's
place, resolved offline at index time; ``stack_id``: the id of the best copy of the burst or
RAW+JPEG pair the image belongs to). Existing rows keep every value; their places and stacks
are filled by the next indexing run. Plain ADD COLUMN (no batch copy): the images table carries
the keyword-search triggers.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "albums",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("search", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_albums_owner", "albums", ["owner"])
    op.create_table(
        "album_items",
        sa.Column("album_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["album_id"], ["albums.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("album_id", "image_id"),
    )
    op.create_index("ix_album_items_image_id", "album_items", ["image_id"])
    op.create_index("ix_album_items_order", "album_items", ["album_id", "position"])
    op.create_table(
        "share_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lookup", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("album_id", sa.Integer(), nullable=True),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("allow_originals", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("use_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["album_id"], ["albums.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lookup"),
    )
    op.add_column("images", sa.Column("place_city", sa.Text(), nullable=True))
    op.add_column("images", sa.Column("place_region", sa.Text(), nullable=True))
    op.add_column("images", sa.Column("place_country", sa.Text(), nullable=True))
    op.add_column("images", sa.Column("stack_id", sa.Integer(), nullable=True))
    op.create_index("ix_images_stack_id", "images", ["stack_id"])


def downgrade() -> None:
    op.drop_index("ix_images_stack_id", table_name="images")
    for name in ("stack_id", "place_country", "place_region", "place_city"):
        op.drop_column("images", name)
    op.drop_table("share_links")
    op.drop_index("ix_album_items_order", table_name="album_items")
    op.drop_index("ix_album_items_image_id", table_name="album_items")
    op.drop_table("album_items")
    op.drop_index("ix_albums_owner", table_name="albums")
    op.drop_table("albums")
