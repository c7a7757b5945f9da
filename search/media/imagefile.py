"""Hostile-input-safe image reading for indexer workers: the media package's entry point.

Everything that can go wrong while reading or decoding a file is turned into
:class:`ImageRejectedError` so one bad file never takes down a worker process. The steps live in
their own modules: :mod:`~search.media.reading` (the file's bytes), :mod:`~search.media.formats`
(what may be decoded), :mod:`~search.media.pixels` (decoding to RGB) and
:mod:`~search.media.metadata` (what the file says about itself).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from search.media.errors import ImageRejectedError, OversizedImageError
from search.media.formats import ALLOWED_PIL_FORMATS, SUPPORTED_EXTENSIONS
from search.media.metadata import extract_metadata
from search.media.pixels import (
    apply_orientation,
    check_dimensions,
    draft,
    load,
    open_sniffed,
    pillow_warnings,
    read_orientation,
    reduce,
    to_rgb,
)
from search.media.reading import read_file_bytes, read_open_file
from search.records import ImageFacts

__all__ = [
    "ALLOWED_PIL_FORMATS",
    "SUPPORTED_EXTENSIONS",
    "ImageMetadata",
    "ImageRejectedError",
    "LoadedImage",
    "OversizedImageError",
    "read_image_for_embedding",
    "read_open_image",
]

#: The facts a file gives about itself (declared once, in search.records).
ImageMetadata = ImageFacts


@dataclass(frozen=True)
class LoadedImage:
    pixels: Image.Image
    metadata: ImageFacts
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
    return decode_image_bytes(
        read_file_bytes(Path(path), max_file_bytes), min_side=min_side, max_pixels=max_pixels
    )


def read_open_image(
    fh: BinaryIO,
    *,
    min_side: int = 224,
    max_pixels: int = 89_478_485,
    max_file_bytes: int = 512 * 1024 * 1024,
) -> LoadedImage:
    """Like :func:`read_image_for_embedding`, from a file the caller opened and checked."""
    return decode_image_bytes(
        read_open_file(fh, max_file_bytes), min_side=min_side, max_pixels=max_pixels
    )


def decode_image_bytes(data: bytes, *, min_side: int, max_pixels: int) -> LoadedImage:
    content_hash = hashlib.blake2b(data, digest_size=20).hexdigest()
    with pillow_warnings(max_pixels):
        pixels, metadata = _decode(data, min_side=min_side, max_pixels=max_pixels)
    return LoadedImage(pixels=pixels, metadata=metadata, content_hash=content_hash)


def _decode(data: bytes, *, min_side: int, max_pixels: int) -> tuple[Image.Image, ImageFacts]:
    image = open_sniffed(data)
    try:
        original_size = check_dimensions(image, max_pixels)
        fmt = image.format or "UNKNOWN"
        if fmt in ("JPEG", "MPO"):
            draft(image, min_side)
        load(image)
        orientation = read_orientation(image)
        metadata = extract_metadata(image, fmt, original_size, orientation)
        pixels = to_rgb(apply_orientation(reduce(image, min_side), orientation))
    finally:
        image.close()
    return pixels, metadata
