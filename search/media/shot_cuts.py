"""Hard cuts in a stream of video frames: PySceneDetect's adaptive content detector, on numpy.

The algorithm is PySceneDetect's (Brandon Castellano, BSD-3-Clause;
``scenedetect/detectors/content_detector.py`` and ``adaptive_detector.py``): a frame's *content
score* is the mean absolute difference of its hue, saturation and value planes (OpenCV's 8-bit
HSV scale) from the previous frame's, averaged over the three; a frame is a cut when that score
is at least ``min_content`` and at least ``ratio`` times the mean score of the ``window`` frames
on each side of it. A camera pan, a zoom or a handheld shake changes every frame by about as
much as its neighbours, so the ratio stays near one; a hard cut is a lone spike. The package
itself is not used: it needs OpenCV (tens of MB) for the colour conversion alone.

Two changes to the published detector, both for the small pictures scored here:

* the hue difference of a pixel is circular and weighted by the pixel's chroma, and chroma
  replaces saturation: a grey or dark pixel's hue and saturation are noise (compression
  flicker flips them anywhere, a fade to black swings them), not a change of colour;
* the frame before is brought to the frame's overall brightness first (within a factor of 1.5):
  a light turned up, a fade or a camera's exposure flicker scales the whole picture;
* a cut must persist: the frame ``window`` frames after it still differs by ``min_content``
  from each of the ``window`` + 1 frames before it. A photographer's flash, a lightning strike
  or a dropped frame (one or two frames, then the old picture again) is not a cut, neither
  going in nor coming back; PySceneDetect's flash filter only holds cuts back by the minimum
  scene length.

The detector looks ``window`` frames ahead, so it hands frames back that many frames late,
each with its verdict (:meth:`CutDetector.push`, :meth:`CutDetector.flush`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

Payload = TypeVar("Payload")

#: AdaptiveDetector's defaults: frames compared on each side, and the spike ratio.
DEFAULT_WINDOW = 2
DEFAULT_RATIO = 3.0
#: The smallest content score (0-255) that can be a cut. PySceneDetect's 15 is for full-size
#: frames; on the shrunken picture scored here (the encoder's noise and fine texture averaged
#: away) a still shot scores below 1 between frames and a noisy, flickering one below 5, while
#: two world scenes with the same kind of background and small objects score as little as 8
#: across their cut (docs/benchmarks.md, section 25).
DEFAULT_MIN_CONTENT = 6.0
#: The most a change of overall brightness between two frames is discounted by (see
#: content_score); beyond it, what is left counts as a change of content.
MAX_GAIN = 1.5


@dataclass(frozen=True)
class CutSettings:
    window: int = DEFAULT_WINDOW
    ratio: float = DEFAULT_RATIO
    min_content: float = DEFAULT_MIN_CONTENT


def hsv_planes(pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
    """RGB pixels (..., 3) as hue (degrees / 2, 0-180, OpenCV's 8-bit scale), chroma and value
    (0-255). Chroma (max - min) stands in for saturation (chroma / value): saturation is
    undefined at black and jumps about in dark pixels, so a fade to black scored as a cut."""
    rgb = pixels.astype(np.float32)
    value = rgb.max(axis=-1)
    chroma = value - rgb.min(axis=-1)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.maximum(chroma, 1e-6)
    hue = np.where(
        value == red,
        (green - blue) / safe,
        np.where(value == green, 2.0 + (blue - red) / safe, 4.0 + (red - green) / safe),
    )
    hue = np.where(chroma > 0, (hue * 30.0) % 180.0, 0.0)
    return np.stack([hue, chroma, value], axis=-1).astype(np.float32)


def content_score(first: NDArray[np.float32], second: NDArray[np.float32]) -> float:
    """ContentDetector's frame score between two pictures from :func:`hsv_planes`, once the
    first is brought to the second's overall brightness (by at most a factor of 1.5): a light
    turned up, a fade or a camera's brightness flicker scales every pixel alike, a cut does not."""
    gain = float(np.mean(second[..., 2])) / max(float(np.mean(first[..., 2])), 1e-6)
    gain = min(max(gain, 1 / MAX_GAIN), MAX_GAIN)
    hue_step = np.abs(first[..., 0] - second[..., 0])
    hue_step = np.minimum(hue_step, 180.0 - hue_step) * (255.0 / 90.0)  # circular, 0-255
    colourful = np.maximum(first[..., 1] * gain, second[..., 1]) / 255.0
    hue = float(np.mean(hue_step * colourful))
    chroma = float(np.mean(np.abs(first[..., 1] * gain - second[..., 1])))
    value = float(np.mean(np.abs(first[..., 2] * gain - second[..., 2])))
    return (hue + chroma + value) / 3.0


@dataclass
class _Entry(Generic[Payload]):
    payload: Payload
    hsv: NDArray[np.float32]
    #: The content score from the frame before (None: the video's first frame).
    score: float | None


class CutDetector(Generic[Payload]):
    """Feed frames in order with :meth:`push`; it returns ``(payload, is_cut)`` for the frames
    it has decided on (``window`` frames behind the newest), and :meth:`flush` the rest."""

    def __init__(self, settings: CutSettings | None = None) -> None:
        self.settings = settings or CutSettings()
        if self.settings.window < 1:
            raise ValueError("the cut detector's window must be at least one frame")
        # A few decided frames (context), the undecided ones, and the look-ahead.
        self._frames: deque[_Entry[Payload]] = deque()
        self._decided = 0  # how many of _frames' leading entries are decided (context only)

    def push(self, payload: Payload, hsv: NDArray[np.float32]) -> list[tuple[Payload, bool]]:
        previous = self._frames[-1].hsv if self._frames else None
        score = None if previous is None else content_score(previous, hsv)
        self._frames.append(_Entry(payload, hsv, score))
        window = self.settings.window
        decided = []
        while len(self._frames) - self._decided > window:
            decided.append(self._decide(self._decided))
            self._decided += 1
        self._trim()
        return decided

    def flush(self) -> list[tuple[Payload, bool]]:
        """The frames still waiting for their look-ahead (the video ended): decided on the
        frames there are."""
        decided = [self._decide(index) for index in range(self._decided, len(self._frames))]
        self._frames.clear()
        self._decided = 0
        return decided

    def _decide(self, index: int) -> tuple[Payload, bool]:
        entry = self._frames[index]
        return entry.payload, self._is_cut(index)

    def _is_cut(self, index: int) -> bool:
        frames, settings = self._frames, self.settings
        score = frames[index].score
        if score is None or score < settings.min_content:
            return False
        # The scores of up to ``window`` frames on each side (fewer at either end of the video).
        around = [frames[i].score for i in range(max(0, index - settings.window), index)]
        around += [frames[i].score for i in range(index + 1, len(frames))]
        known = [value for value in around if value is not None]
        mean = float(np.mean(known)) if known else 0.0
        if mean > 0 and score / mean < settings.ratio:
            return False
        # The picture the cut leads to must differ from each one shortly before it: the return
        # from a flash of up to ``window`` frames leads back to the picture before the flash.
        after = frames[len(frames) - 1].hsv
        before = range(max(0, index - settings.window - 1), index)
        return all(content_score(frames[i].hsv, after) >= settings.min_content for i in before)

    def _trim(self) -> None:
        # Keep ``window`` + 1 decided frames: the scores and pictures before the next decision.
        surplus = self._decided - self.settings.window - 1
        for _ in range(max(0, surplus)):
            self._frames.popleft()
            self._decided -= 1
