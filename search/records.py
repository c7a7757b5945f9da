"""Typed records passed between the store, the index, the embedder and the callers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field, field_validator

from pixsift.search.filenames import display_path, is_exact, valid_text

#: Rows of L2-normalised embeddings, one per image or text.
EmbeddingMatrix: TypeAlias = NDArray[np.float32]
#: Database ids of images; FAISS uses the same numbers as its ids.
ImageIdArray: TypeAlias = NDArray[np.int64]


class ImageFacts(BaseModel):
    """What an image file says about itself, read at indexing time. The one declaration of each
    image fact: the media reader fills it, the store keeps each field in the ``images`` column of
    the same name, and results, exports and the API schema are made from its fields. Adding a
    fact means: a field here, a column in ``search.storage.models``, a migration."""

    model_config = ConfigDict(frozen=True)

    width: int = Field(description="Width in pixels, after EXIF orientation.")
    height: int = Field(description="Height in pixels, after EXIF orientation.")
    format: str = Field(description="Image format as Pillow names it, e.g. JPEG.")
    taken_at: datetime | None = Field(None, description="EXIF date taken (camera local time).")
    camera_make: str | None = None
    camera_model: str | None = None
    gps_latitude: float | None = Field(None, description="Degrees north.")
    gps_longitude: float | None = Field(None, description="Degrees east.")
    description: str | None = Field(None, description="Embedded description or caption.")
    keywords: str | None = Field(None, description="Embedded keywords, comma-separated.")

    @field_validator("*", mode="after")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        # Text read from a file (EXIF, PNG chunks) or decoded from a name may hold lone
        # surrogates, which no UTF-8 writer (SQLite, JSON, CSV) accepts.
        return valid_text(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class FileOrigin:
    """How an image's file was found when indexed: its identity (st_dev, st_ino; None for rows
    indexed before pixsift recorded it) and whether its root was indexed following links out."""

    identity: tuple[int, int] | None = None
    root_follows_links: bool = False


class ImageRecord(ImageFacts):
    """What the library knows about one indexed image: its facts and where and when it was
    found. Paths are display forms (see :mod:`search.filenames`): valid Unicode, safe in JSON
    and CSV; :attr:`file_path` is the file's real name, for opening it."""

    id: int
    root_path: str = Field(description="The indexed folder that holds the file.")
    relative_path: str = Field(description="The file's path below its root, '/'-separated.")
    absolute_path: str = Field(description="The file's full path.")
    path_is_exact: bool = Field(
        True,
        description="False when the file's name on disk is not valid UTF-8: the paths then show "
        "each undecodable byte as U+FFFD and do not spell the name exactly.",
    )
    size_bytes: int
    mtime_ns: int
    content_hash: str
    indexed_at: datetime
    tags: tuple[str, ...] = Field(
        (), description="Words describing the picture: the user's and automatic (zero-shot) tags."
    )
    text_in_image: str | None = Field(
        None, description="Text recognised in the picture (OCR); null when OCR has not run."
    )
    text_failure: str | None = Field(
        None, description="Why OCR could not read the picture; null when it worked or has not run."
    )
    video_id: int | None = Field(
        None, description="For a moment of a video: the video's id (null for a photo)."
    )
    offset_s: float | None = Field(
        None, description="For a moment of a video: its time in the video, in seconds."
    )
    video_duration_s: float | None = Field(
        None, description="For a moment of a video: the video's length, in seconds."
    )
    place_city: str | None = Field(
        None, description="The city or town nearest the GPS position (GeoNames, offline)."
    )
    place_region: str | None = Field(None, description="The GPS position's region or state.")
    place_country: str | None = Field(None, description="The GPS position's country.")
    stack_id: int | None = Field(
        None,
        description="The id of the best copy of this picture's burst or RAW+JPEG pair (null "
        "when it stands alone).",
    )
    placeholder: str | None = Field(
        None,
        description="A BlurHash of the picture (https://blurha.sh), made at index time: what a "
        "page paints before the thumbnail arrives. Null for pictures indexed before pixsift "
        "made them (the next run that reads the file again fills it).",
    )

    #: The exact file-system name (bytes); never serialised, it need not be text.
    _path_bytes: bytes | None = PrivateAttr(None)
    _root_path_bytes: bytes | None = PrivateAttr(None)
    #: How the file was found (never serialised): lets the server check that a file it opens
    #: is the one indexed.
    _origin: FileOrigin = PrivateAttr(default_factory=lambda: FileOrigin())

    @classmethod
    def located(cls, path_bytes: bytes, root_path_bytes: bytes, **fields: Any) -> ImageRecord:
        """A record for the file named ``path_bytes`` under the root ``root_path_bytes``; the
        display forms of both paths are made here, ``fields`` give the rest."""
        record = cls(
            root_path=display_path(root_path_bytes),
            absolute_path=display_path(path_bytes),
            path_is_exact=is_exact(path_bytes),
            **fields,
        )
        record._path_bytes = path_bytes
        record._root_path_bytes = root_path_bytes
        return record

    @property
    def origin(self) -> FileOrigin:
        return self._origin

    def set_origin(self, origin: FileOrigin) -> None:
        self._origin = origin

    @property
    def root_directory(self) -> Path:
        """The indexed folder's real name, exact like :attr:`file_path`."""
        if self._root_path_bytes is None:
            return Path(self.root_path)
        return Path(os.fsdecode(self._root_path_bytes))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def name(self) -> str:
        """The file's name (last part of its path), display form."""
        return PurePosixPath(self.relative_path).name

    @property
    def file_path(self) -> Path:
        """The file's real name, to open it: exact even when the name is not UTF-8."""
        if self._path_bytes is None:
            return Path(self.absolute_path)
        return Path(os.fsdecode(self._path_bytes))

    def date_with_source(self) -> tuple[datetime, str]:
        """The picture's date: when it was taken (EXIF), else the file's modification time."""
        if self.taken_at is not None:
            return self.taken_at, "taken"
        return datetime.fromtimestamp(self.mtime_ns / 1e9, tz=timezone.utc).replace(
            tzinfo=None
        ), "file"


