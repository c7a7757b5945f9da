"""Typed records passed between the store, the index, the embedder and the callers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

#: Rows of L2-normalised embeddings, one per image or text.
EmbeddingMatrix: TypeAlias = NDArray[np.float32]
#: Database ids of images; FAISS uses the same numbers as its ids.
ImageIdArray: TypeAlias = NDArray[np.int64]


class ImageFacts(BaseModel):
    """What an image file says about itself, read at indexing time. The one declaration of each
    image fact: the scanner fills it, the store maps it to columns of the same names, results,
    exports and the API schema are made from it."""

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


class ImageRecord(ImageFacts):
    """What the library knows about one indexed image: its facts and where and when it was
    found."""

    id: int
    root_path: str
    relative_path: str
    absolute_path: str
    size_bytes: int
    mtime_ns: int
    content_hash: str
    indexed_at: datetime

    def date_with_source(self) -> tuple[datetime, str]:
        """The picture's date: when it was taken (EXIF), else the file's modification time."""
        if self.taken_at is not None:
            return self.taken_at, "taken"
        return datetime.fromtimestamp(self.mtime_ns / 1e9, tz=timezone.utc).replace(
            tzinfo=None
        ), "file"


@dataclass(frozen=True)
class SearchHit:
    """One ranked result. ``score`` orders the results (cosine similarity in semantic mode, the
    fused rank score in hybrid and keyword modes); ``similarity`` is always the cosine similarity
    to the query vector when there is one."""

    image: ImageRecord
    score: float
    similarity: float | None = None

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


@dataclass(frozen=True)
class LibraryStats:
    image_count: int
    root_paths: list[str]
    failure_count: int
    model_id: str | None
    index_type: str
    index_generation: int
    last_indexed_at: datetime | None


def l2_normalise(vectors: np.ndarray) -> EmbeddingMatrix:
    """Rows scaled to unit length (float32); a zero row stays zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)
