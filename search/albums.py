"""Albums: named, ordered collections of pictures (and video moments) that a caller keeps.

Library code (no Flask): the CLI's ``pixsift albums``, the API under ``/api/albums`` and the page
all call :class:`Albums`. An album is private to its owner (an admin sees and manages every
album); an album the caller may not see is answered as unknown, so ids tell nothing. Items are
image ids: removing an item or deleting an album never touches a file. Every write to items bumps
the album generation, which keys the cached ``album`` filter selections
(search.query.filters).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Update, delete, func, select, update
from sqlalchemy.orm import Session

from pixsift.search.accounts import Principal
from pixsift.search.errors import InvalidInputError, NotFoundError
from pixsift.search.query.request import MAX_RESULTS, SavedSearch
from pixsift.search.storage.albums import Album, AlbumItem, ShareLink
from pixsift.search.storage.models import Image, LibraryState
from pixsift.search.storage.rows import chunks, utc_now
from pixsift.search.storage.store import LibraryStore

AlbumKind = Literal["album", "smart"]
ItemState = Literal["member", "pinned", "excluded"]
STATE_ALBUM_GENERATION = "album_generation"
#: Most pictures one request may add or remove (a page of "all results" is at most this).
MAX_ITEMS_PER_CHANGE = MAX_RESULTS


def _printable(text: str) -> str:
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise ValueError("must not hold control characters")
    return text


AlbumName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
    AfterValidator(_printable),
]


class AlbumRecord(BaseModel):
    """An album as listed."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    owner: str = Field(description="user:NAME, key:NAME or local (the desktop or the CLI).")
    kind: AlbumKind = Field(description="album: its items; smart: what its saved search returns.")
    search: SavedSearch | None = Field(None, description="A smart album's saved search.")
    item_count: int = Field(
        description="Items of a plain album; a smart album's pinned and excluded pictures."
    )
    created_at: datetime
    updated_at: datetime


def owner_of(caller: Principal) -> str:
    """The owner name an album created by ``caller`` carries."""
    return "local" if caller.kind == "local" else f"{caller.kind}:{caller.name}"


def album_generation(session: Session) -> int:
    value = session.scalar(
        select(LibraryState.value).where(LibraryState.key == STATE_ALBUM_GENERATION)
    )
    return int(value or 0)


def _bump_album_generation(session: Session) -> None:
    state = session.get(LibraryState, STATE_ALBUM_GENERATION)
    if state is None:
        session.add(LibraryState(key=STATE_ALBUM_GENERATION, value="1"))
    else:
        state.value = str(int(state.value) + 1)


