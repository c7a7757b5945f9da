"""The library database: images, their embeddings, skipped files and library facts.

It knows nothing of models or FAISS. Callers hand it plain records and arrays.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from search.query.filters import SearchFilters, filter_conditions
from search.records import (
    EmbeddingMatrix,
    FailureRecord,
    ImageIdArray,
    ImageRecord,
)
from search.storage.database import create_session_factory
from search.storage.models import Embedding, Failure, Image, LibraryState, Root

STATE_MODEL_ID = "model_id"
STATE_INDEX_GENERATION = "index_generation"
STATE_LAST_INDEXED_AT = "last_indexed_at"
EMBEDDING_DTYPE = np.dtype("<f2")


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def display_path(path_bytes: bytes) -> str:
    """A printable form of a file-system name; undecodable bytes become U+FFFD."""
    return path_bytes.decode("utf-8", errors="replace")


def encode_embedding(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=EMBEDDING_DTYPE).tobytes()


def decode_embeddings(blobs: Sequence[bytes], dimension: int | None = None) -> EmbeddingMatrix:
    if not blobs:
        return np.zeros((0, dimension or 0), dtype=np.float32)
    half = np.frombuffer(b"".join(blobs), dtype=EMBEDDING_DTYPE)
    return half.reshape(len(blobs), -1).astype(np.float32)


@dataclass(frozen=True)
class KnownFile:
    """What the database remembers of a file, to decide whether it changed."""

    image_id: int
    size_bytes: int
    mtime_ns: int
    content_hash: str


@dataclass(frozen=True)
class NewImage:
    """An image to insert (or to update in place when ``replaces_image_id`` is set)."""

    root_id: int
    path_bytes: bytes
    relative_path: str
    size_bytes: int
    mtime_ns: int
    content_hash: str
    width: int
    height: int
    format: str
    taken_at: datetime | None
    camera_make: str | None
    camera_model: str | None
    gps_latitude: float | None
    gps_longitude: float | None
    description: str | None
    keywords: str | None
    embedding: np.ndarray
    replaces_image_id: int | None = None


@dataclass(frozen=True)
class MovedImage:
    """A file recognised by its content at a new path: keep the row and embedding."""

    image_id: int
    root_id: int
    path_bytes: bytes
    relative_path: str
    size_bytes: int
    mtime_ns: int


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


class LibraryStore:
    """Reads and writes the library database through short, explicit transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session_factory = create_session_factory(engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._session_factory() as session, session.begin():
            yield session

    # Library facts -------------------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        with self.session() as session:
            return session.scalar(select(LibraryState.value).where(LibraryState.key == key))

    def set_state(self, key: str, value: str) -> None:
        with self.session() as session:
            _set_state(session, key, value)

    def model_id(self) -> str | None:
        return self.get_state(STATE_MODEL_ID)

    def index_generation(self) -> int:
        return int(self.get_state(STATE_INDEX_GENERATION) or 0)

    def claim_model(self, model_id: str) -> str:
        """Record ``model_id`` as the library's model if it has none; return the library's."""
        with self.session() as session:
            current = session.scalar(
                select(LibraryState.value).where(LibraryState.key == STATE_MODEL_ID)
            )
            if current is None:
                _set_state(session, STATE_MODEL_ID, model_id)
                return model_id
            return current

    # Roots and the indexer's view ----------------------------------------------------------

    def ensure_root(self, root_path_bytes: bytes) -> int:
        with self.session() as session:
            root_id = session.scalar(select(Root.id).where(Root.path_bytes == root_path_bytes))
            if root_id is not None:
                return root_id
            root = Root(
                path=display_path(root_path_bytes), path_bytes=root_path_bytes, added_at=utc_now()
            )
            session.add(root)
            session.flush()
            return root.id

    def root_paths(self) -> list[str]:
        with self.session() as session:
            return list(session.scalars(select(Root.path).order_by(Root.path)))

    def known_files(self, root_id: int) -> dict[bytes, KnownFile]:
        with self.session() as session:
            rows = session.execute(
                select(
                    Image.path_bytes, Image.id, Image.size_bytes, Image.mtime_ns, Image.content_hash
                ).where(Image.root_id == root_id)
            )
            return {row[0]: KnownFile(*row[1:]) for row in rows}

    def known_failures(self, root_id: int) -> dict[bytes, tuple[int, int]]:
        with self.session() as session:
            rows = session.execute(
                select(Failure.path_bytes, Failure.size_bytes, Failure.mtime_ns).where(
                    Failure.root_id == root_id
                )
            )
            return {row[0]: (row[1], row[2]) for row in rows}

    def embedded_image_ids_by_hash(self, hashes: Iterable[str], model_id: str) -> dict[str, int]:
        """For each content hash, one image that already has an embedding under ``model_id``."""
        hashes = list(set(hashes))
        found: dict[str, int] = {}
        for chunk in _chunks(hashes, 500):
            with self.session() as session:
                rows = session.execute(
                    select(Image.content_hash, Image.id)
                    .join(Embedding, Embedding.image_id == Image.id)
                    .where(Image.content_hash.in_(chunk), Embedding.model_id == model_id)
                    .order_by(Image.id)
                ).all()
            for content_hash, image_id in rows:
                found.setdefault(content_hash, image_id)
        return found

    def embeddings_for(self, image_ids: Sequence[int], model_id: str) -> dict[int, np.ndarray]:
        vectors: dict[int, np.ndarray] = {}
        for chunk in _chunks(list(image_ids), 500):
            with self.session() as session:
                rows = session.execute(
                    select(Embedding.image_id, Embedding.vector).where(
                        Embedding.image_id.in_(chunk), Embedding.model_id == model_id
                    )
                )
                for image_id, blob in rows:
                    vectors[image_id] = decode_embeddings([blob])[0]
        return vectors

    def commit_batch(self, batch: IndexingBatch, model_id: str) -> None:
        """Write one batch atomically and bump the index generation with it."""
        if batch.is_empty():
            return
        with self.session() as session:
            for new_image in batch.new_images:
                _write_new_image(session, new_image, model_id)
            for moved in batch.moved_images:
                _write_moved_image(session, moved)
            for skipped in batch.skipped_files:
                _write_skipped_file(session, skipped)
            if batch.new_images or batch.moved_images:
                _bump_generation(session)
                _clear_failures(session, [image.path_bytes for image in batch.new_images])

    def remove_images(self, image_ids: Sequence[int]) -> None:
        if not image_ids:
            return
        with self.session() as session:
            for chunk in _chunks(list(image_ids), 500):
                session.execute(delete(Embedding).where(Embedding.image_id.in_(chunk)))
                session.execute(delete(Image).where(Image.id.in_(chunk)))
            _bump_generation(session)

    def remove_failures(self, path_bytes: Sequence[bytes]) -> None:
        with self.session() as session:
            _clear_failures(session, list(path_bytes))

    def finish_root_run(self, root_id: int) -> None:
        now = utc_now()
        with self.session() as session:
            session.execute(update(Root).where(Root.id == root_id).values(last_indexed_at=now))
            _set_state(session, STATE_LAST_INDEXED_AT, now.isoformat())

    # Reading for search ---------------------------------------------------------------------

    def all_embeddings(self, model_id: str) -> tuple[ImageIdArray, EmbeddingMatrix]:
        """Every stored embedding of ``model_id``, ordered by image id."""
        with self.session() as session:
            rows = session.execute(
                select(Embedding.image_id, Embedding.vector)
                .where(Embedding.model_id == model_id)
                .order_by(Embedding.image_id)
            ).all()
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        return ids, decode_embeddings([row[1] for row in rows])

    def filtered_image_ids(self, filters: SearchFilters) -> ImageIdArray:
        """Ids of the images that satisfy ``filters``, ascending."""
        statement = (
            select(Image.id)
            .join(Root, Root.id == Image.root_id)
            .where(*filter_conditions(filters))
            .order_by(Image.id)
        )
        with self.session() as session:
            return np.fromiter(session.scalars(statement), dtype=np.int64)

    def sample_embeddings(self, model_id: str, count: int) -> EmbeddingMatrix:
        """Up to ``count`` stored embeddings spread evenly over the library (deterministic)."""
        with self.session() as session:
            total = session.scalar(
                select(func.count()).select_from(Embedding).where(Embedding.model_id == model_id)
            )
            stride = max(1, int(total or 0) // max(count, 1))
            blobs = session.scalars(
                select(Embedding.vector)
                .where(Embedding.model_id == model_id, Embedding.image_id % stride == 0)
                .order_by(Embedding.image_id)
                .limit(count)
            ).all()
        return decode_embeddings(list(blobs))

    def images_by_ids(self, image_ids: Sequence[int]) -> dict[int, ImageRecord]:
        records: dict[int, ImageRecord] = {}
        for chunk in _chunks([int(image_id) for image_id in image_ids], 500):
            with self.session() as session:
                rows = session.execute(
                    select(Image, Root.path_bytes)
                    .join(Root, Root.id == Image.root_id)
                    .where(Image.id.in_(chunk))
                )
                for image, root_path_bytes in rows:
                    records[image.id] = _image_record(image, root_path_bytes)
        return records

    def image_count(self) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(Image)) or 0)

    def failure_count(self) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(Failure)) or 0)

    def failures(self) -> list[FailureRecord]:
        with self.session() as session:
            rows = session.scalars(select(Failure).order_by(Failure.path))
            return [
                FailureRecord(
                    path=row.path,
                    reason=row.reason,
                    size_bytes=row.size_bytes,
                    mtime_ns=row.mtime_ns,
                    failed_at=row.failed_at,
                )
                for row in rows
            ]

    def last_indexed_at(self) -> datetime | None:
        value = self.get_state(STATE_LAST_INDEXED_AT)
        return datetime.fromisoformat(value) if value else None


