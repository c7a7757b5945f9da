"""The user's decisions about pictures, kept in the library database: "hide from results" (a
picture leaves search results, the timeline, folders and duplicates; listed with
:meth:`Decisions.hidden` and brought back with :meth:`Decisions.unhide`) and "not duplicates"
(two pictures are never grouped as near-duplicates again).

Both are user data, not the index (search.storage.decisions): nothing that indexing or a rebuild
does removes them. Making, undoing and listing them needs a caller allowed to edit the library
(an admin, or the local user of a server without accounts), as editing tags does: a viewer never
learns which pictures were hidden (they simply are not in what the viewer sees).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Engine, Table, delete, exists, func, select, tuple_
from sqlalchemy.orm import Session

from pixsift.search.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from pixsift.search.query.request import Contract, ImageId
from pixsift.search.records import ImageIdArray, ImageRecord
from pixsift.search.storage.decisions import HiddenImage, NotDuplicates
from pixsift.search.storage.models import Image
from pixsift.search.storage.rows import utc_now
from pixsift.search.storage.store import LibraryStore
from pixsift.search.storage.writes import upsert

if TYPE_CHECKING:  # the accounts' records: a search (which reads decisions) needs none of them
    from pixsift.search.account_records import Principal

#: A group marked "not duplicates" at once: the duplicate finder never makes larger groups.
MAX_GROUP = 50


class NotDuplicatesRequest(Contract):
    """Pictures that are not duplicates of each other (every pair among them)."""

    image_ids: tuple[ImageId, ...] = Field(
        min_length=2,
        max_length=MAX_GROUP,
        description="Two or more image ids: no two of them will be grouped as duplicates.",
    )


class HiddenChange(BaseModel):
    """A picture's "hidden from results" state after a change."""

    image_id: int
    hidden: bool = Field(description="Whether the picture is now hidden from results.")


class NotDuplicatesChange(BaseModel):
    """What a "not duplicates" decision changed."""

    pairs: int = Field(description="Pairs of pictures marked (or unmarked) as not duplicates.")


def not_hidden() -> ColumnElement[bool]:
    """SQL: the ``images`` row is not hidden (an indexed anti-join on the file's path)."""
    return ~hidden_path(Image.path_bytes)


def hidden_path(path_bytes: ColumnElement[bytes]) -> ColumnElement[bool]:
    """SQL: the file at ``path_bytes`` (a column of ``images`` or of an alias of it) is hidden."""
    return exists().where(HiddenImage.path_bytes == path_bytes)


def hidden_image_ids(engine: Engine) -> ImageIdArray:
    """Ids of the indexed images the user hid, ascending (usually none, always few).

    Read on every search, so driven from the few hidden paths: sorted here, not by the
    database (an ORDER BY on the images' id made SQLite scan every image instead, 67 ms at 1M)."""
    statement = (
        select(Image.id)
        .select_from(HiddenImage)
        .join(Image, Image.path_bytes == HiddenImage.path_bytes)
    )
    with engine.connect() as connection:
        return np.sort(np.fromiter(connection.scalars(statement), dtype=np.int64))


def without_ids(ranking: list[tuple[int, float]], ids: ImageIdArray) -> list[tuple[int, float]]:
    """``ranking`` without the images ``ids`` names."""
    dropped = set(ids.tolist())
    return [item for item in ranking if item[0] not in dropped]


def apart_pairs(engine: Engine) -> frozenset[tuple[int, int]]:
    """Pairs of image ids (lower first) the user said are not duplicates."""
    with engine.connect() as connection:
        pairs = connection.execute(select(NotDuplicates.hash_a, NotDuplicates.hash_b)).all()
        if not pairs:
            return frozenset()
        hashes = sorted({h for pair in pairs for h in pair})
        ids: dict[str, list[int]] = {}
        for image_id, content_hash in connection.execute(
            select(Image.id, Image.content_hash).where(Image.content_hash.in_(hashes))
        ):
            ids.setdefault(content_hash, []).append(int(image_id))
    found = set()
    for hash_a, hash_b in pairs:
        for a, b in itertools.product(ids.get(hash_a, []), ids.get(hash_b, [])):
            found.add((min(a, b), max(a, b)))
    return frozenset(found)


class KeptApart(BaseModel):
    """One "not duplicates" decision, as made: the pictures said apart (those still indexed,
    one per content hash), by whom and when."""

    image_ids: list[int] = Field(description="The pictures said apart; undo with all of them.")
    decided_by: str
    decided_at: datetime


#: "Not duplicates" decisions listed at once, newest first (each is one group of pictures).
MAX_KEPT_APART = 100


