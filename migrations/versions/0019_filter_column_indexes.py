"""filter column indexes: the path and the pixel size of each image

Revision ID: 0019
Revises: 0012
Create Date: 2026-12-06 03:10:00

A filter's first request reads the ids it keeps from the images table. Without an index of the
filtered column the database reads every row of the table (a million rows of paths, hashes and
dates: seconds on a busy machine); with one it reads the index alone, a few bytes per image,
and answers the id from it too. Path globs and folder prefixes read ``relative_path``; width,
height, megapixel and orientation filters read ``(width, height)``. Nothing is dropped or copied.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_images_relative_path", "images", ["relative_path"], if_not_exists=True)
    op.create_index("ix_images_width_height", "images", ["width", "height"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_images_width_height", table_name="images", if_exists=True)
    op.drop_index("ix_images_relative_path", table_name="images", if_exists=True)
