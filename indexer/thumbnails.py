"""The indexer's side of thumbnails (search.media.thumbnails): the decode workers make them
from the picture they decoded; the indexing process writes them before the rows that name them
commit, and removes those of pictures gone at the end of a run. It is the only writer besides
the web server's fallback, which makes a missing one on request."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select, update

from pixsift.indexer.options import IndexingSummary
from pixsift.indexer.video import ThumbnailTarget
from pixsift.search.library import Library
from pixsift.search.media.thumbnails import (
    CARD_SIDES,
    THUMBNAIL_DIRECTORY_NAME,
    placeholder,
    remove_stale,
    thumbnail_path,
    write_renditions,
)
from pixsift.search.storage.models import Image as ImageRow

#: The longest a run spends filling placeholders of older rows (it never holds a run up for long;
#: the next run goes on where this one stopped).
BACKFILL_SECONDS = 2.0
_BACKFILL_CHUNK = 200


def thumbnail_directory(library: Library) -> Path:
    return library.directory / THUMBNAIL_DIRECTORY_NAME


def target(library: Library, sizes: tuple[int, ...]) -> ThumbnailTarget | None:
    """Where a run's thumbnails go and their sizes; None when it makes none."""
    return ThumbnailTarget(thumbnail_directory(library), sizes) if sizes else None


def write_thumbnails(library: Library, renditions: Mapping[str, Mapping[int, bytes]]) -> int:
    """Write the thumbnails of a batch (by content hash) not kept yet; how many were written.
    Called before the batch's rows commit: a crash between leaves files of no picture, which the
    end of the next run that removes something cleans up."""
    directory = thumbnail_directory(library)
    return sum(write_renditions(directory, digest, made) for digest, made in renditions.items())


def remove_stale_thumbnails(library: Library, summary: IndexingSummary) -> None:
    """Remove the thumbnails of pictures no longer in the library once a run removed or
    replaced some (a run that only added leaves none behind); then fill older rows'
    placeholders from thumbnails already made."""
    summary.placeholders_filled = backfill_placeholders(library)
    videos = summary.videos
    if summary.removed + summary.updated + summary.failed + videos.indexed + videos.removed:
        summary.thumbnails_removed = remove_stale(
            thumbnail_directory(library), library.store.content_hashes()
        )


def backfill_placeholders(library: Library, budget_seconds: float = BACKFILL_SECONDS) -> int:
    """Fill the placeholder of rows indexed before placeholders were kept, from a thumbnail
    already made (on request, by the server) — a small file, never the original; at most
    ``budget_seconds``. How many were filled."""
    directory = thumbnail_directory(library)
    deadline = time.monotonic() + budget_seconds
    filled, after = 0, 0
    while time.monotonic() < deadline:
        with library.store.session() as session:
            rows = session.execute(
                select(ImageRow.id, ImageRow.content_hash)
                .where(ImageRow.placeholder.is_(None), ImageRow.id > after)
                .order_by(ImageRow.id)
                .limit(_BACKFILL_CHUNK)
            ).all()
        if not rows:
            break
        after = rows[-1][0]
        found = {}
        for image_id, digest in rows:
            made = _placeholder_from_kept(directory, digest)
            if made is not None:
                found[image_id] = made
            if time.monotonic() >= deadline:
                break
        with library.store.session() as session:
            for image_id, made in found.items():
                session.execute(
                    update(ImageRow).where(ImageRow.id == image_id).values(placeholder=made)
                )
        filled += len(found)
    return filled


def _placeholder_from_kept(directory: Path, content_hash: str) -> str | None:
    for size in CARD_SIDES:
        path = thumbnail_path(directory, content_hash, size)
        try:
            with Image.open(path) as picture:
                return placeholder(picture)
        except (OSError, UnidentifiedImageError):
            continue  # not made (or unreadable): the next size, else the next run
    return None
