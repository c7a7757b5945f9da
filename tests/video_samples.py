"""Short videos with known content at known times, written with PyAV for the video tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FPS = 10
SIZE = (160, 96)


@dataclass(frozen=True)
class Segment:
    """``seconds`` of one picture: a solid ``colour``, or when ``moving`` a coloured checker
    pattern that scrolls a few pixels each frame (different pictures, the same scene)."""

    seconds: float
    colour: tuple[int, int, int]
    moving: bool = False


RED = (220, 30, 30)
BLUE = (30, 40, 220)
GREEN = (30, 200, 60)
#: 6 s of solid red, 6 s of a scrolling blue pattern, 6 s of solid green: cuts at 6 s and 12 s.
THREE_SCENES = (Segment(6, RED), Segment(6, BLUE, moving=True), Segment(6, GREEN))


def segment_frame(segment: Segment, index: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    width, height = size
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = segment.colour
    if segment.moving:
        y, x = np.mgrid[0:height, 0:width]
        shift = index * 3
        checker = (((x + shift) // 16 + y // 16) % 2).astype(bool)
        frame[checker] = (240, 240, 240)
        # A bar that crosses the picture once per segment: the picture keeps changing.
        bar = int(index / (segment.seconds * FPS) * width)
        frame[:, bar : bar + 12] = (10, 10, 10)
    return frame


def write_video(
    path: Path,
    segments: tuple[Segment, ...] = THREE_SCENES,
    *,
    codec: str = "mpeg4",
    size: tuple[int, int] = SIZE,
    fps: int = FPS,
) -> Path:
    """Encode ``segments`` one after the other into ``path`` (container from the extension)."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if codec == "mpeg4":
            stream.bit_rate = 2_000_000
        for segment in segments:
            for index in range(round(segment.seconds * fps)):
                frame = av.VideoFrame.from_ndarray(
                    segment_frame(segment, index, size), format="rgb24"
                )
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
