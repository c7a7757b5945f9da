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

from pixsift.search.media.errors import ImageRejectedError, OversizedImageError
from pixsift.search.media.formats import (
    ALLOWED_PIL_FORMATS,
    HEADER_BYTES,
    SUPPORTED_EXTENSIONS,
    Identity,
    MediaKind,
    extension_of,
    identify,
    is_tiff,
    sniff_disallowed_format,
)
from pixsift.search.media.metadata import extract_metadata
from pixsift.search.media.pixels import (
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
from pixsift.search.media.raw import decode_raw
from pixsift.search.media.reading import read_file_bytes, read_open_file
from pixsift.search.records import ImageFacts

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
    min_long_side: int = 0,
) -> LoadedImage:
    """Read, validate and decode ``path`` into an RGB image plus metadata: its short side at
    least ``min_side`` and its long side at least ``min_long_side`` (when the file holds that
    many pixels; the indexer's thumbnails are made from the same picture).

    Raises :class:`ImageRejectedError` for any file that cannot be indexed.
    """
    return decode_image_bytes(
        read_file_bytes(Path(path), max_file_bytes),
        Path(path).name,
        min_side=min_side,
        max_pixels=max_pixels,
        min_long_side=min_long_side,
    )


def read_open_image(
    fh: BinaryIO,
    name: str,
    *,
    min_side: int = 224,
    max_pixels: int = 89_478_485,
    max_file_bytes: int = 512 * 1024 * 1024,
) -> LoadedImage:
    """Like :func:`read_image_for_embedding`, from a file the caller opened and checked;
    ``name`` is the file's name (its extension helps tell the format)."""
    return decode_image_bytes(
        read_open_file(fh, max_file_bytes), name, min_side=min_side, max_pixels=max_pixels
    )


def decode_image_bytes(
    data: bytes, name: str, *, min_side: int, max_pixels: int, min_long_side: int = 0
) -> LoadedImage:
    identity = identify(data[:HEADER_BYTES], name)
    if identity.kind is MediaKind.OTHER:
        disallowed = sniff_disallowed_format(data[:HEADER_BYTES])
        if disallowed is not None:
            raise ImageRejectedError(f"format {disallowed} is not allowed")
        raise ImageRejectedError(not_an_image_reason(identity, name))
    content_hash = hashlib.blake2b(data, digest_size=20).hexdigest()
    with pillow_warnings(max_pixels):
        if identity.kind is MediaKind.RAW:
            # A RAW file's size is known only once read: its short side is taken as 2/3 long.
            raw_side = max(min_side, -(-2 * min_long_side // 3))
            pixels, metadata = decode_raw(
                data, identity.format, min_side=raw_side, max_pixels=max_pixels
            )
        else:
            pixels, metadata = _decode_image(
                data, min_side=min_side, max_pixels=max_pixels, min_long_side=min_long_side
            )
    return LoadedImage(pixels=pixels, metadata=metadata, content_hash=content_hash)


def short_side_for(size: tuple[int, int], min_side: int, min_long_side: int) -> int:
    """The short side to decode a picture of ``size`` at so that its short side is at least
    ``min_side`` and its long side at least ``min_long_side``."""
    short, long = sorted(size)
    return max(min_side, -(-min_long_side * short // long))


def not_an_image_reason(identity: Identity, name: str) -> str:
    """Why a file is not indexed, saying what its name claims and what it holds."""
    extension = extension_of(name)
    named = f"named {extension} but " if extension else ""
    return f"not an image: {named}the content is {identity.format}"


def _decode_image(
    data: bytes, *, min_side: int, max_pixels: int, min_long_side: int = 0
) -> tuple[Image.Image, ImageFacts]:
    try:
        return _decode(data, min_side=min_side, max_pixels=max_pixels, min_long_side=min_long_side)
    except OversizedImageError:
        raise
    except ImageRejectedError:
        if not is_tiff(data):
            raise
        # A TIFF Pillow cannot read may be a camera RAW under another name (a DNG as .tif).
        try:
            return decode_raw(data, "RAW", min_side=min_side, max_pixels=max_pixels)
        except ImageRejectedError:
            pass
        raise


def _decode(
    data: bytes, *, min_side: int, max_pixels: int, min_long_side: int = 0
) -> tuple[Image.Image, ImageFacts]:
    image = open_sniffed(data)
    try:
        original_size = check_dimensions(image, max_pixels)
        min_side = short_side_for(original_size, min_side, min_long_side)
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
