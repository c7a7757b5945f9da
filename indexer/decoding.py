"""Stage 2: reading, decoding and preprocessing images in worker processes.

Decoding runs in a pebble process pool so that a decoder that hangs is killed at its time limit
and one that crashes its process is replaced; either way the file is skipped with a reason and
the run goes on. Workers run ahead of the model within a bounded window, which keeps the model fed
without holding the whole corpus in memory.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from pebble import ProcessExpired, ProcessPool
from PIL import Image

from pixsift.indexer.ocr_engine import (
    OCR_TIMEOUT_SECONDS,
    RecognisedText,
    limit_engine_threads,
    recognise_file,
    recognise_pixels,
)
from pixsift.search.media.imagefile import ImageRejectedError, read_image_for_embedding
from pixsift.search.media.pixels import reduce
from pixsift.search.media.thumbnails import make_renditions, placeholder
from pixsift.search.model.pixels import PixelPlan, pixel_plan_for
from pixsift.search.records import ImageFacts

if TYPE_CHECKING:
    from pixsift.search.model.protocol import ImagePreprocess


@dataclass(frozen=True)
class DecodedImage:
    #: H x W x 3 uint8 when the pool has a PixelPlan, else the preprocess output (3 x H x W
    #: float32); :meth:`DecoderPool.model_input` turns a batch of either into model input.
    pixels: np.ndarray
    metadata: ImageFacts
    content_hash: str
    #: The text recognised in the picture, when the pool runs OCR.
    text: RecognisedText | None = None
    #: Set where decoding and embedding ran together (on a Ray worker): the driver's pipeline
    #: then commits this vector instead of running its own model on ``pixels`` (left empty).
    embedding: np.ndarray | None = None
    #: The thumbnails and preview made from the decoded picture (encoded, by long side), for
    #: the indexer to write once the image is committed; empty when none were asked for.
    renditions: dict[int, bytes] = field(default_factory=dict)
    #: The picture's BlurHash (search.media.thumbnails.placeholder).
    placeholder: str | None = None


@dataclass(frozen=True)
class DecodeFailure:
    reason: str


DecodeResult = DecodedImage | DecodeFailure

_worker_plan: PixelPlan | None = None
_worker_preprocess: ImagePreprocess | None = None
_worker_min_side = 224
_worker_ocr = False
_worker_thumbnail_sizes: tuple[int, ...] = ()


def _initialise_worker(
    plan: PixelPlan | None,
    preprocess: ImagePreprocess | None,
    min_side: int,
    ocr: bool = False,
    thumbnail_sizes: tuple[int, ...] = (),
) -> None:
    global _worker_plan, _worker_preprocess, _worker_min_side, _worker_ocr
    global _worker_thumbnail_sizes
    _worker_plan, _worker_preprocess, _worker_min_side = plan, preprocess, min_side
    _worker_ocr, _worker_thumbnail_sizes = ocr, thumbnail_sizes
    if ocr:
        limit_engine_threads()
    if preprocess is not None:
        import torch

        # One thread per worker: the parallelism is across processes; the model needs the cores.
        torch.set_num_threads(1)


def decode_file(path_bytes: bytes) -> DecodeResult:
    """Read, decode and preprocess one file (runs in a worker process); its thumbnails and
    placeholder are made from the same decoded picture."""
    sizes = _worker_thumbnail_sizes
    try:
        loaded = read_image_for_embedding(
            os.fsdecode(path_bytes), min_side=_worker_min_side, min_long_side=max(sizes, default=0)
        )
    except ImageRejectedError as error:
        return DecodeFailure(error.reason)
    text = _recognise(path_bytes, loaded.pixels, loaded.metadata) if _worker_ocr else None
    renditions = make_renditions(loaded.pixels, sizes) if sizes else {}
    # Decoded large for the thumbnails: the model's steps run on a copy reduced as before.
    picture = reduce(loaded.pixels, _worker_min_side) if sizes else loaded.pixels
    if _worker_plan is not None:
        pixels = _worker_plan.resize_and_crop(picture)
    else:
        assert _worker_preprocess is not None, "worker not initialised"
        pixels = _worker_preprocess(picture).numpy().astype(np.float32, copy=False)
    return DecodedImage(
        pixels=pixels,
        metadata=loaded.metadata,
        content_hash=loaded.content_hash,
        text=text,
        renditions=renditions,
        placeholder=placeholder(picture),
    )


def _recognise(path_bytes: bytes, pixels: Image.Image, metadata: ImageFacts) -> RecognisedText:
    # A JPEG decodes reduced for the model; OCR reads it again at full size.
    if pixels.size == (metadata.width, metadata.height) or pixels.size == (
        metadata.height,
        metadata.width,
    ):
        return recognise_pixels(pixels)
    return recognise_file(path_bytes)


def initialise_decoder(preprocess: ImagePreprocess, min_side: int) -> PixelPlan | None:
    """Make this process decode files for ``preprocess`` (a Ray worker does, in-process)."""
    plan = pixel_plan_for(preprocess)
    _initialise_worker(plan, None if plan else preprocess, min_side)
    return plan


def set_thumbnail_sizes(sizes: tuple[int, ...]) -> None:
    """The thumbnail sizes :func:`decode_file` makes in this process (a Ray worker's are given
    with each batch: they belong to the run, and a restarted actor would lose them)."""
    global _worker_thumbnail_sizes
    _worker_thumbnail_sizes = tuple(sizes)


def model_input(plan: PixelPlan | None, decoded: list[DecodedImage]) -> np.ndarray:
    """A batch of decoded images as model input (N x 3 x H x W float32)."""
    stacked = np.stack([image.pixels for image in decoded])
    return plan.model_input(stacked) if plan is not None else stacked


def default_worker_count() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


class WorkerPoolStage:
    """What the image and video decoder pools share: a pebble pool whose futures become a
    result or a :class:`DecodeFailure` with a reason (a time-out, a crashed worker, an error),
    never an exception that would end the run."""

    _pool: ProcessPool
    timeout_seconds: float

    def _result(self, future):
        try:
            return future.result()
        except FutureTimeoutError:
            return DecodeFailure(f"decoding took longer than {self.timeout_seconds:g} s")
        except ProcessExpired as error:
            return DecodeFailure(f"the decoder crashed (exit code {error.exitcode})")
        except Exception as error:
            return DecodeFailure(f"unexpected decoder error: {type(error).__name__}: {error}")

    def _in_order(self, path_bytes_list: Iterable[bytes], window: int) -> Iterator:
        """Results in submission order, with at most ``window`` files submitted ahead."""
        pending: deque = deque()
        paths = iter(path_bytes_list)
        for path_bytes in paths:
            pending.append(self._submit(path_bytes))
            if len(pending) >= window:
                break
        while pending:
            future = pending.popleft()
            next_path = next(paths, None)
            if next_path is not None:
                pending.append(self._submit(next_path))
            yield self._result(future)

    def _submit(self, path_bytes: bytes):
        raise NotImplementedError

    def close(self) -> None:
        self._pool.close()
        self._pool.join()

    def abort(self) -> None:
        self._pool.stop()
        self._pool.join()


class DecoderPool(WorkerPoolStage):
    """Decode files in worker processes, yielding results in submission order."""

    def __init__(
        self,
        preprocess: ImagePreprocess,
        *,
        min_side: int,
        workers: int,
        timeout_seconds: float,
        ocr: bool = False,
        thumbnail_sizes: tuple[int, ...] = (),
        lookahead: int = 0,
    ) -> None:
        self.workers = workers
        # Files decoded ahead of the model: at least a batch, so that the workers fill the next
        # batch while the model embeds this one (8 per worker alone left a batch of 32 waiting
        # for 24 decodes after every model pass).
        self.window = max(workers * 8, lookahead)
        # OCR runs in the same call as decoding: its own time limit is added to the file's.
        self.timeout_seconds = timeout_seconds + (OCR_TIMEOUT_SECONDS if ocr else 0.0)
        # With the standard transform, workers run it as plain PIL steps and never import torch.
        self.plan = pixel_plan_for(preprocess)
        # spawn, not fork: forking a process that has started torch's thread pools can deadlock.
        self._pool = ProcessPool(
            max_workers=workers,
            initializer=_initialise_worker,
            initargs=(self.plan, None if self.plan else preprocess, min_side, ocr, thumbnail_sizes),
            context=multiprocessing.get_context("spawn"),
        )

    def model_input(self, decoded: list[DecodedImage]) -> np.ndarray:
        """A batch of decoded images as model input (N x 3 x H x W float32)."""
        return model_input(self.plan, decoded)

    def decode_in_order(self, path_bytes_list: Iterable[bytes]) -> Iterator[DecodeResult]:
        return self._in_order(path_bytes_list, window=self.window)

    def _submit(self, path_bytes: bytes):
        return self._pool.schedule(decode_file, args=(path_bytes,), timeout=self.timeout_seconds)
