"""Which files pixsift reads, decided by what they are: a file's first bytes (magic numbers, and
Pillow's own format checks with the HEIF plugin registered), with the name only as a hint where
the content alone cannot tell (TIFF-based camera RAW, Targa).

:func:`identify` is the one place that says what a file is; the scanner, the decoder and the web
server all ask it. Its :class:`MediaKind` is the point to extend for other kinds of media.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from enum import Enum

from PIL import Image, features

#: How many leading bytes :func:`identify` needs.
HEADER_BYTES = 64


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

#: Camera RAW files, by extension (several are TIFF files inside, told apart by name only).
RAW_EXTENSIONS: frozenset[str] = frozenset(
    {".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".raf"}
    | {".pef", ".srw", ".erf", ".kdc", ".dcr", ".mrw", ".3fr", ".iiq", ".rwl", ".x3f"}
)

#: Names that say "image": always looked at (and rejected with a reason when they are not).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".webp", ".gif", ".bmp", ".dib"}
    | {".tif", ".tiff", ".mpo", ".jp2", ".j2k", ".jpf", ".jpx", ".j2c", ".psd", ".tga"}
    | {".ppm", ".pgm", ".pbm", ".pnm", ".pfm", ".ico", ".icns", ".cur", ".pcx", ".sgi"}
    | {".rgb", ".rgba", ".bw", ".qoi", ".dds", ".ras", ".xbm", ".xpm", ".im", ".msp"}
    | ({".heic", ".heif", ".hif"} if _HAS_HEIF else set())
    | ({".avif"} if _HAS_AVIF else set())
)

SUPPORTED_EXTENSIONS: frozenset[str] = IMAGE_EXTENSIONS | RAW_EXTENSIONS

#: Names that say "not an image": passed over by the scanner without opening the file.
NOT_IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".txt", ".md", ".rst", ".pdf", ".doc", ".docx", ".odt", ".rtf", ".xls", ".xlsx", ".ods"}
    | {".ppt", ".pptx", ".odp", ".csv", ".tsv", ".json", ".xml", ".html", ".htm", ".css"}
    | {".js", ".ts", ".py", ".pyc", ".c", ".h", ".cc", ".cpp", ".java", ".class", ".jar"}
    | {".go", ".rs", ".rb", ".sh", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z"}
    | {".rar", ".tar", ".mp3", ".wav", ".flac", ".ogg", ".oga", ".m4a", ".aac", ".opus"}
    | {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mts", ".m2ts"}
    | {".exe", ".dll", ".so", ".o", ".a", ".iso", ".dmg", ".db", ".sqlite", ".log", ".ini"}
    | {".cfg", ".toml", ".yaml", ".yml", ".lock", ".epub", ".srt", ".vtt", ".xmp", ".ttf"}
    | {".otf", ".woff", ".woff2", ".svg", ".pp3", ".dop", ".thm", ".aae", ".lrv"}
)

#: Rarer formats Pillow reads with its own code: BLP (Blizzard textures), FLI/FLC (Autodesk
#: animations), FITS (astronomy), FTEX (Independence War textures), DCX (multi-page PCX), GBR
#: (GIMP brushes), IMT (NIH Image), MCIDAS (weather satellites), PCD (Kodak Photo CD), PIXAR,
#: SPIDER (electron microscopy) and XVTHUMB (xv thumbnails).
PILLOW_ONLY_FORMATS: frozenset[str] = frozenset(
    {"BLP", "FLI", "FITS", "FTEX", "DCX", "GBR", "IMT", "MCIDAS", "PCD", "PIXAR", "SPIDER"}
    | {"XVTHUMB"}
)
#: Names Pillow does not register for formats that have no magic number (taken by name).
_EXTRA_EXTENSIONS = {".spider": "SPIDER", ".spi": "SPIDER", ".imt": "IMT"}

# Only bundled decoders; EPS/PS/PDF would shell out to Ghostscript, WMF needs Windows.
ALLOWED_PIL_FORMATS: frozenset[str] = frozenset(
    {"JPEG", "PNG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "MPO", "JPEG2000", "PSD", "TGA"}
    | {"PPM", "PFM", "ICO", "ICNS", "CUR", "PCX", "SGI", "QOI", "DDS", "SUN", "XBM", "XPM"}
    | {"IM", "MSP"}
    # Pillow's other bundled decoders (pure Python or Pillow's own C code, nothing external):
    # formats found in game, scientific, scanner and old desktop files.
    | PILLOW_ONLY_FORMATS
    | ({"HEIF"} if _HAS_HEIF else set())
    | ({"AVIF"} if _HAS_AVIF else set())
)

# Most common first: Image.open tries the formats in order. Targa has no magic number: it is
# tried last, and only for files named as Targa (see identify).
_OPEN_ORDER = (
    "JPEG", "PNG", "WEBP", "HEIF", "AVIF", "GIF", "TIFF", "BMP", "DIB", "JPEG2000", "PSD",
    "PPM", "PFM", "ICO", "ICNS", "CUR", "PCX", "SGI", "QOI", "DDS", "SUN", "XBM", "XPM", "IM",
    "MSP", "BLP", "DCX", "FITS", "FLI", "FTEX", "GBR", "MCIDAS", "PIXAR", "XVTHUMB", "IMT",
    "PCD", "SPIDER", "TGA",
)  # fmt: skip
_WEAK_MAGIC = frozenset({"TGA"})

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


class MediaKind(str, Enum):
    """What a file holds, as far as indexing goes."""

    IMAGE = "image"  # decoded by Pillow (with its plugins)
    RAW = "raw"  # a camera RAW file, decoded by LibRaw
    OTHER = "other"  # nothing pixsift reads


@dataclass(frozen=True)
class Identity:
    kind: MediaKind
    #: The format's name (Pillow's for images, the usual extension for RAW), or a description
    #: of the content for OTHER ("text", "an unrecognised format").
    format: str
    #: For OTHER: the image format Pillow recognises in the content but pixsift does not read
    #: (EPS, WMF...). Such a file is an image by content: listed with its reason, not ignored.
    refused_format: str | None = None


def extension_of(name: str | bytes) -> str:
    """The lower-case extension of ``name``, with its dot ("" if none)."""
    extension = os.path.splitext(name)[1]
    if isinstance(extension, bytes):
        extension = extension.decode("ascii", errors="replace")
    return extension.lower()


def identify(header: bytes, name: str | bytes = "") -> Identity:
    """What a file is, from its first :data:`HEADER_BYTES` bytes and (as a hint) its name."""
    extension = extension_of(name)
    raw_format = _raw_format(header, extension)
    if raw_format is not None:
        return Identity(MediaKind.RAW, raw_format)
    pillow_format = _pillow_format(header, extension)
    if pillow_format is not None:
        return Identity(MediaKind.IMAGE, pillow_format)
    return Identity(
        MediaKind.OTHER, _describe_content(header), refused_format=sniff_disallowed_format(header)
    )


def identify_path(path: str | bytes | os.PathLike) -> Identity:
    """:func:`identify` for a file on disk: reads its first bytes only."""
    # O_NONBLOCK: a FIFO put where a file was found must not hang the scan.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        header = os.read(descriptor, HEADER_BYTES)
    finally:
        os.close(descriptor)
    return identify(header, os.fspath(path))


def is_tiff(header: bytes) -> bool:
    return header[:4] in _TIFF_MAGIC


def _raw_format(header: bytes, extension: str) -> str | None:
    if header.startswith(b"FUJIFILMCCD-RAW"):
        return "RAF"
    if header[4:12] == b"ftypcrx ":
        return "CR3"
    if header[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "ORF"
    if header[:4] == b"IIU\x00":
        return "RW2"
    if is_tiff(header):
        if header[8:10] == b"CR":
            return "CR2"
        if extension in RAW_EXTENSIONS:
            return extension[1:].upper()
    return None


def _pillow_format(header: bytes, extension: str) -> str | None:
    Image.init()
    named = Image.EXTENSION.get(extension) or _EXTRA_EXTENSIONS.get(extension)
    # A format without a magic number (IM) or with one other files pass (a Targa header passes
    # the Windows cursor check) is taken by its name; the decoder then has the last word.
    if named in open_formats() and (named in _WEAK_MAGIC or Image.OPEN[named][1] is None):
        return named
    # Otherwise only the plugins' cheap magic-number checks, never their parsers.
    for name in open_formats():
        accept = Image.OPEN[name][1]
        if name in _WEAK_MAGIC or accept is None:
            continue
        try:
            if accept(header) is True:
                return name
        except Exception:
            continue
    return None


def _describe_content(header: bytes) -> str:
    if not header:
        return "empty"
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the end of the header is still text.
        text = header[:-3].decode("utf-8", errors="strict") if _decodes(header[:-3]) else ""
    disallowed = sniff_disallowed_format(header)
    if disallowed is not None:
        return f"{disallowed} (a format pixsift does not read)"
    if text and all(c.isprintable() or c in "\r\n\t\f" for c in text):
        return "text"
    return "an unrecognised format"


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(data)


@functools.cache
def open_formats() -> tuple[str, ...]:
    """The formats ``Image.open`` may try, most common first."""
    Image.init()
    # Image.open raises KeyError for names with no opener (MPO is opened via JPEG).
    return tuple(f for f in _OPEN_ORDER if f in ALLOWED_PIL_FORMATS and f in Image.OPEN)


def sniff_disallowed_format(prefix: bytes) -> str | None:
    """The name of a format Pillow knows but pixsift refuses, if ``prefix`` starts one."""
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
