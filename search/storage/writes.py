"""What one indexing batch writes, and the statements that write it inside one transaction.

Several indexing processes may write one (PostgreSQL) database at once, so every write is safe
against a concurrent one: rows keyed by a unique path or key are upserted (INSERT ... ON CONFLICT,
in SQLite's and PostgreSQL's shared syntax), and a transaction that stamps embeddings with the
next index generation first locks the generation row (SELECT ... FOR UPDATE), so two writers
never stamp rows with the same generation and a published index never misses a later commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from pixsift.search.filenames import display_path, valid_text
from pixsift.search.records import ImageFacts
from pixsift.search.storage.models import (
    NEXT_INDEX_GENERATION,
    Embedding,
    Failure,
    Image,
    ImageTag,
    ImageText,
    LibraryState,
)
from pixsift.search.storage.rows import chunks, encode_embedding, facts_columns, utc_now
from pixsift.search.storage.search_text import refresh_search_text

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

STATE_MODEL_ID = "model_id"
STATE_INDEX_GENERATION = "index_generation"
STATE_LAST_INDEXED_AT = "last_indexed_at"


@dataclass(frozen=True)
class NewImage:
    """An image to insert (or to update in place when ``replaces_image_id`` is set): where the
    file was found, what it says about itself, and its embedding."""

    root_id: int
    path_bytes: bytes
    relative_path: str
    size_bytes: int
    mtime_ns: int
    content_hash: str
    facts: ImageFacts
    embedding: np.ndarray
    replaces_image_id: int | None = None
    #: (st_dev, st_ino) of the file read; None where the writer does not know it.
    identity: tuple[int, int] | None = None
    #: What OCR found (text, failure reason), when it ran; an updated file's old text goes.
    text: tuple[str, str | None] | None = None
    #: The picture's BlurHash (search.media.thumbnails), when the decoder made one.
    placeholder: str | None = None


@dataclass(frozen=True)
class MovedImage:
    """A file recognised by its content at a new path: keep the row and embedding."""

    image_id: int
    root_id: int
    path_bytes: bytes
    relative_path: str
    size_bytes: int
    mtime_ns: int
    identity: tuple[int, int] | None = None
    #: The picture's BlurHash, decoded again at its new path: fills a row that had none.
    placeholder: str | None = None


@dataclass(frozen=True)
class SkippedFile:
    root_id: int
    path_bytes: bytes
    reason: str
    size_bytes: int
    mtime_ns: int


@dataclass
class IndexingBatch:
    """Everything one indexer batch writes, committed in one transaction."""

    new_images: list[NewImage]
    moved_images: list[MovedImage]
    skipped_files: list[SkippedFile]

    def is_empty(self) -> bool:
        return not (self.new_images or self.moved_images or self.skipped_files)


def upsert(session: Session, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT with ON CONFLICT clauses, for the session's database (both dialects share the
    ``on_conflict_do_nothing`` / ``on_conflict_do_update`` construct)."""
    # Imported on use: the PostgreSQL dialect's module is a fifth of a second that a search
    # (which never writes) or a SQLite library does not need.
    name = "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
    return import_module(f"sqlalchemy.dialects.{name}").insert(table)


def write_batch(session: Session, batch: IndexingBatch, model_id: str) -> None:
    if batch.new_images or batch.moved_images:
        lock_generation(session)
    with_text = [write_new_image(session, new_image, model_id) for new_image in batch.new_images]
    refresh_search_text(session, [image_id for image_id in with_text if image_id is not None])
    for moved in batch.moved_images:
        write_moved_image(session, moved)
    for skipped in batch.skipped_files:
        write_skipped_file(session, skipped)
    if batch.new_images or batch.moved_images:
        bump_generation(session)
        clear_failures(session, [image.path_bytes for image in batch.new_images])


