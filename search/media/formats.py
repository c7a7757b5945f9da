"""Which image formats pixsift reads: file extensions, Pillow's decoders, and sniffing."""

from __future__ import annotations

import functools
import warnings

from PIL import Image, features


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


@functools.cache
def open_formats() -> tuple[str, ...]:
    """The formats ``Image.open`` may try, most common first."""
    Image.init()
    # Image.open raises KeyError for names with no opener (MPO is opened via JPEG).
    return tuple(f for f in _OPEN_ORDER if f in ALLOWED_PIL_FORMATS and f in Image.OPEN)


def sniff_disallowed_format(prefix: bytes) -> str | None:
    """The name of a format Pillow knows but pixsift refuses, if ``prefix`` starts one."""
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
