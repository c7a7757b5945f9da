"""image placeholders: a BlurHash per picture, made at index time

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-06 03:20:00

Add-only: one nullable column on ``images``, ``placeholder`` (the picture's BlurHash, about 30
characters; its first colour is the picture's mean colour), which a page paints before the
thumbnail arrives. Existing rows keep every value and get NULL: an image indexed before this
revision gets its placeholder when an indexing run reads its file again (a changed or moved
file), and the page paints nothing special for it meanwhile. Plain ADD COLUMN (no batch copy):
the images table carries the keyword-search triggers.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("images", sa.Column("placeholder", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("images", "placeholder")
