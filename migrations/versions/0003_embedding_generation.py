"""embedding generation: each vector records the index generation that wrote it

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00

Searches load the last published vector index and scan exactly the vectors it lacks: those
written after the generation it was published at. Rows that exist before this migration get the
library's current generation, so an index published at that generation covers them and an older
one is known to be behind (its readers scan every vector exactly until a writer publishes).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("embeddings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("generation", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index(
            "ix_embeddings_model_generation", ["model_id", "generation"], unique=False
        )
    state = sa.table("library_state", sa.column("key", sa.String), sa.column("value", sa.Text))
    embeddings = sa.table("embeddings", sa.column("generation", sa.Integer))
    current = (
        sa.select(sa.cast(state.c.value, sa.Integer))
        .where(state.c.key == "index_generation")
        .scalar_subquery()
    )
    op.execute(sa.update(embeddings).values(generation=sa.func.coalesce(current, 0)))


def downgrade() -> None:
    with op.batch_alter_table("embeddings", schema=None) as batch_op:
        batch_op.drop_index("ix_embeddings_model_generation")
        batch_op.drop_column("generation")
