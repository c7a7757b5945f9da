"""SQLAlchemy models of what users keep: albums (plain and smart), their items, and share links.

An album's items name images by id only: deleting an album deletes these rows and never a file.
A share link stores no secret, only the SHA-256 of its token (and an argon2 hash of its optional
password), like the API keys.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from pixsift.search.storage.models import Base


class Album(Base):
    """A named collection owned by one caller (``owner``: ``user:NAME``, ``key:NAME`` or
    ``local``). ``kind`` is "album" (its members are its items) or "smart" (its members are
    what the saved ``search``, a JSON request, returns now, plus pinned items, minus excluded
    ones)."""

    __tablename__ = "albums"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    search: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class AlbumItem(Base):
    """One picture of an album, at a position. ``state``: "member" (a plain album's item),
    "pinned" or "excluded" (a smart album's exceptions)."""

    __tablename__ = "album_items"
    __table_args__ = (Index("ix_album_items_order", "album_id", "position"),)

    album_id: Mapped[int] = mapped_column(
        ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(DateTime)


class ShareLink(Base):
    """A read-only link to an album (plain or smart) or one picture, for people without an
    account. ``lookup`` is the token's public part; ``secret_hash`` the SHA-256 of the token."""

    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    album_id: Mapped[int | None] = mapped_column(
        ForeignKey("albums.id", ondelete="CASCADE"), nullable=True
    )
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), nullable=True
    )
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    allow_originals: Mapped[bool] = mapped_column(Boolean, server_default=false())
    use_count: Mapped[int] = mapped_column(Integer, server_default="0")
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
