"""SQLAlchemy models of the user's decisions about pictures: "hide from results" and "not
duplicates". They are the user's data, not the index: they name pictures by what survives
re-indexing and rebuilds (a hidden picture by its file's exact path, a pair that is not a
duplicate by the two pictures' content hashes), carry no foreign key to ``images`` (a row that
indexing deletes and re-creates keeps its decision), and nothing but the user removes them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from pixsift.search.storage.models import Base


class HiddenImage(Base):
    """A picture the user hid from results, the timeline, folders and duplicates. ``path_bytes``
    is the file's exact name as ``images.path_bytes`` stores it (a video moment's carries its
    ``#t=`` offset): the same file indexed again is hidden again."""

    __tablename__ = "hidden_images"

    path_bytes: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    hidden_by: Mapped[str] = mapped_column(String(100))
    hidden_at: Mapped[datetime] = mapped_column(DateTime)


class NotDuplicates(Base):
    """Two pictures the user said are not duplicates, by content hash (``hash_a < hash_b``):
    any copy of one is never grouped with any copy of the other."""

    __tablename__ = "not_duplicates"
    __table_args__ = (CheckConstraint("hash_a < hash_b", name="ck_not_duplicates_ordered"),)

    hash_a: Mapped[str] = mapped_column(String(64), primary_key=True)
    hash_b: Mapped[str] = mapped_column(String(64), primary_key=True)
    decided_by: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(DateTime)
