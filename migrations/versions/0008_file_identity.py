"""file identity: the device and inode of each indexed file, and whether a root follows links

Revision ID: 0008
Revises: 0004
Create Date: 2026-11-29 01:30:00

Serving an original or making a thumbnail checks that the file it opens is the very file that was
indexed (same device and inode), so a file swapped for a link to a private file is refused. Rows
indexed before this migration have no identity (NULL): they are checked by size, modification
time and staying inside their root until the next indexing run records it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): the images table carries the keyword-search triggers.
    op.add_column("images", sa.Column("device", sa.BigInteger(), nullable=True))
    op.add_column("images", sa.Column("inode", sa.BigInteger(), nullable=True))
    # Whether the folder was indexed following links out of it (pixsift index --follow-symlinks).
    op.add_column(
        "roots",
        sa.Column("follow_symlinks", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place, keeping the table's triggers.
    op.drop_column("roots", "follow_symlinks")
    op.drop_column("images", "inode")
    op.drop_column("images", "device")
