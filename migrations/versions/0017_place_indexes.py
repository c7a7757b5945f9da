"""place indexes: the place filter reads an index, not every image

Revision ID: 0017
Revises: 0012
Create Date: 2026-12-06 03:10:00

Add-only: one index per place column (``place_city``, ``place_region``, ``place_country``) on
its lower-case form, the expression the ``place`` filter compares (any case). Without them a
place filter on a large library reads every row of ``images``; with them SQLite answers the
filter's OR of three equalities by a multi-index OR and PostgreSQL by a BitmapOr of three index
scans (tests/test_place_index.py checks both plans). Nothing is rewritten: existing rows are
indexed as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("place_city", "place_region", "place_country")


def upgrade() -> None:
    for name in COLUMNS:
        op.create_index(f"ix_images_{name}_lower", "images", [sa.func.lower(sa.column(name))])


def downgrade() -> None:
    for name in COLUMNS:
        op.drop_index(f"ix_images_{name}_lower", table_name="images")
