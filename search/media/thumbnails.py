"""Thumbnails, previews and placeholders: their sizes, where they are kept, how they are made.

The indexer makes them in its decode workers from the picture it decoded for the model (no
second decode) and writes them; the web server reads them and makes one on request only where
it is missing (a library indexed before they were made at index time, or a size left out).

They are kept content-addressed under ``<library>/thumbnails/<hash[:2]>/<hash>-<size>.<ext>``:
a moved or renamed file keeps its thumbnails, a changed file gets new ones, and identical
copies share them. A video moment's content hash names its video and its time, so each moment
has its own poster. Files are written aside and renamed, so a reader sees none or all of one.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import blurhash
from PIL import Image, features

THUMBNAIL_DIRECTORY_NAME = "thumbnails"
#: The viewer's preview: the picture sized for a screen (the original only on zoom or download).
PREVIEW_SIDE = 1600
#: The long sides the page asks for: the cards' ``srcset`` (1x-3x screens) and the preview.
CARD_SIDES = (256, 512, 768)
SIZED_SIDES = (*CARD_SIDES, PREVIEW_SIDE)
_WEBP = features.check("webp")
THUMBNAIL_FORMAT, THUMBNAIL_MIME, THUMBNAIL_SUFFIX = (
    ("WEBP", "image/webp", ".webp") if _WEBP else ("JPEG", "image/jpeg", ".jpg")
)
THUMBNAIL_QUALITY = 80
#: libwebp's effort (0-6; Pillow's default 4): 2 encodes a 1024 x 768 picture and its three
#: smaller renditions in ~40 ms instead of ~105 ms, files within a few per cent of the size
#: (measured on the rclip peer's JPEGs; docs/benchmarks.md, section 35). Thumbnails were most
#: of what `pixsift index` spent on such pictures.
WEBP_METHOD = 2


def encoder_options(image_format: str, quality: int = THUMBNAIL_QUALITY) -> dict[str, int]:
    """What Pillow's encoder of ``image_format`` is given for a thumbnail or preview."""
    if image_format == "WEBP":
        return {"quality": quality, "method": WEBP_METHOD}
    return {"quality": quality}


#: BlurHash components across the long side and the short side: enough for a blur that shows
#: where the light and the colours are, in a string of about 30 characters.
_BLURHASH_COMPONENTS = (4, 3)
#: The picture a placeholder is computed from: its long side (the hash cannot hold more).
_BLURHASH_SIDE = 32
#: A file named by a content hash (hex), and an older cache file named ``<id>-<hash>-...``.
_CONTENT_NAME = re.compile(r"^(?:\d+-)?([0-9a-f]{32,128})-")
#: An unfinished write older than this was left by a process that died: it is removed.
_STALE_PART_SECONDS = 3600
_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


class ThumbnailSizesError(ValueError):
    """A list of thumbnail sizes that pixsift does not make."""


def parse_sizes(text: str) -> tuple[int, ...]:
    """The sizes named by a setting such as ``"256,512,768,1600"``; ``"off"`` (or ``"none"``,
    ``"0"``, empty) names none. Only sizes the page asks for may be named."""
    words = [word.strip() for word in text.replace(" ", ",").split(",") if word.strip()]
    if not words or [word.lower() for word in words] in (["off"], ["none"], ["0"]):
        return ()
    sizes: set[int] = set()
    for word in words:
        if not word.isdigit() or int(word) not in SIZED_SIDES:
            raise ThumbnailSizesError(
                f"thumbnail size {word!r} is not one the page uses: choose from "
                f"{', '.join(map(str, SIZED_SIDES))}, or 'off'"
            )
        sizes.add(int(word))
    return tuple(sorted(sizes))


def thumbnail_path(directory: Path, content_hash: str, size: int) -> Path:
    """Where the picture whose content hash is ``content_hash``, ``size`` pixels long at most,
    is kept under the thumbnail ``directory``."""
    return directory / content_hash[:2] / f"{content_hash}-{size}{THUMBNAIL_SUFFIX}"


def make_renditions(
    picture: Image.Image, sizes: Iterable[int], *, full_long_side: int | None = None
) -> dict[int, bytes]:
    """``picture`` encoded at each of ``sizes`` (long side at most that, never enlarged),
    largest first, each made from the one before (cheaper, and as sharp). ``full_long_side``:
    the long side of the picture the file holds, when ``picture`` was decoded smaller (a video
    frame); a size it cannot fill is left out (the server makes it on request)."""
    full = full_long_side or max(picture.size)
    source = _clean(picture)
    made: dict[int, bytes] = {}
    for size in sorted(sizes, reverse=True):
        if max(source.size) < min(size, full):
            continue
        if max(source.size) > size:
            source = source.copy()
            source.thumbnail((size, size), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        source.save(buffer, THUMBNAIL_FORMAT, **encoder_options(THUMBNAIL_FORMAT))
        made[size] = buffer.getvalue()
    return made


def _clean(picture: Image.Image) -> Image.Image:
    # Nothing of the file's metadata goes into what is served (a comment, a position): only
    # the colour profile, which the picture needs to show its colours.
    picture = picture if picture.mode == "RGB" else picture.convert("RGB")
    picture.info = {k: v for k, v in picture.info.items() if k == "icc_profile"}
    return picture


def placeholder(picture: Image.Image) -> str:
    """The BlurHash of ``picture``: what a page paints while the thumbnail loads. Its first
    colour is the picture's mean colour (:func:`placeholder_colour`)."""
    small = picture.convert("RGB")
    small.thumbnail((_BLURHASH_SIDE, _BLURHASH_SIDE), Image.Resampling.BOX)
    wide, tall = _BLURHASH_COMPONENTS
    x, y = (wide, tall) if small.width >= small.height else (tall, wide)
    with warnings.catch_warnings():
        # blurhash-python 1.2 reads the bands with Image.getdata, deprecated in Pillow 12 and
        # working until Pillow 14: nothing a user can act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        return blurhash.encode(small, x_components=x, y_components=y)


def placeholder_colour(hash_: str | None) -> str | None:
    """The mean colour a BlurHash holds (its DC term, stored as sRGB), as ``#rrggbb``."""
    if hash_ is None or len(hash_) < 6:
        return None
    value = 0
    for character in hash_[2:6]:
        digit = _BASE83.find(character)
        if digit < 0:
            return None
        value = value * 83 + digit
    return f"#{value & 0xFFFFFF:06x}"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` aside and rename it: a reader sees no file or all of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as output:
            output.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_renditions(directory: Path, content_hash: str, renditions: Mapping[int, bytes]) -> int:
    """Write the ``renditions`` of one picture that are not kept yet; how many were written."""
    written = 0
    for size, data in renditions.items():
        path = thumbnail_path(directory, content_hash, size)
        if not path.is_file():
            write_atomically(path, data)
            written += 1
    return written


def remove_stale(directory: Path, known_hashes: set[str]) -> int:
    """Remove the cache files of pictures no longer indexed (none of ``known_hashes``), and
    writes left unfinished by a process that died; how many files were removed. Files whose
    names say nothing of a content hash are left alone."""
    removed = 0
    if not directory.is_dir():
        return 0
    cutoff = time.time() - _STALE_PART_SECONDS
    for entry in directory.glob("*/*"):
        if entry.suffix == ".part":
            stale = _modified(entry) < cutoff
        else:
            match = _CONTENT_NAME.match(entry.name)
            stale = match is not None and match.group(1) not in known_hashes
        if stale and entry.is_file():
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()
