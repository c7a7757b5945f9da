"""Drawing a scene with Pillow at any size. The scene lives in the central square of the
canvas (so a centre crop keeps every object); the background fills the whole canvas."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmarks.world.scenes import COLOURS, SIZES, Scene, Thing

FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def render(scene: Scene, size: tuple[int, int] = (128, 128)) -> Image.Image:
    """The upright RGB picture of ``scene`` at ``size`` (width, height)."""
    width, height = size
    picture = Image.fromarray(_background(scene, width, height))
    draw = ImageDraw.Draw(picture)
    side = min(width, height)
    origin = ((width - side) / 2, (height - side) / 2)
    for thing in scene.things:
        _draw_thing(draw, thing, origin, side, picture)
    if scene.word:
        font = _font(max(8, int(side * 0.13)))
        x, y = origin[0] + side * 0.5, origin[1] + side * 0.93
        draw.text((x, y), scene.word, fill=(255, 255, 255), font=font, anchor="ms",
                  stroke_width=max(1, side // 100), stroke_fill=(0, 0, 0))  # fmt: skip
    return picture


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_PATH, size)


def _background(scene: Scene, width: int, height: int) -> np.ndarray:
    tone = np.array(scene.tone, dtype=np.float32)
    other = 255 - tone * 0.6  # a second tone, lighter or darker than the first
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    unit = max(4.0, min(width, height) / 10)  # pattern period scales with the picture
    kind = scene.background
    if kind == "plain":
        mix = np.zeros((height, width), np.float32)
    elif kind == "gradient":
        mix = x / max(1, width - 1)
    elif kind == "noisy":
        rng = np.random.default_rng(scene.seed)
        coarse = rng.random((max(2, height // 3), max(2, width // 3))).astype(np.float32)
        mix = np.asarray(Image.fromarray(coarse).resize((width, height), Image.NEAREST))
    elif kind == "striped":
        mix = ((y // (unit / 2)) % 2).astype(np.float32)
    elif kind == "checkered":
        mix = ((x // unit + y // unit) % 2).astype(np.float32)
    else:  # dotted
        cell_x, cell_y = (x % unit) - unit / 2, (y % unit) - unit / 2
        mix = (cell_x**2 + cell_y**2 < (unit / 4) ** 2).astype(np.float32)
    pixels = tone * (1 - mix[..., None] * 0.55) + other * (mix[..., None] * 0.55)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _polygon(
    points: int, radius: float, inner: float | None, turn: float
) -> list[tuple[float, float]]:
    """Unit-centred corners of a regular polygon (or a star, with an inner radius)."""
    corners = []
    steps = points * 2 if inner is not None else points
    for step in range(steps):
        angle = math.radians(turn - 90 + 360 * step / steps)
        r = radius if inner is None or step % 2 == 0 else inner
        corners.append((r * math.cos(angle), r * math.sin(angle)))
    return corners


def _turned(points: list[tuple[float, float]], turn: float) -> list[tuple[float, float]]:
    c, s = math.cos(math.radians(turn)), math.sin(math.radians(turn))
    return [(x * c - y * s, x * s + y * c) for x, y in points]


def _outline(shape: str, r: float, turn: float) -> list[tuple[float, float]] | None:
    if shape == "square":
        return _polygon(4, r * 1.25, None, turn + 45)
    if shape == "triangle":
        return _polygon(3, r * 1.2, None, turn)
    if shape == "star":
        return _polygon(5, r * 1.25, r * 0.5, turn)
    if shape == "diamond":
        return _turned([(0, -r * 1.3), (r * 0.8, 0), (0, r * 1.3), (-r * 0.8, 0)], turn)
    if shape == "hexagon":
        return _polygon(6, r * 1.1, None, turn)
    if shape == "pentagon":
        return _polygon(5, r * 1.15, None, turn)
    if shape == "cross":
        a, b = r * 0.35, r * 1.15
        cross = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b),
                 (-a, a), (-b, a), (-b, -a), (-a, -a)]  # fmt: skip
        return _turned(cross, turn)
    if shape == "arrow":
        arrow = [(-r * 1.2, -r * 0.3), (0, -r * 0.3), (0, -r * 0.8), (r * 1.2, 0),
                 (0, r * 0.8), (0, r * 0.3), (-r * 1.2, r * 0.3)]  # fmt: skip
        return _turned(arrow, turn)
    return None


def _draw_thing(
    draw: ImageDraw.ImageDraw,
    thing: Thing,
    origin: tuple[float, float],
    side: int,
    picture: Image.Image,
) -> None:
    cx, cy = origin[0] + thing.x * side, origin[1] + thing.y * side
    r = SIZES[thing.size] * side
    fill = COLOURS[thing.colour]
    outline = _outline(thing.shape, r, thing.turn)
    if outline is not None:
        draw.polygon([(cx + x, cy + y) for x, y in outline], fill=fill)
    elif thing.shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif thing.shape == "ring":
        draw.ellipse((cx - r * 1.1, cy - r * 1.1, cx + r * 1.1, cy + r * 1.1), outline=fill,
                     width=max(2, int(r * 0.38)))  # fmt: skip
    elif thing.shape == "crescent":
        _crescent(picture, cx, cy, r, fill, thing.turn)
    else:  # heart: two discs and a triangle
        d = r * 0.55
        draw.ellipse((cx - 2 * d, cy - d * 1.6, cx, cy + d * 0.4), fill=fill)
        draw.ellipse((cx, cy - d * 1.6, cx + 2 * d, cy + d * 0.4), fill=fill)
        draw.polygon([(cx - 2 * d + 1, cy - d * 0.3), (cx + 2 * d - 1, cy - d * 0.3),
                      (cx, cy + r * 1.2)], fill=fill)  # fmt: skip


def _crescent(picture: Image.Image, cx: float, cy: float, r: float, fill: tuple[int, int, int],
              turn: float) -> None:  # fmt: skip
    """A disc minus an offset disc, pasted through a mask (the background shows through)."""
    size = int(r * 2.4) + 2
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    middle = size / 2
    draw.ellipse((middle - r, middle - r, middle + r, middle + r), fill=255)
    shift = r * 0.55
    angle = math.radians(turn)
    ox, oy = middle + shift * math.cos(angle), middle + shift * math.sin(angle)
    draw.ellipse((ox - r * 0.85, oy - r * 0.85, ox + r * 0.85, oy + r * 0.85), fill=0)
    picture.paste(Image.new("RGB", (size, size), fill), (int(cx - middle), int(cy - middle)), mask)
