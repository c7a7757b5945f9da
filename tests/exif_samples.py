"""Generated JPEGs that carry EXIF facts (camera, date taken, GPS position), for the tests of
places, where/when queries and stacks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from conftest import make_picture
from PIL import Image


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
    return float(degrees), float(minutes), seconds


def write_photo(
    path: Path,
    seed: int,
    *,
    taken: datetime | None = None,
    position: tuple[float, float] | None = None,
    camera: tuple[str, str] | None = None,
    picture: Image.Image | None = None,
) -> Path:
    """A JPEG of ``make_picture(seed)`` (or ``picture``) with the given EXIF facts."""
    exif = Image.Exif()
    if camera is not None:
        exif[0x010F], exif[0x0110] = camera
    if taken is not None:
        exif.get_ifd(0x8769)[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
    if position is not None:
        latitude, longitude = position
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = ("N" if latitude >= 0 else "S"), _dms(latitude)
        gps[3], gps[4] = ("E" if longitude >= 0 else "W"), _dms(longitude)
    path.parent.mkdir(parents=True, exist_ok=True)
    (picture or make_picture(seed)).save(path, "JPEG", quality=92, exif=exif)
    return path