class Albums:
    """Albums of one library, as one caller may use them."""

    def __init__(self, store: LibraryStore, caller: Principal) -> None:
        self.store = store
        self.caller = caller

    # Albums ------------------------------------------------------------------------------

    def create(self, name: str, search: SavedSearch | None = None) -> AlbumRecord:
        name = _check_name(name)
        now = utc_now()
        with self.store.session() as session:
            row = Album(
                name=name,
                owner=owner_of(self.caller),
                kind="album" if search is None else "smart",
                search=None if search is None else search.model_dump_json(exclude_defaults=True),
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return self._record(session, row)

    def list(self) -> list[AlbumRecord]:
        statement = select(Album).order_by(Album.name, Album.id)
        if not self.caller.is_admin:
            statement = statement.where(Album.owner == owner_of(self.caller))
        with self.store.session() as session:
            return [self._record(session, row) for row in session.scalars(statement)]

    def get(self, album_id: int) -> AlbumRecord:
        with self.store.session() as session:
            return self._record(session, self._row(session, album_id))

    def find(self, name_or_id: str) -> AlbumRecord:
        """By id (digits) or exact name among the caller's albums (one line if ambiguous)."""
        if name_or_id.isdigit():
            return self.get(int(name_or_id))
        found = [album for album in self.list() if album.name == name_or_id]
        if not found:
            raise NotFoundError(f"no album named {name_or_id[:60]!r}")
        if len(found) > 1:
            raise InvalidInputError(
                f"{len(found)} albums are named {name_or_id[:60]!r}: give its id"
            )
        return found[0]

    def rename(self, album_id: int, name: str) -> AlbumRecord:
        with self.store.session() as session:
            row = self._row(session, album_id)
            row.name = _check_name(name)
            row.updated_at = utc_now()
            return self._record(session, row)

    def delete(self, album_id: int) -> None:
        """Forget the album, its items and its share links; no file is touched."""
        with self.store.session() as session:
            row = self._row(session, album_id)
            # Explicit deletes: SQLite enforces ON DELETE CASCADE only with foreign keys on.
            session.execute(delete(AlbumItem).where(AlbumItem.album_id == row.id))
            session.execute(delete(ShareLink).where(ShareLink.album_id == row.id))
            session.delete(row)
            _bump_album_generation(session)

    # Items -------------------------------------------------------------------------------

    def add(self, album_id: int, image_ids: Sequence[int]) -> int:
        """Append pictures (a smart album pins them); those already there keep their place.
        Returns how many were new."""
        ids = _distinct(image_ids)
        with self.store.session() as session:
            row = self._row(session, album_id)
            _require_images(session, ids)
            state: ItemState = "member" if row.kind == "album" else "pinned"
            present = _states(session, row.id, ids)
            position = session.scalar(
                select(func.coalesce(func.max(AlbumItem.position), 0)).where(
                    AlbumItem.album_id == row.id
                )
            )
            added = 0
            now = utc_now()
            for image_id in ids:
                if present.get(image_id) == state:
                    continue
                if image_id in present:
                    session.execute(_item(row.id, image_id).values(state=state))
                else:
                    position += 1
                    session.add(
                        AlbumItem(
                            album_id=row.id,
                            image_id=image_id,
                            position=position,
                            state=state,
                            added_at=now,
                        )
                    )
                added += 1
            row.updated_at = now
            _bump_album_generation(session)
            return added

    def remove(self, album_id: int, image_ids: Sequence[int]) -> int:
        """Take pictures out (a smart album excludes them, so its search does not bring them
        back). Returns how many changed."""
        ids = _distinct(image_ids)
        with self.store.session() as session:
            row = self._row(session, album_id)
            if row.kind == "smart":
                changed = self._exclude(session, row.id, ids)
            else:
                result = session.execute(
                    delete(AlbumItem).where(
                        AlbumItem.album_id == row.id, AlbumItem.image_id.in_(ids)
                    )
                )
                changed = int(result.rowcount or 0)  # type: ignore[attr-defined]
            row.updated_at = utc_now()
            _bump_album_generation(session)
            return changed

    def _exclude(self, session: Session, album_id: int, ids: list[int]) -> int:
        _require_images(session, ids)
        present = _states(session, album_id, ids)
        position = len(present)
        for image_id in ids:
            if image_id in present:
                session.execute(_item(album_id, image_id).values(state="excluded"))
            else:
                position += 1
                session.add(
                    AlbumItem(
                        album_id=album_id,
                        image_id=image_id,
                        position=-position,
                        state="excluded",
                        added_at=utc_now(),
                    )
                )
        return len(ids)

    def reorder(self, album_id: int, image_ids: Sequence[int]) -> None:
        """Put ``image_ids`` first, in this order; the others follow in their order."""
        ids = _distinct(image_ids)
        with self.store.session() as session:
            row = self._row(session, album_id)
            order = list(
                session.scalars(
                    select(AlbumItem.image_id)
                    .where(AlbumItem.album_id == row.id)
                    .order_by(AlbumItem.position)
                )
            )
            missing = set(ids) - set(order)
            if missing:
                raise InvalidInputError(f"image {min(missing)} is not in album {row.id}")
            rest = [image_id for image_id in order if image_id not in set(ids)]
            for position, image_id in enumerate([*ids, *rest], 1):
                session.execute(_item(row.id, image_id).values(position=position))
            row.updated_at = utc_now()

    def items(self, album_id: int, state: ItemState = "member") -> list[int]:
        """The album's item ids in order (a smart album's pinned or excluded ones)."""
        with self.store.session() as session:
            row = self._row(session, album_id)
            return list(
                session.scalars(
                    select(AlbumItem.image_id)
                    .where(AlbumItem.album_id == row.id, AlbumItem.state == state)
                    .order_by(AlbumItem.position, AlbumItem.image_id)
                )
            )

    # Helpers -----------------------------------------------------------------------------

    def _row(self, session: Session, album_id: int) -> Album:
        row = session.get(Album, album_id)
        if row is None or not (self.caller.is_admin or row.owner == owner_of(self.caller)):
            raise NotFoundError(f"no album with id {album_id}")
        return row

    def _record(self, session: Session, row: Album) -> AlbumRecord:
        count = session.scalar(
            select(func.count()).select_from(AlbumItem).where(AlbumItem.album_id == row.id)
        )
        search = None if row.search is None else SavedSearch.parse_json(row.search)
        return AlbumRecord(
            id=row.id,
            name=row.name,
            owner=row.owner,
            kind=row.kind,  # type: ignore[arg-type]
            search=search,
            item_count=int(count or 0),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _check_name(name: str) -> str:
    text = " ".join(name.split())
    if not 1 <= len(text) <= 200 or any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in name):
        raise InvalidInputError("an album name is 1-200 printable characters")
    return text


def _distinct(image_ids: Sequence[int]) -> list[int]:
    ids = list(dict.fromkeys(int(image_id) for image_id in image_ids))
    if not ids:
        raise InvalidInputError("give at least one image id")
    if len(ids) > MAX_ITEMS_PER_CHANGE:
        raise InvalidInputError(f"give at most {MAX_ITEMS_PER_CHANGE} image ids at once")
    return ids


def _require_images(session: Session, ids: list[int]) -> None:
    known: set[int] = set()
    for chunk in chunks(ids):
        known |= set(session.scalars(select(Image.id).where(Image.id.in_(chunk))))
    missing = [image_id for image_id in ids if image_id not in known]
    if missing:
        raise NotFoundError(f"no image with id {missing[0]}")


def _states(session: Session, album_id: int, ids: list[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in chunks(ids):
        rows = session.execute(
            select(AlbumItem.image_id, AlbumItem.state).where(
                AlbumItem.album_id == album_id, AlbumItem.image_id.in_(chunk)
            )
        )
        found |= {int(image_id): str(state) for image_id, state in rows}
    return found


def _item(album_id: int, image_id: int) -> Update:
    return update(AlbumItem).where(AlbumItem.album_id == album_id, AlbumItem.image_id == image_id)
