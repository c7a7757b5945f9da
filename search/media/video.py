"""Video files as a sequence of moments: frames sampled at scene changes and at least every few
seconds, decoded with PyAV (FFmpeg's libraries, shipped in its wheel).

Every decoded frame is shrunk to a tiny colour picture (swscale does the shrinking, which also
blurs away texture and noise); a hard cut is a change of hue, saturation and value between two
consecutive tiny pictures that stands out from the changes around it and persists
(search.media.shot_cuts: PySceneDetect's adaptive content detector). A sampled frame that
differs little from the last kept moment is not kept again: a static shot yields one moment,
not one per interval. Decoding is hostile-file safe in the sense
that every FFmpeg error becomes a :class:`VideoRejectedError` with a reason; hangs and crashes
are the caller's to contain (the indexer runs this in a pebble worker with a time limit).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixsift.search.media.errors import MAX_REASON_DETAIL, ImageRejectedError
from pixsift.search.media.shot_cuts import (
    DEFAULT_MIN_CONTENT,
    CutDetector,
    CutSettings,
    hsv_planes,
)

#: Extension (lower case, with the dot) -> the format name stored with each moment.
VIDEO_FORMATS: dict[str, str] = {
    ".mp4": "MP4",
    ".m4v": "MP4",
    ".mov": "MOV",
    ".mkv": "MKV",
    ".webm": "WEBM",
    ".avi": "AVI",
}
VIDEO_EXTENSIONS = frozenset(VIDEO_FORMATS)
#: Format name -> the MIME type a browser's <video> needs to play it.
VIDEO_MIME_TYPES: dict[str, str] = {
    "MP4": "video/mp4",
    "MOV": "video/quicktime",
    "MKV": "video/x-matroska",
    "WEBM": "video/webm",
    "AVI": "video/x-msvideo",
}

DEFAULT_INTERVAL_SECONDS = 10.0
#: The smallest content score (hue/saturation/value difference, 0-255, between consecutive tiny
#: pictures) that can be a hard cut; search.media.shot_cuts also needs it to stand out from
#: the frames around it (motion changes every frame alike) and to persist (a flash does not).
DEFAULT_SCENE_THRESHOLD = DEFAULT_MIN_CONTENT
#: A sampled frame this close (same scale) to the last kept moment is the same picture again.
DEFAULT_DUPLICATE_THRESHOLD = 3.0
#: Cuts closer than this to the last moment are not sampled (flashes, strobes, fast editing).
MIN_SCENE_GAP_SECONDS = 1.0
#: Bounds the memory one video can take (a moment is about 150 kB until it is embedded).
MAX_MOMENTS = 3600
_TINY_SIZE = (32, 18)
#: Bytes read from each end of a video for its fingerprint (hashing whole videos is too slow).
_FINGERPRINT_BYTES = 1 << 20


class VideoRejectedError(ImageRejectedError):
    """A video that cannot be indexed; ``reason`` says why, for the failure list."""


def _ffmpeg_reason(error: Exception) -> str:
    # FFmpeg's message without the file name it appends (the failure list names the file).
    detail = getattr(error, "strerror", None) or str(error)
    return f"the video cannot be decoded: {detail}"[:MAX_REASON_DETAIL]


@dataclass(frozen=True)
class SamplingOptions:
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    #: The cut detector's smallest content score (search.media.shot_cuts.CutSettings).
    scene_threshold: float = DEFAULT_SCENE_THRESHOLD
    duplicate_threshold: float = DEFAULT_DUPLICATE_THRESHOLD
    #: Short side, in pixels, of the frames handed back (the model's input size).
    frame_side: int = 224


@dataclass(frozen=True)
class SampledMoment:
    offset_seconds: float
    #: RGB frame, short side ``frame_side``.
    picture: Image.Image
    scene_change: bool


@dataclass
class VideoSample:
    """What sampling found in one video."""

    format: str
    width: int
    height: int
    duration_seconds: float
    fingerprint: str
    moments: list[SampledMoment] = field(default_factory=list)


def video_format(path: Path | str | bytes) -> str | None:
    """The format name of a video path, by its extension (None: not a video)."""
    name = os.fsdecode(path)
    return VIDEO_FORMATS.get(os.path.splitext(name)[1].lower())


def fingerprint_file(path: Path) -> str:
    """A content fingerprint from the size and both ends of the file."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(_FINGERPRINT_BYTES))
        if size > 2 * _FINGERPRINT_BYTES:
            handle.seek(-_FINGERPRINT_BYTES, os.SEEK_END)
            digest.update(handle.read(_FINGERPRINT_BYTES))
    return digest.hexdigest()