@dataclass(frozen=True)
class MomentHit:
    """A moment of a video among the results, grouped under its video's best moment."""

    image: ImageRecord
    score: float


@dataclass(frozen=True)
class SearchHit:
    """One ranked result. ``score`` orders the results (cosine similarity in semantic mode, the
    fused rank score in hybrid and keyword modes); ``similarity`` is always the cosine similarity
    to the query vector when there is one."""

    image: ImageRecord
    score: float
    similarity: float | None = None
    #: For a moment of a video: the video's moments among the results, best first (this one
    #: included); they take no other result slot.
    moments: tuple[MomentHit, ...] = ()
    #: Standard deviations above what the query typically scores in this library (None when
    #: the library is too small to calibrate or there is no query vector); see
    #: search.query.relevance.
    relevance: float | None = None
    #: "strong", "possible", "weak" (kept only when weaker matches are asked for) or "words"
    #: (found by its words); None when the library is too small to calibrate.
    band: str | None = None
    #: For a stack (a burst, a RAW+JPEG pair): every copy's id, the best first; they take no
    #: other result slot. Empty for a picture that stands alone.
    stack: tuple[int, ...] = ()

    def date_with_source(self) -> tuple[datetime, str]:
        return self.image.date_with_source()

    @property
    def id(self) -> int:
        return self.image.id

    @property
    def path(self) -> str:
        return self.image.absolute_path


@dataclass(frozen=True)
class FailureRecord:
    """A file the indexer skipped, and why."""

    path: str
    reason: str
    size_bytes: int
    mtime_ns: int
    failed_at: datetime


class LibraryStats(BaseModel):
    """What a library holds: one declaration for `pixsift stats`, the API and the page (the API
    names two fields more briefly: ``model`` and ``roots``)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    image_count: int
    root_paths: list[str] = Field(serialization_alias="roots")
    failure_count: int
    model_id: str | None = Field(serialization_alias="model")
    index_type: str
    index_generation: int
    last_indexed_at: datetime | None
    index_recall: dict[str, float] = Field(
        default_factory=dict,
        description='recall@10 of the index per query kind ("images", "text", "text-synthetic") '
        "measured when it was tuned; empty for an exact index (its recall is 1).",
    )


def l2_normalise(vectors: np.ndarray) -> EmbeddingMatrix:
    """Rows scaled to unit length (float32); a zero row stays zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)