class Decisions:
    """The decisions of one library, as one caller may make them."""

    def __init__(self, store: LibraryStore, caller: Principal) -> None:
        self.store = store
        self.caller = caller

    def hide(self, image_id: int) -> HiddenChange:
        self._require_editor("hiding pictures")
        path = self._image(image_id).path_bytes
        with self.store.session() as session:
            row = {"path_bytes": path, "hidden_by": self._who(), "hidden_at": utc_now()}
            session.execute(_insert_new(session, HiddenImage.__table__).values(row))
        return HiddenChange(image_id=image_id, hidden=True)

    def unhide(self, image_id: int) -> HiddenChange:
        self._require_editor("showing hidden pictures again")
        path = self._image(image_id).path_bytes
        with self.store.session() as session:
            session.execute(delete(HiddenImage).where(HiddenImage.path_bytes == path))
        return HiddenChange(image_id=image_id, hidden=False)

    def is_hidden(self, image_id: int) -> bool:
        with self.store.session() as session:
            return bool(session.scalar(select(exists().where(Image.id == image_id, ~not_hidden()))))

    def hidden(self, k: int, after: int | None = None) -> tuple[list[ImageRecord], int | None]:
        """A page of the hidden pictures (by id, after ``after``), and where the next begins."""
        self._require_editor("listing hidden pictures")
        statement = (
            select(Image.id)
            .where(~not_hidden(), Image.id > (after or 0))
            .order_by(Image.id)
            .limit(k + 1)
        )
        with self.store.session() as session:
            ids = [int(i) for i in session.scalars(statement)]
        records = self.store.images_by_ids(ids[:k])
        shown = [records[i] for i in ids[:k] if i in records]
        return shown, (ids[k - 1] if len(ids) > k else None)

    def mark_not_duplicates(self, request: NotDuplicatesRequest) -> NotDuplicatesChange:
        self._require_editor("deciding duplicates")
        pairs = self._hash_pairs(request.image_ids)
        now, who = utc_now(), self._who()
        rows = [{"hash_a": a, "hash_b": b, "decided_by": who, "decided_at": now} for a, b in pairs]
        with self.store.session() as session:
            session.execute(_insert_new(session, NotDuplicates.__table__).values(rows))
        return NotDuplicatesChange(pairs=len(pairs))

    def unmark_not_duplicates(self, request: NotDuplicatesRequest) -> NotDuplicatesChange:
        self._require_editor("deciding duplicates")
        pairs = self._hash_pairs(request.image_ids)
        if not pairs:
            return NotDuplicatesChange(pairs=0)
        with self.store.session() as session:
            session.execute(
                delete(NotDuplicates).where(
                    tuple_(NotDuplicates.hash_a, NotDuplicates.hash_b).in_(sorted(pairs))
                )
            )
        return NotDuplicatesChange(pairs=len(pairs))

    def kept_apart(self, limit: int = MAX_KEPT_APART) -> list[KeptApart]:
        """The newest ``limit`` "not duplicates" decisions, each as the group it was made for
        (its pairs share the moment and the maker); decisions whose pictures are no longer
        indexed (fewer than two left) are left out."""
        self._require_editor("listing pictures kept apart")
        made = (
            select(NotDuplicates.decided_at, NotDuplicates.decided_by)
            .distinct()
            .order_by(NotDuplicates.decided_at.desc(), NotDuplicates.decided_by)
            .limit(limit)
        )
        with self.store.session() as session:
            decided = [tuple(row) for row in session.execute(made)]
            if not decided:
                return []
            when = tuple_(NotDuplicates.decided_at, NotDuplicates.decided_by).in_(decided)
            pairs = session.execute(
                select(NotDuplicates.hash_a, NotDuplicates.hash_b, *made.selected_columns)
                .where(when)
            ).all()  # fmt: skip
            hashes = sorted({h for pair in pairs for h in pair[:2]})
            first = (
                select(Image.content_hash, func.min(Image.id))
                .where(Image.content_hash.in_(hashes))
                .group_by(Image.content_hash)
            )
            image_of = {str(h): int(i) for h, i in session.execute(first)}
        groups: dict[tuple[datetime, str], set[int]] = {key: set() for key in decided}
        for hash_a, hash_b, decided_at, decided_by in pairs:
            found = {image_of[h] for h in (hash_a, hash_b) if h in image_of}
            groups[(decided_at, decided_by)].update(found)
        return [
            KeptApart(image_ids=sorted(ids), decided_by=by, decided_at=at)
            for (at, by), ids in groups.items()
            if len(ids) >= 2
        ]

    def _hash_pairs(self, image_ids: Sequence[int]) -> set[tuple[str, str]]:
        records = self.store.images_by_ids(image_ids)
        missing = sorted(set(image_ids) - set(records))
        if missing:
            raise NotFoundError(f"no indexed image has id {missing[0]}")
        hashes = sorted({records[i].content_hash for i in image_ids})
        if len(hashes) < 2:
            raise InvalidInputError(
                "these pictures are exact copies (the same file contents): they are duplicates"
            )
        return {(a, b) for a, b in itertools.combinations(hashes, 2)}

    def _image(self, image_id: int) -> Image:
        with self.store.session() as session:
            row = session.get(Image, image_id)
            if row is None:
                raise NotFoundError(f"no indexed image has id {image_id}")
            session.expunge(row)
            return row

    def _who(self) -> str:
        return "local" if self.caller.kind == "local" else f"{self.caller.kind}:{self.caller.name}"

    def _require_editor(self, action: str) -> None:
        if not self.caller.is_admin:
            raise PermissionDeniedError(f"{self.caller.name} is a viewer: {action} needs an admin")


def _insert_new(session: Session, table: Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: a decision made twice (or by two people at once)
    stays one row. (search.storage.writes.upsert imports the dialect on use: a search on a
    SQLite library never loads PostgreSQL's.)"""
    return upsert(session, table).on_conflict_do_nothing()


__all__ = [
    "Decisions",
    "HiddenChange",
    "KeptApart",
    "NotDuplicatesChange",
    "NotDuplicatesRequest",
    "apart_pairs",
    "hidden_image_ids",
    "hidden_path",
    "not_hidden",
    "without_ids",
]
