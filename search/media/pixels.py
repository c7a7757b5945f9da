"""Decoding an image into RGB pixels: bounded in size, EXIF orientation applied, every mode
(alpha, 16-bit, float) turned into plain RGB."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageFile

from pixsift.search.media.errors import ImageRejectedError, OversizedImageError, describe, short
from pixsift.search.media.formats import open_formats, sniff_disallowed_format

_TAG_ORIENTATION = 0x0112

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


@contextlib.contextmanager
def pillow_warnings(max_pixels: int) -> Iterator[None]:
    pil_limit = Image.MAX_IMAGE_PIXELS
    # PIL's own warning only means something when our limit is at least as strict;
    # otherwise it would reject images the caller explicitly allowed.
    bomb_action = "error" if pil_limit is None or max_pixels <= pil_limit else "ignore"
    with warnings.catch_warnings():
        # Corrupt EXIF and friends produce noisy UserWarnings on hostile input.
        warnings.simplefilter("ignore")
        warnings.simplefilter(bomb_action, Image.DecompressionBombWarning)
        yield


def open_sniffed(data: bytes) -> ImageFile.ImageFile:
    try:
        return Image.open(io.BytesIO(data), formats=open_formats())
    except ImageRejectedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise OversizedImageError(f"decompression bomb: {short(exc)}") from None
    except Image.UnidentifiedImageError:
        other = sniff_disallowed_format(data[:16])
        if other is not None:
            raise ImageRejectedError(f"format {other} is not allowed") from None
        raise ImageRejectedError("not an image (unrecognised format)") from None
    except Exception as exc:
        # Some decoders (WebP) decode eagerly, so damaged data can surface here too.
        raise ImageRejectedError(f"truncated or corrupt image data: {describe(exc)}") from None


def check_dimensions(image: Image.Image, max_pixels: int) -> tuple[int, int]:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejectedError(f"invalid image dimensions {width}x{height}")
    pixels = width * height
    if pixels > max_pixels:
        raise OversizedImageError(f"decompression bomb: {pixels} pixels exceeds limit {max_pixels}")
    return width, height


def draft(image: Image.Image, min_side: int) -> None:
    # draft() picks the largest DCT scale that keeps both sides >= the request,
    # so the short side never drops below min_side.
    try:
        image.draft("RGB", (min_side, min_side))
    except Exception as exc:
        raise ImageRejectedError(f"corrupt JPEG header: {describe(exc)}") from None


#: Modes whose pixels ``Image.reduce`` averages correctly (palette indices cannot be averaged).
_REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "I", "F", "CMYK", "YCbCr"})
#: Reduce while keeping the short side at least this many times the size asked for: the final
#: resampling then gives what it would from the full image (Pillow's ``reducing_gap`` advice).
REDUCING_GAP = 2


def reduce(image: Image.Image, min_side: int) -> Image.Image:
    """``image`` shrunk by an integer factor (box average) when it is far larger than needed,
    so that what follows (orientation, conversion, the model's resize) works on the small copy:
    a 7000x7000 picture is held once at full size, never twice. Bilevel and palette images are
    first made greyscale or colour, which averaging needs."""
    factor = min(image.size) // (REDUCING_GAP * max(1, min_side))
    if factor < 2:
        return image
    try:
        if image.mode == "1":
            image = image.convert("L")
        elif image.mode in ("P", "PA"):
            transparent = image.mode == "PA" or "transparency" in image.info
            image = image.convert("RGBA" if transparent else "RGB")
        elif image.mode not in _REDUCIBLE_MODES:
            return image  # 16-bit and rare modes: converted at full size by to_rgb
        return image.reduce(factor)
    except MemoryError:
        raise ImageRejectedError("out of memory while reducing image") from None
    except Exception as exc:
        raise ImageRejectedError(f"cannot reduce image: {describe(exc)}") from None


def load(image: Image.Image) -> None:
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise OversizedImageError(f"decompression bomb: {short(exc)}") from None
    except MemoryError:
        raise ImageRejectedError("out of memory while decoding image") from None
    except Exception as exc:
        raise ImageRejectedError(f"truncated or corrupt image data: {describe(exc)}") from None


def read_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_TAG_ORIENTATION, 1)
        orientation = int(value)
    except Exception:
        return 1
    return orientation if orientation in _TRANSPOSE_FOR_ORIENTATION else 1


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    # Same table as ImageOps.exif_transpose, but driven by the orientation we already
    # validated so metadata and pixels always agree and broken EXIF cannot raise here.
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    if method is None:
        return image
    try:
        return image.transpose(method)
    except Exception as exc:
        raise ImageRejectedError(f"cannot apply EXIF orientation: {describe(exc)}") from None


def to_rgb(image: Image.Image) -> Image.Image:
    try:
        return _convert_to_rgb(image)
    except ImageRejectedError:
        raise
    except MemoryError:
        raise ImageRejectedError("out of memory while converting image") from None
    except Exception as exc:
        raise ImageRejectedError(f"unsupported pixel mode {image.mode}: {describe(exc)}") from None


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
