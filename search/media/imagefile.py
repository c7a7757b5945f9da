"""Hostile-input-safe image reading for indexer workers.

Everything that can go wrong while reading or decoding a file is turned into
:class:`ImageRejectedError` so one bad file never takes down a worker process.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import math
import os
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, IptcImagePlugin, features

from search.records import ImageFacts

__all__ = [
    "ALLOWED_PIL_FORMATS",
    "SUPPORTED_EXTENSIONS",
    "ImageMetadata",
    "ImageRejectedError",
    "LoadedImage",
    "OversizedImageError",
    "read_image_for_embedding",
]


class ImageRejectedError(Exception):
    """The file cannot be indexed; ``.reason`` is a short human-readable reason."""

    def __init__(self, reason: str) -> None:
        # Passing reason to Exception keeps the error picklable across worker processes.
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class OversizedImageError(ImageRejectedError):
    """The file or its pixel count is over the limit (decompression bombs included): the one
    rejection that callers answer differently (an upload gets 413, not 400)."""


def _heif_available() -> bool:
    try:
        import pillow_heif
    except Exception:  # a broken optional plugin must not break indexing
        return False
    try:
        pillow_heif.register_heif_opener()
    except Exception:
        return False
    return True


def _avif_available() -> bool:
    with warnings.catch_warnings():
        # Pillow < 11.2 warns "Unknown feature 'avif'" instead of returning False quietly.
        warnings.simplefilter("ignore")
        try:
            if features.check("avif"):
                return True
        except Exception:
            pass
    try:
        import pillow_avif  # noqa: F401  (importing registers the plugin)
    except Exception:
        return False
    return True


_HAS_HEIF = _heif_available()
_HAS_AVIF = _avif_available()

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
    | ({".heic", ".heif"} if _HAS_HEIF else set())
    | ({".avif"} if _HAS_AVIF else set())
)

# Only pure-Python/bundled decoders; EPS/PS/PDF would shell out to Ghostscript.
ALLOWED_PIL_FORMATS: frozenset[str] = frozenset(
    {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"}
    | ({"HEIF"} if _HAS_HEIF else set())
    | ({"AVIF"} if _HAS_AVIF else set())
)

# Most common first: Image.open tries the formats in order.
_OPEN_ORDER = ("JPEG", "PNG", "WEBP", "HEIF", "AVIF", "GIF", "TIFF", "BMP")

_MAX_REASON_DETAIL = 200

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_TAG_ORIENTATION = 0x0112
_TAG_MAKE = 0x010F
_TAG_MODEL = 0x0110
_TAG_DATETIME = 0x0132
_TAG_IMAGE_DESCRIPTION = 0x010E
_TAG_DATETIME_ORIGINAL = 0x9003
_TAG_DATETIME_DIGITIZED = 0x9004
_TAG_XP_COMMENT = 0x9C9C
_TAG_XP_KEYWORDS = 0x9C9E
_IPTC_KEYWORDS = (2, 25)

_TRANSPOSE_FOR_ORIENTATION: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_WIDE_INT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


#: The facts a file gives about itself (declared once, in search.records).
ImageMetadata = ImageFacts


@dataclass(frozen=True)
class LoadedImage:
    pixels: Image.Image
    metadata: ImageMetadata
    content_hash: str


def read_image_for_embedding(
    path: Path,
    *,
    min_side: int = 224,
    max_pixels: int = 89_478_485,
    max_file_bytes: int = 512 * 1024 * 1024,
) -> LoadedImage:
    """Read, validate and decode ``path`` into an RGB image plus metadata.

    Raises :class:`ImageRejectedError` for any file that cannot be indexed.
    """
    data = _read_file_bytes(Path(path), max_file_bytes)
    content_hash = hashlib.blake2b(data, digest_size=20).hexdigest()
    with _pillow_warnings(max_pixels):
        pixels, metadata = _decode(data, min_side=min_side, max_pixels=max_pixels)
    return LoadedImage(pixels=pixels, metadata=metadata, content_hash=content_hash)


# --------------------------------------------------------------------------- reading


def _read_file_bytes(path: Path, max_file_bytes: int) -> bytes:
    try:
        with _open_regular_file(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_file_bytes:
                raise OversizedImageError(_too_large(size, max_file_bytes))
            # Read one byte past the limit: the file may have grown since fstat.
            data = fh.read(max_file_bytes + 1)
    except ImageRejectedError:
        raise
    except FileNotFoundError:
        raise ImageRejectedError("file vanished during indexing") from None
    except PermissionError:
        raise ImageRejectedError("permission denied") from None
    except IsADirectoryError:
        raise ImageRejectedError("not a regular file (directory)") from None
    except OSError as exc:
        raise ImageRejectedError(f"cannot read file: {_short(exc)}") from None
    if not data:
        raise ImageRejectedError("empty file")
    if len(data) > max_file_bytes:
        raise OversizedImageError(_too_large(len(data), max_file_bytes))
    return data


def _open_regular_file(path: Path) -> io.BufferedReader:
    # O_NONBLOCK so a FIFO planted in the library cannot hang the worker in open().
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ImageRejectedError("not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _too_large(size: int, limit: int) -> str:
    return f"file too large: {size} bytes exceeds limit {limit}"


# -------------------------------------------------------------------------- decoding


@contextlib.contextmanager
def _pillow_warnings(max_pixels: int) -> Iterator[None]:
    pil_limit = Image.MAX_IMAGE_PIXELS
    # PIL's own warning only means something when our limit is at least as strict;
    # otherwise it would reject images the caller explicitly allowed.
    bomb_action = "error" if pil_limit is None or max_pixels <= pil_limit else "ignore"
    with warnings.catch_warnings():
        # Corrupt EXIF and friends produce noisy UserWarnings on hostile input.
        warnings.simplefilter("ignore")
        warnings.simplefilter(bomb_action, Image.DecompressionBombWarning)
        yield


def _decode(data: bytes, *, min_side: int, max_pixels: int) -> tuple[Image.Image, ImageMetadata]:
    image = _open_sniffed(data)
    try:
        original_size = _check_dimensions(image, max_pixels)
        fmt = image.format or "UNKNOWN"
        if fmt in ("JPEG", "MPO"):
            _draft(image, min_side)
        _load(image)
        orientation = _orientation(image)
        metadata = _extract_metadata(image, fmt, original_size, orientation)
        pixels = _to_rgb(_apply_orientation(image, orientation))
    finally:
        image.close()
    return pixels, metadata


def _open_sniffed(data: bytes) -> ImageFile.ImageFile:
    try:
        return Image.open(io.BytesIO(data), formats=_open_formats())
    except ImageRejectedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise OversizedImageError(f"decompression bomb: {_short(exc)}") from None
    except Image.UnidentifiedImageError:
        other = _sniff_disallowed_format(data[:16])
        if other is not None:
            raise ImageRejectedError(f"format {other} is not allowed") from None
        raise ImageRejectedError("not an image (unrecognised format)") from None
    except Exception as exc:
        # Some decoders (WebP) decode eagerly, so damaged data can surface here too.
        raise ImageRejectedError(f"truncated or corrupt image data: {_describe(exc)}") from None


@functools.cache
def _open_formats() -> tuple[str, ...]:
    Image.init()
    # Image.open raises KeyError for names with no opener (MPO is opened via JPEG).
    return tuple(f for f in _OPEN_ORDER if f in ALLOWED_PIL_FORMATS and f in Image.OPEN)


def _sniff_disallowed_format(prefix: bytes) -> str | None:
    # Only run the plugins' cheap magic-number checks; never their parsers.
    Image.init()
    for name, (_factory, accept) in list(Image.OPEN.items()):
        if name in ALLOWED_PIL_FORMATS or accept is None:
            continue
        try:
            if accept(prefix) is True:
                return name
        except Exception:
            continue
    return None


def _check_dimensions(image: Image.Image, max_pixels: int) -> tuple[int, int]:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejectedError(f"invalid image dimensions {width}x{height}")
    pixels = width * height
    if pixels > max_pixels:
        raise OversizedImageError(f"decompression bomb: {pixels} pixels exceeds limit {max_pixels}")
    return width, height


def _draft(image: Image.Image, min_side: int) -> None:
    # draft() picks the largest DCT scale that keeps both sides >= the request,
    # so the short side never drops below min_side.
    try:
        image.draft("RGB", (min_side, min_side))
    except Exception as exc:
        raise ImageRejectedError(f"corrupt JPEG header: {_describe(exc)}") from None


def _load(image: Image.Image) -> None:
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise OversizedImageError(f"decompression bomb: {_short(exc)}") from None
    except MemoryError:
        raise ImageRejectedError("out of memory while decoding image") from None
    except Exception as exc:
        raise ImageRejectedError(f"truncated or corrupt image data: {_describe(exc)}") from None


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_TAG_ORIENTATION, 1)
        orientation = int(value)
    except Exception:
        return 1
    return orientation if orientation in _TRANSPOSE_FOR_ORIENTATION else 1


def _apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    # Same table as ImageOps.exif_transpose, but driven by the orientation we already
    # validated so metadata and pixels always agree and broken EXIF cannot raise here.
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    if method is None:
        return image
    try:
        return image.transpose(method)
    except Exception as exc:
        raise ImageRejectedError(f"cannot apply EXIF orientation: {_describe(exc)}") from None


def _to_rgb(image: Image.Image) -> Image.Image:
    try:
        return _convert_to_rgb(image)
    except ImageRejectedError:
        raise
    except MemoryError:
        raise ImageRejectedError("out of memory while converting image") from None
    except Exception as exc:
        raise ImageRejectedError(f"unsupported pixel mode {image.mode}: {_describe(exc)}") from None


def _convert_to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _WIDE_INT_MODES:
        image = _wide_int_to_l(image)
    elif image.mode == "F":
        image = _float_to_l(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        return _composite_on_white(image)
    if image.mode == "RGB":
        # Always hand back a fresh image that does not share state with the decoder.
        return image.copy()
    return image.convert("RGB")


def _wide_int_to_l(image: Image.Image) -> Image.Image:
    # Converting I;16 straight to L clips everything above 255 to white; scale instead.
    values = np.asarray(image).astype(np.int64)
    scaled = (np.clip(values, 0, 65535) >> 8).astype(np.uint8)
    return Image.fromarray(scaled)


def _float_to_l(image: Image.Image) -> Image.Image:
    values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(values.max(initial=0.0))
    if peak <= 1.0:
        values = values * 255.0
    elif peak > 255.0:
        values = values * (255.0 / 65535.0) if peak <= 65535.0 else values * (255.0 / peak)
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def _composite_on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


# -------------------------------------------------------------------------- metadata


def _extract_metadata(
    image: Image.Image, fmt: str, original_size: tuple[int, int], orientation: int
) -> ImageMetadata:
    width, height = original_size
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    ifd0, exif_ifd, gps_ifd = _exif_dirs(image)
    latitude, longitude = _gps_position(gps_ifd)
    return ImageMetadata(
        width=width,
        height=height,
        format=fmt,
        taken_at=_taken_at(ifd0, exif_ifd),
        camera_make=_text(ifd0.get(_TAG_MAKE)),
        camera_model=_text(ifd0.get(_TAG_MODEL)),
        gps_latitude=latitude,
        gps_longitude=longitude,
        description=_description(image, ifd0),
        keywords=_keywords(image, ifd0),
    )


def _exif_dirs(image: Image.Image) -> tuple[dict[int, Any], dict[int, Any], dict[int, Any]]:
    try:
        exif = image.getexif()
        ifd0 = dict(exif)
    except Exception:
        return {}, {}, {}
    return ifd0, _sub_ifd(exif, _EXIF_IFD), _sub_ifd(exif, _GPS_IFD)


def _sub_ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:
        return {}


def _taken_at(ifd0: dict[int, Any], exif_ifd: dict[int, Any]) -> datetime | None:
    candidates = (
        exif_ifd.get(_TAG_DATETIME_ORIGINAL),
        exif_ifd.get(_TAG_DATETIME_DIGITIZED),
        ifd0.get(_TAG_DATETIME_ORIGINAL),
        ifd0.get(_TAG_DATETIME),
    )
    for raw in candidates:
        parsed = _parse_exif_datetime(raw)
        if parsed is not None:
            return parsed
    return None


def _parse_exif_datetime(raw: Any) -> datetime | None:
    text = _text(raw)
    if text is None:
        return None
    # Cameras write "YYYY:MM:DD HH:MM:SS"; some software uses dashes, a T, or a bare date.
    attempts = (
        (text[:19], "%Y:%m:%d %H:%M:%S"),
        (text[:19], "%Y-%m-%d %H:%M:%S"),
        (text[:19], "%Y-%m-%dT%H:%M:%S"),
        (text[:10], "%Y:%m:%d"),
        (text[:10], "%Y-%m-%d"),
    )
    for candidate, pattern in attempts:
        try:
            return datetime.strptime(candidate, pattern)
        except ValueError:
            continue
    return None


def _gps_position(gps: dict[int, Any]) -> tuple[float | None, float | None]:
    latitude = _gps_coordinate(gps.get(2), gps.get(1), negative_ref="S", limit=90.0)
    longitude = _gps_coordinate(gps.get(4), gps.get(3), negative_ref="W", limit=180.0)
    if latitude is None or longitude is None:
        return None, None
    return latitude, longitude


def _gps_coordinate(value: Any, ref: Any, *, negative_ref: str, limit: float) -> float | None:
    raw_parts = value if isinstance(value, tuple | list) else (value,)
    try:
        parts = [float(part) for part in raw_parts]
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if not parts or len(parts) > 3 or not all(math.isfinite(p) for p in parts):
        return None
    degrees = sum(part / 60**i for i, part in enumerate(parts))
    ref_text = (_text(ref) or "").upper()
    if ref_text.startswith(negative_ref):
        degrees = -degrees
    if abs(degrees) > limit:
        return None
    return round(degrees, 7)


def _description(image: Image.Image, ifd0: dict[int, Any]) -> str | None:
    candidates = (
        _text(ifd0.get(_TAG_IMAGE_DESCRIPTION)),
        _utf16_text(ifd0.get(_TAG_XP_COMMENT)),
        _text(_png_text(image, "Description")),
        _text(_png_text(image, "Title")),
    )
    return next((c for c in candidates if c), None)


def _keywords(image: Image.Image, ifd0: dict[int, Any]) -> str | None:
    words: list[str] = []
    xp = _utf16_text(ifd0.get(_TAG_XP_KEYWORDS))
    if xp:
        words.extend(xp.split(";"))
    words.extend(_iptc_keywords(image))
    png = _text(_png_text(image, "Keywords"))
    if png:
        words.extend(png.replace(";", ",").split(","))
    unique = dict.fromkeys(w.strip() for w in words if w.strip())
    return ", ".join(unique) or None


def _iptc_keywords(image: Image.Image) -> list[str]:
    if not isinstance(image, ImageFile.ImageFile):
        return []
    try:
        info = IptcImagePlugin.getiptcinfo(image) or {}
        raw = info.get(_IPTC_KEYWORDS)
    except Exception:
        return []
    values = raw if isinstance(raw, list) else [raw]
    return [text for value in values if (text := _text(value))]


def _png_text(image: Image.Image, key: str) -> Any:
    # info is populated for every format; only PNG/WEBP-style text keys are looked up.
    value = image.info.get(key)
    return value if isinstance(value, str | bytes) else None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    cleaned = value.replace("\x00", "").strip()
    return cleaned or None


def _utf16_text(value: Any) -> str | None:
    # Windows XP* tags are UTF-16LE stored as BYTE arrays (bytes or a tuple of ints).
    try:
        if isinstance(value, tuple | list):
            value = bytes(value)
        if not isinstance(value, bytes):
            return _text(value)
        return _text(value.decode("utf-16-le", errors="replace"))
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------- helpers


def _describe(exc: BaseException) -> str:
    message = _short(exc)
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def _short(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    if len(message) > _MAX_REASON_DETAIL:
        message = message[: _MAX_REASON_DETAIL - 3] + "..."
    return message
