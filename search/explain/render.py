"""The explanation drawn over the picture, as a PNG: red where a cell raises the score, blue
where it lowers it (opacity by the size of the drop, scaled to the largest), and the parts of
the picture the model never saw (outside the centre crop) dimmed and the crop outlined."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from pixsift.search.explain.records import Explanation

#: Longest side of the overlay: enough to see the cells, small enough to send on hover.
MAX_SIDE = 640
MAX_ALPHA = 170
RAISES = (230, 30, 30)
LOWERS = (30, 90, 230)
OUTSIDE = (0, 0, 0, 150)
#: The crop's outline: white inside a dark line, visible on light and dark pictures.
CROP_LINE = (255, 255, 255, 230)
CROP_EDGE = (0, 0, 0, 200)


def overlay(
    picture: Image.Image, explanation: Explanation, *, max_side: int = MAX_SIDE
) -> Image.Image:
    """``picture`` (as decoded, any scale) at most ``max_side`` pixels long, with the
    explanation drawn over it."""
    scale = min(1.0, max_side / max(explanation.width, explanation.height))
    size = (max(1, round(explanation.width * scale)), max(1, round(explanation.height * scale)))
    # reducing_gap: a large picture is first shrunk by whole factors (cheap), then filtered.
    resized = picture.convert("RGB").resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    base = resized.convert("RGBA")
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    _dim_outside(draw, explanation, scale, size)
    largest = max((abs(cell.drop) for cell in explanation.cells), default=0.0)
    for cell in explanation.cells:
        strength = abs(cell.drop) / largest if largest > 0 else 0.0
        colour = RAISES if cell.drop > 0 else LOWERS
        box = _scaled(cell.box, scale)
        draw.rectangle(box, fill=(*colour, round(MAX_ALPHA * strength)))
        draw.rectangle(box, outline=(255, 255, 255, 40))
    _outline_crop(draw, explanation, scale, size)
    return Image.alpha_composite(base, layer).convert("RGB")


def overlay_png(
    picture: Image.Image, explanation: Explanation, *, max_side: int = MAX_SIDE
) -> bytes:
    buffer = io.BytesIO()
    overlay(picture, explanation, max_side=max_side).save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def _dim_outside(
    draw: ImageDraw.ImageDraw, explanation: Explanation, scale: float, size: tuple[int, int]
) -> None:
    left, top, right, bottom = (np.asarray(explanation.crop_box) * scale).round().astype(int)
    width, height = size
    strips = [(0, 0, width, top), (0, bottom, width, height)]
    strips += [(0, top, left, bottom), (right, top, width, bottom)]
    for x0, y0, x1, y1 in strips:
        if x1 > x0 and y1 > y0:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=OUTSIDE)


def _outline_crop(
    draw: ImageDraw.ImageDraw, explanation: Explanation, scale: float, size: tuple[int, int]
) -> None:
    """Outline what the model saw, when that is not the whole picture: the page's legend says
    why the rest is dimmed."""
    left, top, right, bottom = (np.asarray(explanation.crop_box) * scale).round().astype(int)
    width, height = size
    if left <= 0 and top <= 0 and right >= width and bottom >= height:
        return
    box = (int(left), int(top), max(int(left), int(right) - 1), max(int(top), int(bottom) - 1))
    draw.rectangle(box, outline=CROP_EDGE, width=3)
    inner = (box[0] + 1, box[1] + 1, max(box[0] + 1, box[2] - 1), max(box[1] + 1, box[3] - 1))
    draw.rectangle(inner, outline=CROP_LINE, width=1)


def _scaled(box: tuple[float, float, float, float], scale: float) -> tuple[int, int, int, int]:
    """A box on the picture as whole pixels of the overlay (right and bottom inclusive)."""
    left, top, right, bottom = (np.asarray(box) * scale).round().astype(int).tolist()
    return left, top, max(left, right - 1), max(top, bottom - 1)