def _image_record(image: Image, root_path_bytes: bytes) -> ImageRecord:
    return ImageRecord(
        id=image.id,
        root_path=display_path(root_path_bytes),
        relative_path=image.relative_path,
        absolute_path=os.fsdecode(image.path_bytes),
        size_bytes=image.size_bytes,
        mtime_ns=image.mtime_ns,
        content_hash=image.content_hash,
        width=image.width,
        height=image.height,
        format=image.format,
        taken_at=image.taken_at,
        camera_make=image.camera_make,
        camera_model=image.camera_model,
        gps_latitude=image.gps_latitude,
        gps_longitude=image.gps_longitude,
        description=image.description,
        keywords=image.keywords,
        indexed_at=image.indexed_at,
    )


def _write_new_image(session: Session, new_image: NewImage, model_id: str) -> None:
    columns = {
        "root_id": new_image.root_id,
        "path_bytes": new_image.path_bytes,
        "relative_path": new_image.relative_path,
        "size_bytes": new_image.size_bytes,
        "mtime_ns": new_image.mtime_ns,
        "content_hash": new_image.content_hash,
        "width": new_image.width,
        "height": new_image.height,
        "format": new_image.format,
        "taken_at": new_image.taken_at,
        "camera_make": new_image.camera_make,
        "camera_model": new_image.camera_model,
        "gps_latitude": new_image.gps_latitude,
        "gps_longitude": new_image.gps_longitude,
        "description": new_image.description,
        "keywords": new_image.keywords,
        "indexed_at": utc_now(),
    }
    if new_image.replaces_image_id is not None:
        image_id = new_image.replaces_image_id
        session.execute(update(Image).where(Image.id == image_id).values(**columns))
        session.execute(
            delete(Embedding).where(Embedding.image_id == image_id, Embedding.model_id == model_id)
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


def _write_moved_image(session: Session, moved: MovedImage) -> None:
    session.execute(
        update(Image)
        .where(Image.id == moved.image_id)
        .values(
            root_id=moved.root_id,
            path_bytes=moved.path_bytes,
            relative_path=moved.relative_path,
            size_bytes=moved.size_bytes,
            mtime_ns=moved.mtime_ns,
        )
    )
    _clear_failures(session, [moved.path_bytes])


def _write_skipped_file(session: Session, skipped: SkippedFile) -> None:
    existing = session.scalar(select(Failure).where(Failure.path_bytes == skipped.path_bytes))
    if existing is None:
        existing = Failure(path_bytes=skipped.path_bytes)
        session.add(existing)
    existing.root_id = skipped.root_id
    existing.path = display_path(skipped.path_bytes)
    existing.reason = skipped.reason
    existing.size_bytes = skipped.size_bytes
    existing.mtime_ns = skipped.mtime_ns
    existing.failed_at = utc_now()


def _clear_failures(session: Session, path_bytes: list[bytes]) -> None:
    for chunk in _chunks(path_bytes, 500):
        session.execute(delete(Failure).where(Failure.path_bytes.in_(chunk)))


def _bump_generation(session: Session) -> None:
    current = session.scalar(
        select(LibraryState.value).where(LibraryState.key == STATE_INDEX_GENERATION)
    )
    _set_state(session, STATE_INDEX_GENERATION, str(int(current or 0) + 1))


def _set_state(session: Session, key: str, value: str) -> None:
    state = session.get(LibraryState, key)
    if state is None:
        session.add(LibraryState(key=key, value=value))
    else:
        state.value = value


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
