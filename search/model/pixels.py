"""open_clip's evaluation transform without torch, split so that decode workers need neither torch
nor floats, and a search by example image needs no torch either.

The standard open_clip transform is: resize the shorter side (bicubic or bilinear), centre-crop (or,
SigLIP's "squash", resize both sides to the square), convert to RGB, scale to [0, 1], normalise by
mean and std. The first three steps are plain PIL operations; a worker runs them and sends back a
small uint8 array (a quarter of the float32 tensor's size, and no torch import in the worker, which
saves seconds of start-up per worker). The main process then scales and normalises whole batches
with numpy. The result equals torchvision's output exactly, because torchvision performs the same
PIL calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray
from PIL import Image

UInt8Pixels = NDArray[np.uint8]
ResizeMode = Literal["shortest", "squash"]
RESIZE_MODES: tuple[str, ...] = get_args(ResizeMode)
_PIL_RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
_CONVERSION_STEPS = {"MaybeConvertMode", "_convert_to_rgb", "MaybeToTensor", "ToTensor"}


@dataclass(frozen=True)
class PixelPlan:
    """The resize-and-crop geometry and the normalisation of one model's preprocessing."""

    size: int
    resampling: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    #: "shortest": the shorter side resized, then a centred square crop (CLIP's transform);
    #: "squash": both sides resized to the square, nothing cut (SigLIP's ``resize_mode``).
    resize_mode: ResizeMode = "shortest"

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PixelPlan:
        """The plan a sidecar recorded (``dataclasses.asdict`` of one; older ones have no
        resize mode and were all "shortest")."""
        mode = str(raw.get("resize_mode", "shortest"))
        if mode not in RESIZE_MODES:
            raise ValueError(f"unknown resize mode {mode!r}")
        return cls(
            size=int(raw["size"]),
            resampling=int(raw["resampling"]),
            mean=tuple(float(value) for value in raw["mean"]),  # type: ignore[arg-type]
            std=tuple(float(value) for value in raw["std"]),  # type: ignore[arg-type]
            resize_mode=mode,  # type: ignore[arg-type]
        )

    def resize_and_crop(self, image: Image.Image) -> UInt8Pixels:
        """H x W x 3 uint8 pixels, as torchvision's Resize(size) + CenterCrop(size) give them
        (or Resize((size, size)) for "squash")."""
        if self.resize_mode == "squash":
            square = (self.size, self.size)
            if image.size != square:
                image = image.resize(square, self.resampling)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
        width, height = image.size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.size, int(self.size * long / short)
        new_size = (new_short, new_long) if width <= height else (new_long, new_short)
        if new_size != image.size:
            image = image.resize(new_size, self.resampling)
        left = round((new_size[0] - self.size) / 2.0)
        top = round((new_size[1] - self.size) / 2.0)
        cropped = image.crop((left, top, left + self.size, top + self.size))
        return np.asarray(cropped.convert("RGB"), dtype=np.uint8)

    def model_input(self, pixel_batch: UInt8Pixels) -> NDArray[np.float32]:
        """N x H x W x 3 uint8 -> N x 3 x H x W float32, scaled and normalised."""
        scaled = pixel_batch.astype(np.float32) * np.float32(1 / 255)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        normalised = (scaled - mean) / std
        return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2))


def pixel_plan_for(preprocess: Any) -> PixelPlan | None:
    """The plan equivalent to ``preprocess``, or None when it is not the standard transform
    (then the worker runs ``preprocess`` itself)."""
    planned = getattr(preprocess, "pixel_plan", None)
    if isinstance(planned, PixelPlan):
        return planned
    steps = list(getattr(preprocess, "transforms", []))
    names = [getattr(step, "__name__", type(step).__name__) for step in steps]
    if len(steps) >= 2 and names[0] == "Resize" and names[1] != "CenterCrop":
        return _squash_plan(steps, names)
    if len(steps) < 3 or names[0] != "Resize" or names[1] != "CenterCrop":
        return None
    if names[-1] != "Normalize" or not set(names[2:-1]) <= _CONVERSION_STEPS:
        return None
    resize, crop, normalize = steps[0], steps[1], steps[-1]
    size = resize.size if isinstance(resize.size, int) else None
    if isinstance(resize.size, (list, tuple)) and len(resize.size) == 1:
        size = int(resize.size[0])
    crop_size = crop.size if isinstance(crop.size, (list, tuple)) else (crop.size, crop.size)
    resampling = _PIL_RESAMPLING.get(getattr(resize.interpolation, "value", ""))
    if size is None or resize.max_size is not None or resampling is None:
        return None
    if tuple(crop_size) != (size, size) or len(normalize.mean) != 3:
        return None
    return PixelPlan(
        size=size,
        resampling=resampling,
        mean=tuple(float(value) for value in normalize.mean),  # type: ignore[arg-type]
        std=tuple(float(value) for value in normalize.std),  # type: ignore[arg-type]
    )


def _squash_plan(steps: list[Any], names: list[str]) -> PixelPlan | None:
    """open_clip's ``resize_mode="squash"`` transform (SigLIP's): Resize((size, size)), the
    conversions, Normalize."""
    resize, normalize = steps[0], steps[-1]
    if names[-1] != "Normalize" or not set(names[1:-1]) <= _CONVERSION_STEPS:
        return None
    sides = resize.size if isinstance(resize.size, (list, tuple)) else ()
    resampling = _PIL_RESAMPLING.get(getattr(resize.interpolation, "value", ""))
    if len(sides) != 2 or sides[0] != sides[1] or resize.max_size is not None:
        return None
    if resampling is None or len(normalize.mean) != 3:
        return None
    return PixelPlan(
        size=int(sides[0]),
        resampling=resampling,
        mean=tuple(float(value) for value in normalize.mean),  # type: ignore[arg-type]
        std=tuple(float(value) for value in normalize.std),  # type: ignore[arg-type]
        resize_mode="squash",
    )


class PlannedPreprocess:
    """One image through a :class:`PixelPlan` (3 x H x W float32), for towers that run without
    torch; the decode workers recognise it and run the plan's PIL steps themselves."""

    def __init__(self, plan: PixelPlan) -> None:
        self.pixel_plan = plan

    def __call__(self, image: Image.Image) -> NDArray[np.float32]:
        plan = self.pixel_plan
        return plan.model_input(plan.resize_and_crop(image)[np.newaxis])[0]
