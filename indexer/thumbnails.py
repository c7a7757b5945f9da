"""The indexer's side of thumbnails (search.media.thumbnails): the decode workers make them
from the picture they decoded; the indexing process writes them before the rows that name them
commit, and removes those of pictures gone at the end of a run. It is the only writer besides
the web server's fallback, which makes a missing one on request."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pixsift.indexer.options import IndexingSummary
from pixsift.indexer.video import ThumbnailTarget
from pixsift.search.library import Library
from pixsift.search.media.thumbnails import (
    THUMBNAIL_DIRECTORY_NAME,
    remove_stale,
    write_renditions,
)


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
    replaced some (a run that only added leaves none behind)."""
    videos = summary.videos
    if summary.removed + summary.updated + summary.failed + videos.indexed + videos.removed:
        summary.thumbnails_removed = remove_stale(
            thumbnail_directory(library), library.store.content_hashes()
        )