def write_new_image(session: Session, new_image: NewImage, model_id: str) -> int | None:
    """Insert (or update in place) one image; its id when OCR text was written with it."""
    columns = {
        "root_id": new_image.root_id,
        "path_bytes": new_image.path_bytes,
        "relative_path": new_image.relative_path,
        "size_bytes": new_image.size_bytes,
        "mtime_ns": new_image.mtime_ns,
        "content_hash": new_image.content_hash,
        "indexed_at": utc_now(),
        "placeholder": new_image.placeholder,
        **identity_columns(new_image.identity),
        **facts_columns(new_image.facts),
    }
    if new_image.replaces_image_id is not None:
        image_id = new_image.replaces_image_id
        session.execute(update(Image).where(Image.id == image_id).values(**columns))
        # New content: the old picture's recognised text and automatic tags no longer apply.
        session.execute(delete(ImageText).where(ImageText.image_id == image_id))
        session.execute(
            delete(ImageTag).where(ImageTag.image_id == image_id, ImageTag.source == "auto")
        )
    else:
        # Another indexer may have inserted this path since this one looked: take its row.
        insert_image = upsert(session, Image.__table__).values(**columns)
        image_id = session.scalar(
            insert_image.on_conflict_do_update(
                index_elements=[Image.path_bytes], set_=columns
            ).returning(Image.id)
        )
    vector = encode_embedding(new_image.embedding)
    insert_embedding = upsert(session, Embedding.__table__).values(
        image_id=image_id, model_id=model_id, vector=vector, generation=NEXT_INDEX_GENERATION
    )
    session.execute(
        insert_embedding.on_conflict_do_update(
            index_elements=[Embedding.image_id, Embedding.model_id],
            set_={"vector": vector, "generation": NEXT_INDEX_GENERATION},
        )
    )
    if new_image.text is None:
        return None
    text, failure = new_image.text
    session.add(
        ImageText(
            image_id=image_id,
            text=text,
            failure=failure,
            engine="tesseract",
            recognised_at=utc_now(),
        )
    )
    return image_id


def write_moved_image(session: Session, moved: MovedImage) -> None:
    session.execute(
        update(Image)
        .where(Image.id == moved.image_id)
        .values(
            root_id=moved.root_id,
            path_bytes=moved.path_bytes,
            relative_path=moved.relative_path,
            size_bytes=moved.size_bytes,
            mtime_ns=moved.mtime_ns,
            **identity_columns(moved.identity),
            **({} if moved.placeholder is None else {"placeholder": moved.placeholder}),
        )
    )
    clear_failures(session, [moved.path_bytes])


def identity_columns(identity: tuple[int, int] | None) -> dict[str, int | None]:
    device, inode = identity if identity is not None else (None, None)
    return {"device": device, "inode": inode}


def write_skipped_file(session: Session, skipped: SkippedFile) -> None:
    columns = {
        "root_id": skipped.root_id,
        "path": display_path(skipped.path_bytes),
        "reason": valid_text(skipped.reason),
        "size_bytes": skipped.size_bytes,
        "mtime_ns": skipped.mtime_ns,
        "failed_at": utc_now(),
    }
    statement = upsert(session, Failure.__table__).values(path_bytes=skipped.path_bytes, **columns)
    session.execute(
        statement.on_conflict_do_update(index_elements=[Failure.path_bytes], set_=columns)
    )


def delete_images(session: Session, image_ids: list[int]) -> None:
    lock_generation(session)
    for chunk in chunks(image_ids):
        session.execute(delete(Embedding).where(Embedding.image_id.in_(chunk)))
        session.execute(delete(Image).where(Image.id.in_(chunk)))
    bump_generation(session)


def clear_failures(session: Session, path_bytes: list[bytes]) -> None:
    for chunk in chunks(path_bytes):
        session.execute(delete(Failure).where(Failure.path_bytes.in_(chunk)))


def lock_generation(session: Session) -> None:
    """Hold the index generation's row until this transaction ends: a concurrent writer waits
    here, then reads (and stamps its rows with) the generation this one committed. Call it
    before writing any embedding. SQLite has one writer at a time and ignores FOR UPDATE."""
    insert_state = upsert(session, LibraryState.__table__).values(
        key=STATE_INDEX_GENERATION, value="0"
    )
    session.execute(insert_state.on_conflict_do_nothing(index_elements=[LibraryState.key]))
    session.execute(
        select(LibraryState.value)
        .where(LibraryState.key == STATE_INDEX_GENERATION)
        .with_for_update()
    )


def bump_generation(session: Session) -> None:
    current = session.scalar(
        select(LibraryState.value).where(LibraryState.key == STATE_INDEX_GENERATION)
    )
    set_state(session, STATE_INDEX_GENERATION, str(int(current or 0) + 1))


def set_state(session: Session, key: str, value: str) -> None:
    statement = upsert(session, LibraryState.__table__).values(key=key, value=value)
    session.execute(
        statement.on_conflict_do_update(index_elements=[LibraryState.key], set_={"value": value})
    )


def add_state(session: Session, key: str, value: str) -> str:
    """Record ``value`` for ``key`` unless a value is there (maybe just written by another
    process); return the stored value."""
    statement = upsert(session, LibraryState.__table__).values(key=key, value=value)
    session.execute(statement.on_conflict_do_nothing(index_elements=[LibraryState.key]))
    return session.scalar(select(LibraryState.value).where(LibraryState.key == key)) or value
