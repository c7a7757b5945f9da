"""Requests that manage accounts, declared once: the admin API parses them, the OpenAPI
document shows them, and the CLI validates its options with them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from pixsift.search.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Role, UserName
from pixsift.search.query.request import Contract

Password = Annotated[
    str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
]
#: Longest lifetime a key may be given, in days (ten years).
MAX_KEY_DAYS = 3650


class NewUser(Contract):
    """A user to add."""

    name: UserName = Field(description="Letters, digits and . _ @ -; 1 to 64 characters.")
    password: Password = Field(description=f"At least {MIN_PASSWORD_LENGTH} characters.")
    role: Role = Field("viewer", description="viewer: search, view, export; admin: everything.")


class UserChange(Contract):
    """What to change of a user (either or both)."""

    role: Role | None = None
    password: Password | None = None


class NewKey(Contract):
    """An API key to create; its token is answered once."""

    name: str = Field(min_length=1, max_length=64, description="What the key is for.")
    role: Role = "viewer"
    expires_in_days: int | None = Field(
        None,
        ge=1,
        le=MAX_KEY_DAYS,
        description="Days until the key stops working (default: never).",
    )
