"""Sampling videos in worker processes, each under a time limit (as images are decoded in
:mod:`indexer.decoding`): a video whose decoder hangs or crashes is skipped with a reason."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pebble import ProcessPool

from pixsift.indexer.decoding import DecodeFailure, WorkerPoolStage
from pixsift.search.media.thumbnails import make_renditions, placeholder
from pixsift.search.media.video import SamplingOptions, VideoRejectedError, sample_moments
from pixsift.search.model.pixels import PixelPlan


@dataclass(frozen=True)
class DecodedVideo:
    format: str
    width: int
    height: int
    duration_seconds: float
    fingerprint: str
    offsets: list[float]
    #: One uint8 picture per moment: cropped to the model's input when the pool has a
    #: PixelPlan, else the frame (short side the model's input size) for its preprocess.
    pictures: list[np.ndarray]
    #: Per moment: its poster's thumbnails (encoded, by long side) and its BlurHash.
    renditions: list[dict[int, bytes]] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)


def decode_video(
    path_bytes: bytes,
    options: SamplingOptions,
    plan: PixelPlan | None,
    thumbnail_sizes: tuple[int, ...] = (),
) -> DecodedVideo | DecodeFailure:
    """Sample one video's moments (runs in a worker process); each moment's poster thumbnails
    are made from the frame sampled for the model (the sizes it is large enough for)."""
    try:
        sample = sample_moments(Path(os.fsdecode(path_bytes)), options)
    except VideoRejectedError as error:
        return DecodeFailure(error.reason)
    full_side = max(sample.width, sample.height)
    pictures = [
        plan.resize_and_crop(moment.picture) if plan is not None else np.asarray(moment.picture)
        for moment in sample.moments
    ]
    return DecodedVideo(
        format=sample.format,
        width=sample.width,
        height=sample.height,
        duration_seconds=sample.duration_seconds,
        fingerprint=sample.fingerprint,
        offsets=[moment.offset_seconds for moment in sample.moments],
        pictures=pictures,
        renditions=[
            make_renditions(moment.picture, thumbnail_sizes, full_long_side=full_side)
            for moment in sample.moments
        ],
        placeholders=[placeholder(moment.picture) for moment in sample.moments],
    )


class VideoDecoderPool(WorkerPoolStage):
    """Sample videos in worker processes, yielding results in submission order."""

    def __init__(
        self,
        options: SamplingOptions,
        plan: PixelPlan | None,
        *,
        workers: int,
        timeout_seconds: float,
        thumbnail_sizes: tuple[int, ...] = (),
    ) -> None:
        self.options = options
        self.thumbnail_sizes = thumbnail_sizes
        self.plan = plan
        self.workers = workers
        self.timeout_seconds = timeout_seconds
        # spawn, not fork, as for images: the parent may have started torch's thread pools.
        self._pool = ProcessPool(max_workers=workers, context=multiprocessing.get_context("spawn"))

    def decode_in_order(
        self, path_bytes_list: Iterable[bytes]
    ) -> Iterator[DecodedVideo | DecodeFailure]:
        # A video's moments can take tens of MB: only a couple run ahead of the model.
        return self._in_order(path_bytes_list, window=self.workers + 1)

    def _submit(self, path_bytes: bytes):
        return self._pool.schedule(
            decode_video,
            args=(path_bytes, self.options, self.plan, self.thumbnail_sizes),
            timeout=self.timeout_seconds,
        )
