"""login sessions: server-side sessions that logging out ends; libraries that had accounts stay
locked

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06 00:20:00

Add-only: one new table, and one row in library_state. A session cookie used to be a signed user
id and stamp, valid until it expired even after logging out; now it names a row of
``login_sessions``, which logging out deletes. A library that has users or keys (revoked or
expired ones included) is marked ``accounts_required``: its server keeps asking for callers when
the last account goes, rather than falling open (``pixsift users open-desktop`` goes back).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_sessions_user_id", "login_sessions", ["user_id"])
    users = sa.table("users", sa.column("id"))
    keys = sa.table("api_keys", sa.column("id"))
    state = sa.table("library_state", sa.column("key"), sa.column("value"))
    had_accounts = sa.select(sa.literal("accounts_required"), sa.literal("1")).where(
        sa.or_(sa.exists(sa.select(users.c.id)), sa.exists(sa.select(keys.c.id)))
    )
    op.execute(state.insert().from_select(["key", "value"], had_accounts))


def downgrade() -> None:
    op.drop_index("ix_login_sessions_user_id", table_name="login_sessions")
    op.drop_table("login_sessions")
