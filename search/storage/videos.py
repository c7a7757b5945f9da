"""Videos and their moments in the library database.

A video is a ``videos`` row; each of its moments is an ``images`` row with ``video_id`` and
``offset_s`` set, embedded like a photo, so the vector index, filters and keyword search treat
moments as pictures. A video is written whole, in one transaction: a changed video's moments are
replaced together, and a run killed midway leaves the old moments or the new ones, never a mix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import delete, func, select

from pixsift.search.filenames import display_path, valid_text
from pixsift.search.records import FailureRecord
from pixsift.search.storage.models import Embedding, Image, Video
from pixsift.search.storage.rows import chunks, encode_embedding, moment_key, utc_now
from pixsift.search.storage.store import LibraryStore
from pixsift.search.storage.writes import bump_generation, lock_generation


@dataclass(frozen=True)
class KnownVideo:
    """What the database remembers of a video file, to decide whether it changed."""

    video_id: int
    size_bytes: int
    mtime_ns: int


@dataclass(frozen=True)
class NewMoment:
    offset_seconds: float
    embedding: np.ndarray
    #: The frame's BlurHash (search.media.thumbnails), when the decoder made one.
    placeholder: str | None = None


@dataclass(frozen=True)
class NewVideo:
    """A video to write with its moments, or with the reason it could not be indexed (then it
    has none). ``replaces_video_id``: the row of the same file's previous version."""

    root_id: int
    path_bytes: bytes
    relative_path: str
    size_bytes: int
    mtime_ns: int
    format: str = "VIDEO"
    width: int = 0
    height: int = 0
    fingerprint: str = ""
    duration_seconds: float = 0.0
    moments: list[NewMoment] = field(default_factory=list)
    failure_reason: str | None = None
    replaces_video_id: int | None = None


class VideoStore:
    """The video side of a :class:`LibraryStore` (same database, same short transactions)."""

    def __init__(self, store: LibraryStore) -> None:
        self.store = store

    def known_videos(self, root_id: int) -> dict[bytes, KnownVideo]:
        with self.store.session() as session:
            rows = session.execute(
                select(Video.path_bytes, Video.id, Video.size_bytes, Video.mtime_ns).where(
                    Video.root_id == root_id
                )
            )
            return {row[0]: KnownVideo(*row[1:]) for row in rows}

    def write(self, video: NewVideo, model_id: str) -> int:
        """Write ``video`` (replacing its previous version) in one transaction; its id."""
        with self.store.session() as session:
            lock_generation(session)  # before stamping: see search.storage.writes
            if video.replaces_video_id is not None:
                _delete_videos(session, [video.replaces_video_id])
            row = Video(
                root_id=video.root_id,
                path_bytes=video.path_bytes,
                relative_path=video.relative_path,
                size_bytes=video.size_bytes,
                mtime_ns=video.mtime_ns,
                fingerprint=video.fingerprint,
                duration_s=video.duration_seconds,
                failure_reason=valid_text(video.failure_reason) if video.failure_reason else None,
                indexed_at=utc_now(),
            )
            session.add(row)
            session.flush()
            for moment in video.moments:
                _add_moment(session, video, row.id, moment, model_id)
            bump_generation(session)
            return row.id

    def remove(self, video_ids: Sequence[int]) -> None:
        if not video_ids:
            return
        with self.store.session() as session:
            lock_generation(session)
            _delete_videos(session, list(video_ids))
            bump_generation(session)

    def failures(self) -> list[FailureRecord]:
        with self.store.session() as session:
            rows = session.scalars(select(Video).where(Video.failure_reason.is_not(None)))
            return [
                FailureRecord(
                    path=display_path(row.path_bytes),
                    reason=row.failure_reason or "",
                    size_bytes=row.size_bytes,
                    mtime_ns=row.mtime_ns,
                    failed_at=row.indexed_at,
                )
                for row in rows
            ]

    def failure_count(self) -> int:
        with self.store.session() as session:
            count = session.scalar(
                select(func.count()).select_from(Video).where(Video.failure_reason.is_not(None))
            )
            return int(count or 0)

    def has_moments(self) -> bool:
        with self.store.session() as session:
            found = session.scalar(select(Image.id).where(Image.video_id.is_not(None)).limit(1))
            return found is not None

    def moments_at(self, path_bytes: bytes) -> list[int]:
        """The ids of the moments of the video file named ``path_bytes``, in time order (none
        when the file is not an indexed video, or one that could not be indexed)."""
        with self.store.session() as session:
            video = select(Video.id).where(Video.path_bytes == path_bytes).scalar_subquery()
            rows = session.scalars(
                select(Image.id).where(Image.video_id == video).order_by(Image.offset_s, Image.id)
            )
            return [int(image_id) for image_id in rows]

    def videos_of(self, image_ids: Sequence[int]) -> dict[int, int]:
        """The video of each of ``image_ids`` that is a moment (photos are left out)."""
        found: dict[int, int] = {}
        for chunk in chunks([int(image_id) for image_id in image_ids]):
            with self.store.session() as session:
                rows = session.execute(
                    select(Image.id, Image.video_id).where(
                        Image.id.in_(chunk), Image.video_id.is_not(None)
                    )
                )
                found.update({image_id: int(video_id) for image_id, video_id in rows})
        return found


def moment_content_hash(fingerprint: str, offset_seconds: float) -> str:
    """A moment's content hash: its video's content and its time (names its poster too)."""
    return hashlib.sha256(f"{fingerprint}:{offset_seconds:.3f}".encode()).hexdigest()


def _add_moment(session, video: NewVideo, video_id: int, moment: NewMoment, model_id: str) -> None:
    content_hash = moment_content_hash(video.fingerprint, moment.offset_seconds)
    image = Image(
        root_id=video.root_id,
        path_bytes=moment_key(video.path_bytes, moment.offset_seconds),
        relative_path=video.relative_path,
        size_bytes=video.size_bytes,
        mtime_ns=video.mtime_ns,
        content_hash=content_hash,
        width=video.width,
        height=video.height,
        format=video.format,
        indexed_at=utc_now(),
        video_id=video_id,
        offset_s=moment.offset_seconds,
        placeholder=moment.placeholder,
    )
    session.add(image)
    session.flush()
    session.add(
        Embedding(image_id=image.id, model_id=model_id, vector=encode_embedding(moment.embedding))
    )


def _delete_videos(session, video_ids: list[int]) -> None:
    for chunk in chunks(video_ids):
        moments = select(Image.id).where(Image.video_id.in_(chunk))
        session.execute(delete(Embedding).where(Embedding.image_id.in_(moments)))
        session.execute(delete(Image).where(Image.video_id.in_(chunk)))
        session.execute(delete(Video).where(Video.id.in_(chunk)))
