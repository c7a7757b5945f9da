"""Share links: read-only access, without an account, to exactly one album (plain or smart) or one
picture.

Library code (no Flask). An admin or the album's owner makes a link (a single picture: an admin,
or the owner of an album that holds it); its token is handed out once, and only its SHA-256 is
kept (256 random bits: nothing to guess, and a fast hash is enough), compared in constant time.
An optional password is kept as an argon2id hash, like the accounts'. A link can expire and be
revoked; each opening is counted (``use_count``, ``last_used_at``). What a link gives is decided
here, by :meth:`ShareAccess.allows`: the pictures it names and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator
from sqlalchemy import select, update
from typing_extensions import Self

from pixsift.search.accounts import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    Principal,
    utc_now,
)
from pixsift.search.album_members import member_ids
from pixsift.search.albums import Albums, owner_of
from pixsift.search.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PixsiftError,
)
from pixsift.search.passwords import decoy_hash, password_hasher
from pixsift.search.query.context import SearchContext
from pixsift.search.query.request import Contract, ImageId
from pixsift.search.storage.albums import AlbumItem, ShareLink
from pixsift.search.storage.models import Image
from pixsift.search.storage.store import LibraryStore

#: Every share token starts with this, so a leaked one is recognisable.
SHARE_PREFIX = "pxs-share_"
MAX_TOKEN_LENGTH = 120
MAX_SHARE_DAYS = 3650


class ShareGoneError(PixsiftError):
    """A link that existed but was revoked or has expired."""

    code = "share_gone"
    http_status = 410


class PasswordRequiredError(AuthenticationError):
    """A password-protected link opened without its password, or with a wrong one."""

    code = "password_required"


class ShareRequest(Contract):
    """A new link: to an album or to one picture, with an optional expiry and password."""

    album_id: ImageId | None = Field(None, description="Share this album (plain or smart).")
    image_id: ImageId | None = Field(None, description="Share this one picture.")
    expires_in_days: Annotated[int, Field(ge=1, le=MAX_SHARE_DAYS)] | None = Field(
        None, description="The link stops working after this many days (default: never)."
    )
    password: (
        Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)] | None
    ) = Field(None, description="Ask for this password before showing anything.")
    allow_originals: bool = Field(
        False, description="Also serve the original files (default: thumbnails and previews)."
    )

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.album_id is None) == (self.image_id is None):
            raise InvalidInputError("a share link names exactly one of: album_id, image_id")
        return self


class ShareRecord(BaseModel):
    """A link as listed: its public prefix, never the token nor a hash."""

    model_config = ConfigDict(frozen=True)

    id: int
    prefix: str = Field(description="The token's first characters, to recognise it.")
    album_id: int | None
    image_id: int | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    has_password: bool
    allow_originals: bool
    use_count: int
    last_used_at: datetime | None
    revoked_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utc_now())


class NewShare(BaseModel):
    """A link just made: its record, and the token, shown this once."""

    share: ShareRecord
    token: str


@dataclass(frozen=True)
class ShareAccess:
    """An opened link: what it names, and the pictures it gives."""

    link: ShareRecord
    title: str
    image_ids: tuple[int, ...]

    def allows(self, image_id: int) -> bool:
        return image_id in self.image_ids


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _record(row: ShareLink) -> ShareRecord:
    return ShareRecord(
        id=row.id,
        prefix=SHARE_PREFIX + row.lookup,
        album_id=row.album_id,
        image_id=row.image_id,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        has_password=row.password_hash is not None,
        allow_originals=bool(row.allow_originals),
        use_count=int(row.use_count or 0),
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class Shares:
    """The share links of one library, as one caller manages them."""

    def __init__(self, store: LibraryStore, caller: Principal) -> None:
        self.store = store
        self.caller = caller

    def create(self, request: ShareRequest) -> NewShare:
        self._check_may_share(request)
        lookup = secrets.token_hex(8)
        token = f"{SHARE_PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
        now = utc_now()
        days = request.expires_in_days
        row = ShareLink(
            lookup=lookup,
            secret_hash=_token_hash(token),
            album_id=request.album_id,
            image_id=request.image_id,
            created_by=owner_of(self.caller),
            created_at=now,
            expires_at=None if days is None else now + timedelta(days=days),
            password_hash=(
                None if request.password is None else password_hasher().hash(request.password)
            ),
            allow_originals=request.allow_originals,
            use_count=0,
        )
        with self.store.session() as session:
            session.add(row)
            session.flush()
            return NewShare(share=_record(row), token=token)

    def _check_may_share(self, request: ShareRequest) -> None:
        albums = Albums(self.store, self.caller)
        if request.album_id is not None:
            albums.get(request.album_id)  # not the caller's (nor an admin): unknown
            return
        with self.store.session() as session:
            if session.get(Image, request.image_id) is None:
                raise NotFoundError(f"no image with id {request.image_id}")
            if self.caller.is_admin:
                return
            own = [album.id for album in albums.list()]
            held = session.scalar(
                select(AlbumItem.album_id).where(
                    AlbumItem.image_id == request.image_id,
                    AlbumItem.album_id.in_(own),
                    AlbumItem.state != "excluded",
                )
            )
        if held is None:
            raise NotFoundError(
                "a viewer shares a picture of one of their albums: add it to an album first"
            )

    def list(self) -> list[ShareRecord]:
        statement = select(ShareLink).order_by(ShareLink.id)
        if not self.caller.is_admin:
            statement = statement.where(ShareLink.created_by == owner_of(self.caller))
        with self.store.session() as session:
            return [_record(row) for row in session.scalars(statement)]

    def revoke(self, share_id: int) -> ShareRecord:
        with self.store.session() as session:
            row = session.get(ShareLink, share_id)
            mine = row is not None and row.created_by == owner_of(self.caller)
            if row is None or not (mine or self.caller.is_admin):
                raise NotFoundError(f"no share link with id {share_id}")
            if row.revoked_at is None:
                row.revoked_at = utc_now()
            return _record(row)


def open_share(
    library: SearchContext,
    token: str,
    password: str | None,
    *,
    unlocked: bool = False,
    count: bool = True,
    viewers_see_places: bool = False,
) -> ShareAccess:
    """What ``token`` gives, checked: a known token (constant-time), neither revoked nor
    expired, its password given (or the link ``unlocked`` before in this browser). ``count``:
    this is an opening (the listing), not one of its pictures. A smart album's members are
    what its search returns with its maker's rights (``viewers_see_places``: as
    search.album_members.member_ids)."""
    link = _verify(library.store, token, password, unlocked=unlocked, count=count)
    caller = Principal(kind="local", name="share", role="admin")  # reads what the link names
    if link.album_id is not None:
        albums = Albums(library.store, caller)
        album = albums.get(link.album_id)
        ids = tuple(member_ids(library, albums, album, viewers_see_places=viewers_see_places))
        return ShareAccess(link=link, title=album.name, image_ids=ids)
    assert link.image_id is not None
    return ShareAccess(link=link, title="A shared picture", image_ids=(link.image_id,))


def share_lookup(token: str) -> str:
    """The public part of a well-formed token (NotFoundError otherwise)."""
    prefix, _, rest = token.partition(SHARE_PREFIX)
    lookup, _, secret = rest.partition("_")
    if prefix or not lookup or not secret or len(token) > MAX_TOKEN_LENGTH:
        raise NotFoundError("no such share link")
    return lookup


def _verify(
    store: LibraryStore, token: str, password: str | None, *, unlocked: bool, count: bool = True
) -> ShareRecord:
    lookup = share_lookup(token)
    now = utc_now()
    with store.session() as session:
        row = session.scalar(select(ShareLink).where(ShareLink.lookup == lookup))
        if row is None or not hmac.compare_digest(row.secret_hash, _token_hash(token)):
            _hasher_decoy(password)
            raise NotFoundError("no such share link")
        if row.revoked_at is not None:
            raise ShareGoneError("this share link was revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise ShareGoneError("this share link has expired")
        if row.password_hash is not None and not unlocked:
            _check_password(row.password_hash, password)
        if not count:
            return _record(row)
        session.execute(
            update(ShareLink)
            .where(ShareLink.id == row.id)
            .values(use_count=ShareLink.use_count + 1, last_used_at=now)
        )
        session.refresh(row)
        return _record(row)


def check_share_password(store: LibraryStore, token: str, password: str) -> str:
    """The lookup of ``token`` once ``password`` is its password (to remember it unlocked)."""
    _verify(store, token, password, unlocked=False, count=False)
    return share_lookup(token)


def _check_password(password_hash: str, password: str | None) -> None:
    if not password:
        raise PasswordRequiredError("this share link needs its password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRequiredError("the password is not right")
    try:
        password_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        raise PasswordRequiredError("the password is not right") from None


def _hasher_decoy(password: str | None) -> None:
    # A wrong token with a password takes as long as a right token with a wrong password.
    if password and len(password) <= MAX_PASSWORD_LENGTH:
        with contextlib.suppress(VerificationError, InvalidHashError):
            password_hasher().verify(decoy_hash(), password)
