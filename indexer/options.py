"""What an indexing run is asked to do (its options) and what it did (its summary)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pixsift.indexer.decoding import default_worker_count
from pixsift.indexer.video import VideoSummary
from pixsift.search.media.thumbnails import parse_sizes
from pixsift.search.media.video import DEFAULT_INTERVAL_SECONDS
from pixsift.search.settings import THUMBNAILS

DEFAULT_BATCH_SIZE = 32
DEFAULT_DECODE_TIMEOUT_SECONDS = 60.0
#: Moves and skips need no model time; commit them at least this often so progress persists.
MAX_PENDING_WRITES = 256
#: Publish the vector index once this many vectors were written or removed since the last time,
#: so that searches during a long run keep their exact scan of unpublished vectors small.
DEFAULT_PUBLISH_EVERY = 10_000
#: A video is decoded whole (every frame is looked at for cuts): minutes, not seconds.
DEFAULT_VIDEO_TIMEOUT_SECONDS = 1800.0


@dataclass(frozen=True)
class IndexingOptions:
    batch_size: int = DEFAULT_BATCH_SIZE
    workers: int = field(default_factory=default_worker_count)
    decode_timeout_seconds: float = DEFAULT_DECODE_TIMEOUT_SECONDS
    include_hidden: bool = False
    #: Follow symbolic links that lead out of the folders being indexed (never by default).
    follow_symlinks: bool = False
    #: None: a progress bar on a terminal only.
    show_progress: bool | None = None
    publish_every: int = DEFAULT_PUBLISH_EVERY
    #: Recognise text in images (new files in the decode workers, older ones after them).
    ocr: bool = False
    #: Tag the library from its embeddings at the end of a run that changed something.
    tag: bool = True
    #: Index video files as moments (False: leave videos, indexed or not, as they are).
    index_videos: bool = True
    video_interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    video_timeout_seconds: float = DEFAULT_VIDEO_TIMEOUT_SECONDS
    #: Thumbnails and previews made while decoding (long sides); () makes none.
    thumbnail_sizes: tuple[int, ...] = parse_sizes(THUMBNAILS.default)


@dataclass
class IndexingSummary:
    added: int = 0
    updated: int = 0
    moved: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    still_failing: int = 0
    embedded: int = 0
    #: Images whose text was recognised (or whose OCR failed, with a reason) in this run.
    ocr_done: int = 0
    ocr_failed: int = 0
    tagged: int = 0
    #: Why tagging failed after the index was published (the next run tags again), if it did.
    tagging_failure: str | None = None
    #: Thumbnail and preview files written, and stale ones (of pictures gone) removed.
    thumbnails_written: int = 0
    thumbnails_removed: int = 0
    #: Placeholders of rows indexed before they were kept, filled from kept thumbnails.
    placeholders_filled: int = 0
    elapsed_seconds: float = 0.0
    videos: VideoSummary = field(default_factory=VideoSummary)

    @property
    def processed(self) -> int:
        return self.added + self.updated + self.moved + self.failed

    @property
    def images_per_second(self) -> float:
        return self.processed / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0
