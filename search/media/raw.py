"""Camera RAW files (DNG, CR2, CR3, NEF, ARW, ORF, RW2, RAF, ...) through LibRaw (rawpy).

The picture comes from the preview the camera embedded when it is large enough (twice what the
caller needs, or as large as half the sensor: a JPEG or bitmap, decoded in milliseconds), else
from demosaicing the sensor data at half size.
The EXIF facts come from the file's TIFF structure (exifread reads every TIFF-based RAW, ORF and
RW2 included), else from the embedded JPEG preview (RAF and CR3 carry their EXIF there).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from pixsift.search.media.errors import ImageRejectedError, OversizedImageError, describe
from pixsift.search.media.metadata import ExifDirs, extract_metadata
from pixsift.search.media.pixels import apply_orientation, check_dimensions, draft, load, to_rgb
from pixsift.search.records import ImageFacts

#: A preview is used when its short side is at least this many times what the caller needs.
PREVIEW_FACTOR = 2
#: LibRaw's "flip" as an EXIF orientation (LibRaw writes 0, 3, 5 or 6).
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}
_EXIFREAD_GROUPS = {"Image": 0, "EXIF": 1, "GPS": 2}


def decode_raw(
    data: bytes, fmt: str, *, min_side: int, max_pixels: int
) -> tuple[Image.Image, ImageFacts]:
    """RGB pixels (orientation applied) and the facts of the RAW file ``data``."""
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            size = (raw.sizes.width, raw.sizes.height)
            if size[0] * size[1] > max_pixels:
                raise OversizedImageError(
                    f"decompression bomb: {size[0] * size[1]} pixels exceeds limit {max_pixels}"
                )
            orientation = _FLIP_TO_ORIENTATION.get(raw.sizes.flip, 1)
            preview = embedded_preview(raw, max_pixels)
            # Half-size demosaicing gives half the sensor's sides: a preview that large is as
            # good, and one twice what the caller needs is enough.
            needed = min(PREVIEW_FACTOR * min_side, min(size) // 2)
            picture = _decoded(preview, needed)
            if picture is None:
                # postprocess turns the picture upright itself.
                picture, picture_orientation = demosaic(raw), 1
            else:
                picture_orientation = orientation
    except ImageRejectedError:
        raise
    except MemoryError:
        raise ImageRejectedError("out of memory while decoding RAW file") from None
    except Exception as exc:  # LibRaw's errors, and anything a damaged file provokes
        raise ImageRejectedError(f"cannot decode {fmt} file: {describe(exc)}") from None
    dirs = exif_dirs(data)
    # Without a TIFF structure, the JPEG preview's EXIF (RAF) is the file's.
    source = preview if dirs is None and preview is not None else picture
    facts = extract_metadata(source, fmt, size, orientation, dirs)
    return to_rgb(apply_orientation(picture, picture_orientation)), facts


def embedded_preview(raw: Any, max_pixels: int) -> Image.Image | None:
    """The camera's embedded preview, opened (a JPEG's pixels not decoded yet); None when there
    is none or it cannot be read."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
        if thumb.format == rawpy.ThumbFormat.JPEG:
            image = Image.open(io.BytesIO(thumb.data), formats=("JPEG", "MPO"))
        elif thumb.format == rawpy.ThumbFormat.BITMAP:
            image = Image.fromarray(np.ascontiguousarray(thumb.data))
        else:
            return None
        check_dimensions(image, max_pixels)
    except Exception:  # no preview, one LibRaw cannot extract, or a damaged one
        return None
    return image


def _decoded(preview: Image.Image | None, min_short_side: int) -> Image.Image | None:
    """``preview`` decoded, if its short side is at least ``min_short_side``."""
    if preview is None or min(preview.size) < min_short_side:
        return None
    try:
        if preview.format in ("JPEG", "MPO"):
            draft(preview, min_short_side)
        load(preview)
    except ImageRejectedError:
        return None
    return preview


def demosaic(raw: Any) -> Image.Image:
    """The sensor data demosaiced at half size (four times fewer pixels, far faster), with the
    camera's white balance, as 8-bit RGB."""
    rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    return Image.fromarray(np.ascontiguousarray(rgb))


def exif_dirs(data: bytes) -> ExifDirs | None:
    """IFD0, the EXIF IFD and the GPS IFD of a TIFF-based RAW file, keyed by tag number as
    Pillow keys them; None when exifread finds no TIFF structure."""
    import exifread

    try:
        tags = exifread.process_file(io.BytesIO(data), details=False, extract_thumbnail=False)
    except Exception:  # a damaged tag is a missing fact, not a rejected file
        return None
    if not tags:
        return None
    dirs: ExifDirs = ({}, {}, {})
    for key, tag in tags.items():
        index = _EXIFREAD_GROUPS.get(key.split(" ", 1)[0])
        values = getattr(tag, "values", None)
        if index is None or values is None:
            continue
        if isinstance(values, str | bytes):
            dirs[index][tag.tag] = values
        elif len(values) == 1:
            dirs[index][tag.tag] = values[0]
        else:
            dirs[index][tag.tag] = tuple(values)
    return dirs
