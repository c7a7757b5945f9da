"""How records and arrays become rows of the library database, and back.

Record fields are kept in the ``images`` column of the same name, found by name rather than
listed here, so a new image fact needs a field in :class:`search.records.ImageFacts`, a column in
:mod:`search.storage.models` and a migration, and nothing in this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import numpy as np

from pixsift.search.records import EmbeddingMatrix, FileOrigin, ImageFacts, ImageRecord
from pixsift.search.storage.models import Image

EMBEDDING_DTYPE = np.dtype("<f2")
#: Items per ``IN (...)`` list: well below SQLite's limit on bound parameters.
CHUNK_SIZE = 500

#: The record fields that are ``images`` columns of the same name (the others, such as the
#: display forms of the paths, are made from the stored bytes when a record is read).
IMAGE_RECORD_COLUMNS: tuple[str, ...] = tuple(
    name for name in ImageRecord.model_fields if name in Image.__table__.columns
)

_Item = TypeVar("_Item")

#: A moment's unique ``path_bytes``: its video's name, this separator, and the offset in ms.
MOMENT_KEY_SEPARATOR = b"#t="


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def facts_columns(facts: ImageFacts) -> dict[str, Any]:
    """The ``images`` columns that hold ``facts``: one per field, of the same name."""
    return facts.model_dump(include=set(ImageFacts.model_fields))


def image_record(
    image: Image, root_path_bytes: bytes, root_follows_links: bool = False, **extra: Any
) -> ImageRecord:
    """The record of an ``images`` row whose root is named ``root_path_bytes``; ``extra`` gives
    the fields kept in other tables (tags, recognised text)."""
    columns = {name: getattr(image, name) for name in IMAGE_RECORD_COLUMNS}
    path_bytes = image.path_bytes
    if image.video_id is not None:
        path_bytes = path_bytes.rpartition(MOMENT_KEY_SEPARATOR)[0]
    record = ImageRecord.located(path_bytes, root_path_bytes, **columns, **extra)
    identity = None if image.inode is None else (int(image.device or 0), int(image.inode))
    record.set_origin(FileOrigin(identity, root_follows_links))
    return record


def moment_key(video_path_bytes: bytes, offset_seconds: float) -> bytes:
    """The ``path_bytes`` of a video's moment: unique, and the video's name up to the last
    separator (a name that holds the separator itself still parses)."""
    return video_path_bytes + MOMENT_KEY_SEPARATOR + str(round(offset_seconds * 1000)).encode()


def encode_embedding(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=EMBEDDING_DTYPE).tobytes()


def decode_embeddings(blobs: Sequence[bytes], dimension: int | None = None) -> EmbeddingMatrix:
    if not blobs:
        return np.zeros((0, dimension or 0), dtype=np.float32)
    half = np.frombuffer(b"".join(blobs), dtype=EMBEDDING_DTYPE)
    return half.reshape(len(blobs), -1).astype(np.float32)


def chunks(items: Sequence[_Item], size: int = CHUNK_SIZE) -> Iterator[list[_Item]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
