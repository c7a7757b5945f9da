"""Accounts as records: a user, an API key, a new key's one-time token, and who is making a
request. Never a hash or a secret (search.accounts keeps those in the database)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

Role = Literal["viewer", "admin"]


class UserRecord(BaseModel):
    """A user as listed: never the password hash."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    role: Role
    created_at: datetime
    last_login_at: datetime | None = None


class ApiKeyRecord(BaseModel):
    """An API key as listed: its public prefix, never the token nor its hash."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to recognise it.")
    role: Role
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utc_now())


class NewApiKey(BaseModel):
    """A key just made: the record, and the token, which is shown this once."""

    key: ApiKeyRecord
    token: str


class Principal(BaseModel):
    """Who is making a request: a logged-in user, an API key, or nobody in particular on a
    server without accounts (the single-user desktop mode, where everyone is admin)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["user", "key", "local"]
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


LOCAL_PRINCIPAL = Principal(kind="local", name="local", role="admin")


def utc_now() -> datetime:
    """Naive UTC, as the database stores times."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