def sample_moments(path: Path, options: SamplingOptions) -> VideoSample:
    """Decode ``path`` and return its moments, in time order."""
    import av

    try:
        fingerprint = fingerprint_file(path)
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise VideoRejectedError("the file has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            sample = VideoSample(
                format=video_format(path) or "VIDEO",
                width=int(stream.codec_context.width or 0),
                height=int(stream.codec_context.height or 0),
                duration_seconds=_duration(container, stream),
                fingerprint=fingerprint,
            )
            _sample_stream(container.decode(stream), _start(stream), options, sample)
    except av.FFmpegError as error:
        raise VideoRejectedError(_ffmpeg_reason(error)) from None
    except OSError as error:
        raise VideoRejectedError(f"the video cannot be read: {error.strerror or error}") from None
    if not sample.moments:
        raise VideoRejectedError("the video holds no decodable frame")
    last = sample.moments[-1].offset_seconds
    sample.duration_seconds = max(sample.duration_seconds, last)
    return sample


def _sample_stream(frames, start: float, options: SamplingOptions, sample: VideoSample) -> None:
    """Keep a moment every interval and at each hard cut (search.media.shot_cuts decides, a
    few frames behind the decoder)."""
    detector: CutDetector[_Frame] = CutDetector(CutSettings(min_content=options.scene_threshold))
    sampler = _Sampler(options, sample)
    for frame in frames:
        if frame.time is None:
            continue
        offset = max(0.0, float(frame.time) - start)
        pixels = frame.to_ndarray(width=_TINY_SIZE[0], height=_TINY_SIZE[1], format="rgb24")
        decided = detector.push(
            _Frame(frame, offset, pixels.astype(np.float32)), hsv_planes(pixels)
        )
        if not sampler.take_all(decided):
            return
    sampler.take_all(detector.flush())


@dataclass(frozen=True)
class _Frame:
    frame: object  # av.VideoFrame
    offset: float
    tiny: NDArray[np.float32]


class _Sampler:
    """Keeps a moment every interval and at each cut. A cut too close to the last kept moment
    (fast editing) is sampled once that gap has passed, still inside the new shot if it lasts
    that long: no shot of MIN_SCENE_GAP_SECONDS or more goes without a moment."""

    def __init__(self, options: SamplingOptions, sample: VideoSample) -> None:
        self.options, self.sample = options, sample
        self.kept_tiny: NDArray[np.float32] | None = None
        self.last_sampled = self.last_kept = -np.inf
        self.pending_cut = False

    def take_all(self, decided: list[tuple[_Frame, bool]]) -> bool:
        """Consider each decided frame; False once the video holds MAX_MOMENTS."""
        for item, is_cut in decided:
            self._take(item, is_cut)
            if len(self.sample.moments) >= MAX_MOMENTS:
                return False
        return True

    def _take(self, item: _Frame, is_cut: bool) -> None:
        self.pending_cut = self.pending_cut or is_cut
        due = item.offset - self.last_sampled >= self.options.interval_seconds
        cut_due = self.pending_cut and item.offset - self.last_kept >= MIN_SCENE_GAP_SECONDS
        if not (due or cut_due):
            return
        self.last_sampled, self.pending_cut = item.offset, False
        kept = self.kept_tiny
        if kept is not None and _difference(item.tiny, kept) < self.options.duplicate_threshold:
            return  # the same picture as the last moment: it still stands for this one
        self.kept_tiny, self.last_kept = item.tiny, item.offset
        picture = _picture(item.frame, self.options.frame_side)
        self.sample.moments.append(SampledMoment(item.offset, picture, cut_due))


def _difference(first: NDArray[np.float32], second: NDArray[np.float32]) -> float:
    return float(np.mean(np.abs(first - second)))


def _picture(frame, side: int) -> Image.Image:
    """The frame as RGB, scaled by swscale so that its short side is ``side`` (never up)."""
    width, height = frame.width, frame.height
    scale = min(1.0, side / max(1, min(width, height)))
    return frame.to_image(width=max(1, round(width * scale)), height=max(1, round(height * scale)))


def _start(stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def read_frame(
    path: Path | BinaryIO, offset_seconds: float, side: int | None = None
) -> Image.Image:
    """The frame shown at ``offset_seconds`` (the first at or after it), for thumbnails; with
    ``side``, scaled as sampled moments are (short side ``side``, never up).
    ``path`` may be a file already open (the server opens it checked, search.media.opening)."""
    import av

    source = str(path) if isinstance(path, Path) else path
    try:
        with av.open(source, metadata_errors="ignore") as container:
            if not container.streams.video:
                raise VideoRejectedError("the file has no video stream")
            stream = container.streams.video[0]
            start = _start(stream)
            target = start + offset_seconds
            if stream.time_base is not None:
                # Seeks to the key frame at or before the target; decoding walks to it.
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
            picture = None
            for frame in container.decode(stream):
                picture = frame
                if frame.time is not None and frame.time >= target - 1e-3:
                    break
    except av.FFmpegError as error:
        raise VideoRejectedError(_ffmpeg_reason(error)) from None
    except OSError as error:
        raise VideoRejectedError(f"the video cannot be read: {error.strerror or error}") from None
    if picture is None:
        raise VideoRejectedError("the video holds no frame at that time")
    return picture.to_image() if side is None else _picture(picture, side)
