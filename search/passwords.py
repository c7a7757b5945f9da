"""Password hashing, in one place for accounts and share links: argon2id, and a decoy hash to
verify against when a name is unknown (a wrong name then costs what a wrong password costs)."""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher


@lru_cache(maxsize=1)
def password_hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended parameters


@lru_cache(maxsize=1)
def decoy_hash() -> str:
    # Verified against when the name is unknown, so that a wrong name and a wrong password
    # take the same time and the answer does not tell which names exist.
    return password_hasher().hash(secrets.token_urlsafe(16))
