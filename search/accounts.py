"""Who may use a library's server: users with argon2id passwords, API keys, and their roles.

Library code (no Flask): the CLI's ``pixsift users``/``pixsift keys`` and the web app's login,
bearer keys and admin page all call :class:`Accounts`. Records never carry a hash or a secret;
a new key's token is handed out once, in :class:`NewApiKey`, and only its SHA-256 is kept (a
fast hash is enough for 256 random bits: nothing there to guess).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Annotated

from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import StringConstraints
from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from pixsift.search.account_records import (
    LOCAL_PRINCIPAL,
    ApiKeyRecord,
    NewApiKey,
    Principal,
    Role,
    UserRecord,
    utc_now,
)
from pixsift.search.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from pixsift.search.passwords import decoy_hash as _decoy_hash
from pixsift.search.passwords import password_hasher as _hasher
from pixsift.search.storage.accounts import ApiKey, LoginSession, User
from pixsift.search.storage.models import LibraryState
from pixsift.search.storage.store import LibraryStore
from pixsift.search.storage.writes import set_state

#: The records are declared in search.account_records; importable from here as before.
__all__ = [
    "LOCAL_PRINCIPAL", "ApiKeyRecord", "NewApiKey", "Principal", "Role", "UserRecord", "utc_now",
]  # fmt: skip

#: A user, by name or by id.
UserRef = str | int
ROLES: tuple[Role, ...] = ("viewer", "admin")
#: Every API key starts with this, so a leaked one is recognisable (secret scanners, logs).
KEY_PREFIX = "pxs_"
MIN_PASSWORD_LENGTH = 8
#: argon2 hashes anything, but a megabyte "password" is only a way to burn CPU.
MAX_PASSWORD_LENGTH = 1024
#: last_used_at is written at most this often per key: not one write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: How long a login lasts (the session cookie's lifetime too).
SESSION_LIFETIME = timedelta(hours=12)
#: Set in library_state once a user or key is made: from then on the server asks for callers
#: even when no usable account is left (the last key revoked or expired, the last user removed),
#: until ``pixsift users open-desktop``.
ACCOUNTS_REQUIRED_STATE = "accounts_required"

_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
UserName = Annotated[str, StringConstraints(pattern=f"^{_NAME_PATTERN.pattern}$")]
KeyName = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}, not {role[:20]!r}")
    return role  # type: ignore[return-value]


def check_name(name: str) -> str:
    if not _NAME_PATTERN.fullmatch(name):
        raise InvalidInputError(
            "a user name is 1-64 characters: letters, digits and . _ @ -, starting with a "
            "letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"a password is {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    return password


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user_record(row: User) -> UserRecord:
    return UserRecord(
        id=row.id,
        name=row.name,
        role=check_role(row.role),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def _usable_keys() -> Select[tuple[int]]:
    now = utc_now()
    return select(ApiKey.id).where(
        ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
    )


def _key_record(row: ApiKey) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        prefix=f"{KEY_PREFIX}{row.lookup}",
        role=check_role(row.role),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class Accounts:
    """Users and API keys of one library, through the library's store."""

    def __init__(self, store: LibraryStore) -> None:
        self._store = store

    def in_use(self) -> bool:
        """Whether the server asks who is calling: once the library has had a user or a key, for
        good (a server that falls open when its last key expires would hand everything to
        anyone), until :meth:`open_desktop`."""
        marked = select(LibraryState.key).where(
            LibraryState.key == ACCOUNTS_REQUIRED_STATE, LibraryState.value == "1"
        )
        with self._store.session() as session:
            return bool(
                session.scalar(
                    select(exists(marked) | exists(select(User.id)) | exists(_usable_keys()))
                )
            )

    def open_desktop(self) -> None:
        """Let the library's server answer without credentials again (the single-user desktop
        mode on loopback); refused while a user or a usable key exists."""
        with self._store.session() as session:
            names = list(session.scalars(select(User.name).order_by(User.name)))
            usable = select(ApiKey.name).where(ApiKey.id.in_(_usable_keys()))
            names += [f"key {name}" for name in session.scalars(usable)]
            if names:
                raise ConflictError(
                    f"accounts remain ({', '.join(names[:5])}): remove the users and revoke the "
                    "keys first"
                )
            set_state(session, ACCOUNTS_REQUIRED_STATE, "0")

    # Users ---------------------------------------------------------------------------------

    def add_user(self, name: str, password: str, role: str) -> UserRecord:
        check_name(name)
        row = User(
            name=name,
            password_hash=_hasher().hash(check_password(password)),
            role=check_role(role),
            session_stamp=secrets.token_hex(16),
            created_at=utc_now(),
        )
        with self._store.session() as session:
            if session.scalar(select(User.id).where(User.name == name)) is not None:
                raise ConflictError(f"a user named {name!r} exists already")
            session.add(row)
            session.flush()
            set_state(session, ACCOUNTS_REQUIRED_STATE, "1")
            return _user_record(row)

    def users(self) -> list[UserRecord]:
        with self._store.session() as session:
            return [_user_record(row) for row in session.scalars(select(User).order_by(User.name))]

    def user(self, name: UserRef) -> UserRecord:
        with self._store.session() as session:
            return _user_record(self._user_row(session, name))

    def set_role(self, name: UserRef, role: str, *, keep_an_admin: bool = True) -> UserRecord:
        """Change a user's role. The web keeps at least one admin user (``keep_an_admin``); the
        server's owner, on its command line, may take the last one away."""
        with self._store.session() as session:
            row = self._user_row(session, name)
            if check_role(role) != "admin" and keep_an_admin:
                self._keep_an_admin(session, row, "made a viewer")
            row.role = check_role(role)
            row.session_stamp = secrets.token_hex(16)  # sessions made under the old role end
            return _user_record(row)

    def set_password(self, name: UserRef, password: str) -> UserRecord:
        new_hash = _hasher().hash(check_password(password))
        with self._store.session() as session:
            row = self._user_row(session, name)
            row.password_hash = new_hash
            row.session_stamp = secrets.token_hex(16)  # every session of the user ends
            return _user_record(row)

    def remove_user(self, name: UserRef, *, keep_an_admin: bool = True) -> None:
        """Remove a user; as :meth:`set_role`, the web cannot remove the last admin user."""
        with self._store.session() as session:
            row = self._user_row(session, name)
            if keep_an_admin:
                self._keep_an_admin(session, row, "removed")
            session.delete(row)

    @staticmethod
    def _keep_an_admin(session: Session, row: User, change: str) -> None:
        """Refuse to take away the last admin user: nobody could manage accounts on the web
        after that (only ``pixsift users`` on the server could)."""
        if row.role != "admin":
            return
        others = select(User.id).where(User.role == "admin", User.id != row.id)
        if session.scalar(select(exists(others))):
            return
        raise ConflictError(
            f"{row.name} is the only admin and cannot be {change}: make another user an admin first"
        )

    def authenticate(self, name: str, password: str) -> UserRecord:
        """The user with this name and password; AuthenticationError (one message for a wrong
        name or a wrong password) otherwise."""
        refused = AuthenticationError("wrong user name or password")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise refused
        with self._store.session() as session:
            row = session.scalar(select(User).where(User.name == name))
            try:
                _hasher().verify(row.password_hash if row else _decoy_hash(), password)
            except (VerificationError, InvalidHashError):
                raise refused from None
            if row is None:
                raise refused
            if _hasher().check_needs_rehash(row.password_hash):
                row.password_hash = _hasher().hash(password)
            row.last_login_at = utc_now()
            return _user_record(row)

    def start_session(self, user_id: int) -> str:
        """A new login of the user, kept server-side; the answer is what the session cookie
        keeps: the user's id, their session stamp and the session's random token."""
        token = secrets.token_urlsafe(32)
        now = utc_now()
        with self._store.session() as session:
            row = session.get(User, user_id)
            if row is None:
                raise NotFoundError(f"no user with id {user_id}")
            session.execute(delete(LoginSession).where(LoginSession.expires_at <= now))
            session.add(
                LoginSession(
                    id=_token_hash(token),
                    user_id=row.id,
                    created_at=now,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
            return f"{row.id}:{row.session_stamp}:{token}"

    def session_user(self, session_id: str) -> UserRecord:
        """The user a session cookie names, if that session still holds: not logged out nor
        expired, and the user exists and has changed neither password nor role since."""
        user_id, stamp, token = [*session_id.split(":", 2), "", ""][:3]
        ended = AuthenticationError("the session has ended: log in again")
        with self._store.session() as session:
            row = session.get(User, int(user_id)) if user_id.isdigit() else None
            if row is None or not token or not hmac.compare_digest(row.session_stamp, stamp):
                raise ended
            login = session.get(LoginSession, _token_hash(token))
            if login is None or login.user_id != row.id or login.expires_at <= utc_now():
                raise ended
            return _user_record(row)

    def end_session(self, session_id: str) -> None:
        """Log out: the session's row goes, so its cookie, wherever a copy is, opens nothing."""
        token = session_id.split(":", 2)[-1]
        with self._store.session() as session:
            session.execute(delete(LoginSession).where(LoginSession.id == _token_hash(token)))

    @staticmethod
    def _user_row(session: Session, user: UserRef) -> User:
        if isinstance(user, int):
            row = session.get(User, user)
        else:
            row = session.scalar(select(User).where(User.name == user))
        if row is None:
            raise NotFoundError(
                f"no user {'with id ' if isinstance(user, int) else 'named '}{user!r}"
            )
        return row

    # API keys ------------------------------------------------------------------------------

    def create_key(self, name: str, role: str, expires_at: datetime | None = None) -> NewApiKey:
        """A new key; its token is in the answer and nowhere else."""
        name = name.strip()
        if not 1 <= len(name) <= 64:
            raise InvalidInputError("a key name is 1 to 64 characters")
        if expires_at is not None and expires_at <= utc_now():
            raise InvalidInputError("the expiry must be in the future")
        lookup = secrets.token_hex(6)
        token = f"{KEY_PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
        row = ApiKey(
            name=name,
            lookup=lookup,
            secret_hash=_token_hash(token),
            role=check_role(role),
            created_at=utc_now(),
            expires_at=expires_at,
        )
        with self._store.session() as session:
            session.add(row)
            session.flush()
            set_state(session, ACCOUNTS_REQUIRED_STATE, "1")
            return NewApiKey(key=_key_record(row), token=token)

    def api_keys(self) -> list[ApiKeyRecord]:
        with self._store.session() as session:
            return [_key_record(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke_key(self, key_id: int) -> ApiKeyRecord:
        with self._store.session() as session:
            row = session.get(ApiKey, key_id)
            if row is None:
                raise NotFoundError(f"no API key with id {key_id}")
            if row.revoked_at is None:
                row.revoked_at = utc_now()
            return _key_record(row)

    def verify_key(self, token: str) -> ApiKeyRecord:
        """The key ``token`` belongs to, if it is neither revoked nor expired."""
        prefix, _, rest = token.partition(KEY_PREFIX)
        lookup, _, secret = rest.partition("_")
        if prefix or not lookup or not secret or len(token) > 200:
            raise AuthenticationError(f"an API key starts with {KEY_PREFIX}; this is not one")
        refused = AuthenticationError("the API key is not valid (unknown, revoked or expired)")
        now = utc_now()
        with self._store.session() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.lookup == lookup))
            if row is None or not hmac.compare_digest(row.secret_hash, _token_hash(token)):
                raise refused
            if row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
                raise refused
            if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
                row.last_used_at = now
            return _key_record(row)
