"""What an image file says about itself: size, format, EXIF date, camera, GPS position,
description and keywords (EXIF, Windows XP tags, IPTC, PNG text), read without ever failing: a
damaged tag is a missing fact, not a rejected file."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from PIL import Image, ImageFile, IptcImagePlugin

from pixsift.search.records import ImageFacts

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_TAG_MAKE = 0x010F
_TAG_MODEL = 0x0110
_TAG_DATETIME = 0x0132
_TAG_IMAGE_DESCRIPTION = 0x010E
_TAG_DATETIME_ORIGINAL = 0x9003
_TAG_DATETIME_DIGITIZED = 0x9004
_TAG_XP_COMMENT = 0x9C9C
_TAG_XP_KEYWORDS = 0x9C9E
_IPTC_KEYWORDS = (2, 25)

#: IFD0, the EXIF IFD and the GPS IFD, each keyed by tag number.
ExifDirs = tuple[dict[int, Any], dict[int, Any], dict[int, Any]]


def extract_metadata(
    image: Image.Image,
    fmt: str,
    original_size: tuple[int, int],
    orientation: int,
    dirs: ExifDirs | None = None,
) -> ImageFacts:
    """The facts of a file opened as ``image``; ``dirs`` when its EXIF was read elsewhere
    (a RAW file's TIFF structure), else the EXIF Pillow found in ``image``."""
    width, height = original_size
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    ifd0, exif_ifd, gps_ifd = dirs if dirs is not None else _exif_dirs(image)
    latitude, longitude = _gps_position(gps_ifd)
    return ImageFacts(
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


def _exif_dirs(image: Image.Image) -> ExifDirs:
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
