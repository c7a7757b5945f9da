"""The library database: images, their embeddings, skipped files and library facts.

It knows nothing of models or FAISS. Callers hand it plain records and arrays.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from pixsift.search.filenames import display_path
from pixsift.search.records import EmbeddingMatrix, FailureRecord, ImageIdArray, ImageRecord
from pixsift.search.storage.database import create_session_factory
from pixsift.search.storage.descriptions import caption_fields, descriptions_of
from pixsift.search.storage.models import Embedding, Failure, Image, LibraryState, Root, Video
from pixsift.search.storage.rows import chunks, decode_embeddings, image_record, utc_now
from pixsift.search.storage.tags import tags_of, texts_of
from pixsift.search.storage.writes import (
    STATE_INDEX_GENERATION,
    STATE_LAST_INDEXED_AT,
    STATE_MODEL_ID,
    IndexingBatch,
    MovedImage,
    NewImage,
    SkippedFile,
    add_state,
    bump_generation,
    clear_failures,
    delete_images,
    lock_generation,
    set_state,
    upsert,
    write_batch,
)

#: Batch records are declared in search.storage.writes; callers may import them from here.
__all__ = [
    "IndexingBatch",
    "KnownFile",
    "LibraryStore",
    "MovedImage",
    "NewImage",
    "SkippedFile",
]


@dataclass(frozen=True)
class KnownFile:
    """What the database remembers of a file, to decide whether it changed."""

    image_id: int
    size_bytes: int
    mtime_ns: int
    content_hash: str
    #: (st_dev, st_ino) when indexed; None for rows indexed before it was recorded.
    device: int | None = None
    inode: int | None = None


class LibraryStore:
    """Reads and writes the library database through short, explicit transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session_factory = create_session_factory(engine)
        #: Per thread, inside :meth:`reading`: the library facts read so far.
        self._reads = threading.local()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._session_factory() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A block that only reads (one search): each library fact (model, index generation,
        ...) is read from the database once in it, by this thread. A search asked ~9 times, a
        round trip each; and it now sees one generation throughout. Nested blocks share the
        outermost one's reads."""
        if getattr(self._reads, "facts", None) is not None:
            yield
            return
        self._reads.facts = {}
        try:
            yield
        finally:
            self._reads.facts = None

    # Library facts -------------------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        facts: dict[str, str | None] | None = getattr(self._reads, "facts", None)
        if facts is not None and key in facts:
            return facts[key]
        with self.session() as session:
            value = session.scalar(select(LibraryState.value).where(LibraryState.key == key))
        if facts is not None:
            facts[key] = value
        return value

    def set_state(self, key: str, value: str) -> None:
        with self.session() as session:
            set_state(session, key, value)

    def model_id(self) -> str | None:
        return self.get_state(STATE_MODEL_ID)

    def index_generation(self) -> int:
        return int(self.get_state(STATE_INDEX_GENERATION) or 0)

    def claim_model(self, model_id: str) -> str:
        """Record ``model_id`` as the library's model if it has none; return the library's."""
        with self.session() as session:
            return add_state(session, STATE_MODEL_ID, model_id)

    def bump_generation(self) -> None:
        """Start a new index generation (after writes that stamped the next one)."""
        with self.session() as session:
            lock_generation(session)
            bump_generation(session)

    # Roots and the indexer's view ----------------------------------------------------------

    def ensure_root(self, root_path_bytes: bytes, *, follow_symlinks: bool | None = None) -> int:
        """The root's id, made if new; ``follow_symlinks`` (what this indexing run was asked)
        is recorded when given."""
        with self.session() as session:
            root = session.scalar(select(Root).where(Root.path_bytes == root_path_bytes))
            if root is not None:
                if follow_symlinks is not None:
                    root.follow_symlinks = follow_symlinks
                return root.id
            # Another indexer may add the same root at the same moment: one row wins.
            statement = upsert(session, Root.__table__).values(
                path=display_path(root_path_bytes),
                path_bytes=root_path_bytes,
                added_at=utc_now(),
                follow_symlinks=bool(follow_symlinks),
            )
            session.execute(statement.on_conflict_do_nothing(index_elements=[Root.path_bytes]))
            return session.scalar(select(Root.id).where(Root.path_bytes == root_path_bytes))

    def record_identities(self, identities: Sequence[tuple[int, tuple[int, int]]]) -> None:
        """Record (st_dev, st_ino) for images indexed before identities were kept."""
        if not identities:
            return
        with self.session() as session:
            for image_id, (device, inode) in identities:
                session.execute(
                    update(Image).where(Image.id == image_id).values(device=device, inode=inode)
                )

    def root_paths(self) -> list[str]:
        with self.session() as session:
            return list(session.scalars(select(Root.path).order_by(Root.path)))

    def known_files(self, root_id: int) -> dict[bytes, KnownFile]:
        with self.session() as session:
            rows = session.execute(
                select(
                    Image.path_bytes,
                    Image.id,
                    Image.size_bytes,
                    Image.mtime_ns,
                    Image.content_hash,
                    Image.device,
                    Image.inode,
                ).where(Image.root_id == root_id, Image.video_id.is_(None))
            )
            # Moments of videos are the video indexer's (search.storage.videos), not files.
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
        for chunk in chunks(hashes):
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
        for chunk in chunks(list(image_ids)):
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
            write_batch(session, batch, model_id)

    def remove_images(self, image_ids: Sequence[int]) -> None:
        if not image_ids:
            return
        with self.session() as session:
            delete_images(session, list(image_ids))

    def remove_failures(self, path_bytes: Sequence[bytes]) -> None:
        with self.session() as session:
            clear_failures(session, list(path_bytes))

    def finish_root_run(self, root_id: int) -> None:
        now = utc_now()
        with self.session() as session:
            session.execute(update(Root).where(Root.id == root_id).values(last_indexed_at=now))
            set_state(session, STATE_LAST_INDEXED_AT, now.isoformat())

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
        for chunk in chunks([int(image_id) for image_id in image_ids]):
            with self.session() as session:
                rows = session.execute(
                    select(Image, Root.path_bytes, Root.follow_symlinks, Video.duration_s)
                    .join(Root, Root.id == Image.root_id)
                    .outerjoin(Video, Video.id == Image.video_id)
                    .where(Image.id.in_(chunk))
                ).all()
                tags = tags_of(session, chunk)
                texts = texts_of(session, chunk)
                captions = descriptions_of(session, chunk)
                for image, root_path_bytes, follows, duration in rows:
                    text = texts.get(image.id)
                    records[image.id] = image_record(
                        image,
                        root_path_bytes,
                        bool(follows),
                        tags=tuple(tag for tag, _ in tags.get(image.id, ())),
                        text_in_image=None if text is None or text.failure else text.text,
                        text_failure=None if text is None else text.failure,
                        **caption_fields(captions.get(image.id)),
                        video_duration_s=duration,
                    )
        return records

    def content_hashes(self) -> set[str]:
        """The content hashes of every indexed picture and video moment (what names their
        thumbnails)."""
        with self.session() as session:
            return set(session.scalars(select(Image.content_hash).distinct()))

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
