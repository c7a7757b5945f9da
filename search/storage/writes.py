"""What one indexing batch writes, and the statements that write it inside one transaction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from search.filenames import display_path, valid_text
from search.records import ImageFacts
from search.storage.models import Embedding, Failure, Image, ImageTag, ImageText, LibraryState
from search.storage.rows import chunks, encode_embedding, facts_columns, utc_now
from search.storage.search_text import refresh_search_text

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


def write_batch(session: Session, batch: IndexingBatch, model_id: str) -> None:
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
        **identity_columns(new_image.identity),
        **facts_columns(new_image.facts),
    }
    if new_image.replaces_image_id is not None:
        image_id = new_image.replaces_image_id
        session.execute(update(Image).where(Image.id == image_id).values(**columns))
        session.execute(
            delete(Embedding).where(Embedding.image_id == image_id, Embedding.model_id == model_id)
        )
        # New content: the old picture's recognised text and automatic tags no longer apply.
        session.execute(delete(ImageText).where(ImageText.image_id == image_id))
        session.execute(
            delete(ImageTag).where(ImageTag.image_id == image_id, ImageTag.source == "auto")
        )
    else:
        image = Image(**columns)
        session.add(image)
        session.flush()
        image_id = image.id
    session.add(
        Embedding(
            image_id=image_id, model_id=model_id, vector=encode_embedding(new_image.embedding)
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
        )
    )
    clear_failures(session, [moved.path_bytes])


def identity_columns(identity: tuple[int, int] | None) -> dict[str, int | None]:
    device, inode = identity if identity is not None else (None, None)
    return {"device": device, "inode": inode}


def write_skipped_file(session: Session, skipped: SkippedFile) -> None:
    existing = session.scalar(select(Failure).where(Failure.path_bytes == skipped.path_bytes))
    if existing is None:
        existing = Failure(path_bytes=skipped.path_bytes)
        session.add(existing)
    existing.root_id = skipped.root_id
    existing.path = display_path(skipped.path_bytes)
    existing.reason = valid_text(skipped.reason)
    existing.size_bytes = skipped.size_bytes
    existing.mtime_ns = skipped.mtime_ns
    existing.failed_at = utc_now()


def delete_images(session: Session, image_ids: list[int]) -> None:
    for chunk in chunks(image_ids):
        session.execute(delete(Embedding).where(Embedding.image_id.in_(chunk)))
        session.execute(delete(Image).where(Image.id.in_(chunk)))
    bump_generation(session)


def clear_failures(session: Session, path_bytes: list[bytes]) -> None:
    for chunk in chunks(path_bytes):
        session.execute(delete(Failure).where(Failure.path_bytes.in_(chunk)))


def bump_generation(session: Session) -> None:
    current = session.scalar(
        select(LibraryState.value).where(LibraryState.key == STATE_INDEX_GENERATION)
    )
    set_state(session, STATE_INDEX_GENERATION, str(int(current or 0) + 1))


def set_state(session: Session, key: str, value: str) -> None:
    state = session.get(LibraryState, key)
    if state is None:
        session.add(LibraryState(key=key, value=value))
    else:
        state.value = value
