"""Scenes written as the files users have: JPEG at several qualities and sizes (some stored
rotated with an EXIF Orientation tag, so only a reader that honours it sees them upright), PNG
with transparency, WebP, HEIC; and short videos of several shots. A manifest lists what was
written: file, caption, scene number, format, whether the scene holds a held-out pair."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from benchmarks.world.render import render
from benchmarks.world.scenes import Scene

#: EXIF orientations the rotated JPEGs cycle through: mirrored, upside down, 90° each way.
ORIENTATIONS = (2, 3, 6, 8)
#: The stored pixels for each orientation: the transpose whose inverse ImageOps.exif_transpose
#: applies, so the upright picture is the scene.
_STORED = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}
TRANSPARENT_BORDER = 0.06  # share of each side left fully transparent in the PNGs


@dataclass(frozen=True)
class FileFormat:
    """One way of writing a scene: extension, canvas size (width, height) and encoder."""

    name: str
    suffix: str
    size: tuple[int, int]
    write: Callable[[Image.Image, Path, int], None]


def _jpeg(quality: int) -> Callable[[Image.Image, Path, int], None]:
    def write(picture: Image.Image, path: Path, number: int) -> None:
        picture.save(path, "JPEG", quality=quality)

    return write


def _rotated_jpeg(picture: Image.Image, path: Path, number: int) -> None:
    orientation = ORIENTATIONS[number % len(ORIENTATIONS)]
    exif = Image.Exif()
    exif[0x0112] = orientation
    picture.transpose(_STORED[orientation]).save(path, "JPEG", quality=90, exif=exif)


def _transparent_png(picture: Image.Image, path: Path, number: int) -> None:
    """The scene with a fully transparent border whose hidden colour is black: a reader that
    drops alpha instead of compositing on white sees a black frame."""
    rgba = picture.convert("RGBA")
    pixels = np.asarray(rgba).copy()
    height, width = pixels.shape[:2]
    border = max(1, int(min(width, height) * TRANSPARENT_BORDER))
    mask = np.ones((height, width), dtype=bool)
    mask[border:-border, border:-border] = False
    pixels[mask] = (0, 0, 0, 0)
    Image.fromarray(pixels, "RGBA").save(path, "PNG")


def _webp(picture: Image.Image, path: Path, number: int) -> None:
    picture.save(path, "WEBP", quality=85)


def _heic(picture: Image.Image, path: Path, number: int) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    picture.save(path, "HEIF", quality=85)


FORMATS: dict[str, FileFormat] = {
    f.name: f
    for f in (
        FileFormat("jpeg-q95", ".jpg", (640, 480), _jpeg(95)),
        FileFormat("jpeg-q75-small", ".jpg", (240, 180), _jpeg(75)),
        FileFormat("jpeg-q50-large", ".jpg", (1600, 1200), _jpeg(50)),
        FileFormat("jpeg-exif-rotated", ".jpg", (640, 480), _rotated_jpeg),
        FileFormat("png-transparent", ".png", (400, 300), _transparent_png),
        FileFormat("webp", ".webp", (480, 360), _webp),
        FileFormat("heic", ".heic", (480, 360), _heic),
    )
}


@dataclass(frozen=True)
class WrittenFile:
    file: str  # relative to the folder
    caption: str
    scene: int
    format: str
    held_out: bool


def write_scenes(
    scene_list: Sequence[Scene], folder: Path, file_format: FileFormat
) -> list[WrittenFile]:
    """Write every scene in ``file_format`` into ``folder`` (created), with manifest.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for number, scene in enumerate(scene_list):
        name = f"scene-{number:05d}{file_format.suffix}"
        file_format.write(render(scene, file_format.size), folder / name, number)
        written.append(WrittenFile(name, scene.caption, number, file_format.name, scene.held_out))
    _write_manifest(folder, written)
    return written


def write_mixed(scene_list: Sequence[Scene], folder: Path) -> list[WrittenFile]:
    """Every scene in one folder, scene i in the i-th format (cycling through all of them): one
    library holds every format, as a user's folder does."""
    folder.mkdir(parents=True, exist_ok=True)
    formats = list(FORMATS.values())
    written = []
    for number, scene in enumerate(scene_list):
        file_format = formats[number % len(formats)]
        name = f"scene-{number:05d}{file_format.suffix}"
        file_format.write(render(scene, file_format.size), folder / name, number)
        written.append(WrittenFile(name, scene.caption, number, file_format.name, scene.held_out))
    _write_manifest(folder, written)
    return written


def _write_manifest(folder: Path, written: Sequence[WrittenFile]) -> None:
    with open(folder / "manifest.jsonl", "w", encoding="utf-8") as manifest:
        for entry in written:
            manifest.write(json.dumps(asdict(entry)) + "\n")


def upright_pixels(path: Path) -> Image.Image:
    """What a user sees of a written file, read the plain Pillow way: EXIF orientation applied,
    transparency composited on white. The reference pipeline's input."""
    import pixsift.search.media.formats  # noqa: F401  (importing registers the HEIF opener)

    with Image.open(path) as opened:
        picture = ImageOps.exif_transpose(opened)
        if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
            white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, picture.convert("RGBA")).convert("RGB")
        return picture.convert("RGB")


@dataclass(frozen=True)
class Shot:
    scene: int
    caption: str
    start: float
    end: float


def write_video(
    path: Path, scene_list: Sequence[Scene], *, seconds: float = 2.0, fps: int = 10,
    size: tuple[int, int] = (192, 144),
) -> list[Shot]:  # fmt: skip
    """One shot per scene, ``seconds`` each, cut hard from one to the next; the objects drift a
    pixel a frame so a shot is moving pictures, not one still."""
    import av

    shots = []
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 2_000_000
        frames = round(seconds * fps)
        for number, scene in enumerate(scene_list):
            still = np.asarray(render(scene, (size[0] + frames, size[1])))
            for index in range(frames):
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(still[:, index : index + size[0]]), format="rgb24"
                )
                container.mux(stream.encode(frame))
            shots.append(Shot(number, scene.caption, number * seconds, (number + 1) * seconds))
        container.mux(stream.encode())
    return shots
