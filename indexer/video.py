"""Indexing videos: each new or changed video file is sampled into moments (in worker
processes, under a time limit), the moments are embedded like photos, and the video is written
with its moments in one transaction. An unchanged video is not opened; a vanished one loses its
moments; one that cannot be decoded is recorded with the reason and retried once it changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from pixsift.indexer.decoding import DecodeFailure
from pixsift.indexer.scan import ScannedFile, ScanReport, is_under, scan_root
from pixsift.indexer.video_decoding import DecodedVideo, VideoDecoderPool
from pixsift.search.media.thumbnails import write_renditions
from pixsift.search.media.video import VIDEO_EXTENSIONS, SamplingOptions
from pixsift.search.model.pixels import pixel_plan_for
from pixsift.search.model.protocol import Embedder
from pixsift.search.storage.store import LibraryStore
from pixsift.search.storage.videos import (
    KnownVideo,
    NewMoment,
    NewVideo,
    VideoStore,
    moment_content_hash,
)


@dataclass(frozen=True)
class VideoWork:
    root_id: int
    scanned: ScannedFile
    known: KnownVideo | None


@dataclass(frozen=True)
class ThumbnailTarget:
    """Where a run writes thumbnails (the library's cache folder), and their sizes."""

    directory: Path
    sizes: tuple[int, ...]


@dataclass
class VideoPlan:
    work: list[VideoWork] = field(default_factory=list)
    unchanged_count: int = 0
    vanished_ids: list[int] = field(default_factory=list)


@dataclass
class VideoSummary:
    indexed: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    moments: int = 0
    #: Seconds of video sampled (of the videos indexed in this run).
    seconds: float = 0.0


def plan_videos(
    store: LibraryStore,
    roots: list[Path],
    *,
    include_hidden: bool = False,
    follow_symlinks: bool = False,
) -> VideoPlan:
    """The videos under ``roots`` that are new or changed, and those that vanished."""
    videos = VideoStore(store)
    plan = VideoPlan()
    for root in roots:
        root_id = store.ensure_root(os.fsencode(root))
        known = videos.known_videos(root_id)
        report = ScanReport()
        seen: set[bytes] = set()
        found = scan_root(
            root,
            VIDEO_EXTENSIONS,
            report,
            include_hidden=include_hidden,
            follow_symlinks=follow_symlinks,
        )
        for scanned in found:
            seen.add(scanned.path_bytes)
            previous = known.get(scanned.path_bytes)
            if previous and (previous.size_bytes, previous.mtime_ns) == (
                scanned.size_bytes,
                scanned.mtime_ns,
            ):
                plan.unchanged_count += 1  # indexed, or failed: retried once it changes
            else:
                plan.work.append(VideoWork(root_id, scanned, previous))
        # As for images: a folder that could not be read keeps its videos.
        plan.vanished_ids.extend(
            previous.video_id
            for path_bytes, previous in known.items()
            if path_bytes not in seen and not is_under(path_bytes, report.unreadable_directories)
        )
    return plan


class VideoIndexing:
    """One run's video work, for the indexer that owns the model and the writes."""

    def __init__(
        self,
        store: LibraryStore,
        embedder: Callable[[], Embedder],
        *,
        sampling: SamplingOptions,
        workers: int,
        timeout_seconds: float,
        batch_size: int,
        thumbnails: ThumbnailTarget | None = None,
    ) -> None:
        self.store = store
        self.thumbnails = thumbnails
        self.videos = VideoStore(store)
        self._embedder = embedder
        self.sampling = sampling
        self.workers = workers
        self.timeout_seconds = timeout_seconds
        self.batch_size = batch_size

    def run(self, plan: VideoPlan, on_written: Callable[[int], None]) -> VideoSummary:
        """Index ``plan``'s videos; ``on_written`` gets the number of vectors each write
        added or removed (the indexer publishes the vector index when enough piled up)."""
        summary = VideoSummary(unchanged=plan.unchanged_count)
        if plan.work:
            self._index(plan.work, summary, on_written)
        if plan.vanished_ids:
            self.videos.remove(plan.vanished_ids)
            summary.removed = len(plan.vanished_ids)
            on_written(len(plan.vanished_ids))
        return summary

    def _index(
        self, work: list[VideoWork], summary: VideoSummary, on_written: Callable[[int], None]
    ) -> None:
        embedder = self._embedder()
        plan = pixel_plan_for(embedder.preprocess)
        sampling = SamplingOptions(
            interval_seconds=self.sampling.interval_seconds,
            scene_threshold=self.sampling.scene_threshold,
            duplicate_threshold=self.sampling.duplicate_threshold,
            frame_side=self._frame_side(embedder),
        )
        pool = VideoDecoderPool(
            sampling,
            plan,
            workers=min(self.workers, len(work)),
            timeout_seconds=self.timeout_seconds,
            thumbnail_sizes=self.thumbnails.sizes if self.thumbnails else (),
        )
        try:
            results = pool.decode_in_order(item.scanned.path_bytes for item in work)
            for item, result in zip(work, results, strict=True):
                video = self._new_video(item, result, embedder)
                self.videos.write(video, embedder.model_id)
                if video.failure_reason is not None:
                    summary.failed += 1
                else:
                    summary.indexed += 1
                    summary.moments += len(video.moments)
                    summary.seconds += video.duration_seconds
                on_written(len(video.moments) + (1 if item.known else 0))
            pool.close()
        except BaseException:
            pool.abort()
            raise

    def _new_video(
        self, item: VideoWork, result: DecodedVideo | DecodeFailure, embedder: Embedder
    ) -> NewVideo:
        scanned = item.scanned
        located = {
            "root_id": item.root_id,
            "path_bytes": scanned.path_bytes,
            "relative_path": scanned.relative_path,
            "size_bytes": scanned.size_bytes,
            "mtime_ns": scanned.mtime_ns,
            "replaces_video_id": item.known.video_id if item.known else None,
        }
        if isinstance(result, DecodeFailure):
            return NewVideo(**located, failure_reason=result.reason)
        vectors = self._embed(result.pictures, embedder)
        self._write_posters(result)
        return NewVideo(
            **located,
            format=result.format,
            width=result.width,
            height=result.height,
            fingerprint=result.fingerprint,
            duration_seconds=result.duration_seconds,
            moments=[
                NewMoment(offset, vector, hint)
                for offset, vector, hint in zip(
                    result.offsets, vectors, result.placeholders, strict=True
                )
            ],
        )

    def _frame_side(self, embedder: Embedder) -> int:
        """The model's input size, or more where the smallest poster needs it (a frame's short
        side that size fills a card on a 1x screen whatever its shape)."""
        side = int(getattr(embedder, "image_size", self.sampling.frame_side))
        return max(side, min(self.thumbnails.sizes)) if self.thumbnails else side

    def _write_posters(self, result: DecodedVideo) -> None:
        """Each moment's poster thumbnails, written before the moments' rows (by their content
        hash, which names the video and the time)."""
        if self.thumbnails is None:
            return
        for offset, renditions in zip(result.offsets, result.renditions, strict=True):
            digest = moment_content_hash(result.fingerprint, offset)
            write_renditions(self.thumbnails.directory, digest, renditions)

    def _embed(self, pictures: list[np.ndarray], embedder: Embedder) -> list[np.ndarray]:
        plan = pixel_plan_for(embedder.preprocess)
        vectors: list[np.ndarray] = []
        for start in range(0, len(pictures), self.batch_size):
            batch = pictures[start : start + self.batch_size]
            if plan is not None:
                model_input = plan.model_input(np.stack(batch))
            else:
                model_input = np.stack(
                    [
                        np.asarray(embedder.preprocess(Image.fromarray(picture)), np.float32)
                        for picture in batch
                    ]
                )
            vectors.extend(embedder.embed_pixel_batch(model_input))
        return vectors
