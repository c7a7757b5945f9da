"""Originals and thumbnails, addressed by database id only: a path never comes from the request.

Thumbnails and previews are made by ``pixsift index`` (:mod:`search.media.thumbnails`, kept
under ``<library>/thumbnails`` by content hash and size); this module only reads them, and makes
one from the original (read with the indexer's hostile-file-safe reader) where it is missing: a
library indexed before they were made at index time, or a size indexing was told to leave out.
Responses carry the content hash as ETag. A URL with ``?v=<hash prefix>`` (as the API hands out)
names one version of the picture for good: it is ``public, max-age=31536000, immutable``, so a
browser shows it again without asking. Other URLs are ``no-cache``: asked again every time and
answered 304 while the ETag matches.

A file a browser cannot show (camera RAW, HEIC, PSD, JPEG 2000, ...) is served as a JPEG made
from its decoded picture (a RAW file's embedded preview when large enough), cached like the
thumbnails.

Files are opened only once checked to be the files that were indexed, inside the library
(:mod:`search.media.opening`), by their exact file-system name (bytes), and named in
``Content-Disposition`` by RFC 6266, whatever the name holds (see :func:`content_disposition`).
"""

from __future__ import annotations

import io
import os
import tempfile
import unicodedata
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request, send_file
from PIL import Image

from pixsift.search.errors import NotFoundError, PermissionDeniedError
from pixsift.search.library import Library
from pixsift.search.media.imagefile import ImageRejectedError, read_open_image
from pixsift.search.media.location import (
    NotAJpegError,
    VideoLocationError,
    jpeg_without_location,
    video_without_location,
)
from pixsift.search.media.opening import open_indexed_file
from pixsift.search.media.thumbnails import (
    SIZED_SIDES,
    THUMBNAIL_DIRECTORY_NAME,
    THUMBNAIL_FORMAT,
    THUMBNAIL_MIME,
    encoder_options,
)
from pixsift.search.media.thumbnails import thumbnail_path as cached_thumbnail_path
from pixsift.search.media.video import VIDEO_MIME_TYPES, VideoRejectedError, read_frame
from pixsift.search.records import ImageRecord
from pixsift.web.auth import visibility
from pixsift.web.state import get_library

bp = Blueprint("images", __name__, url_prefix="/images")

ONE_YEAR_SECONDS = 365 * 24 * 3600
#: Formats served as they are; every other one as a JPEG rendition (see :func:`original`).
MIME_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "AVIF": "image/avif",
    # A moment's original is its video, served with Range support (send_file's conditional).
    **VIDEO_MIME_TYPES,
}
#: Formats whose own bytes are served without their metadata (search.media.location).
JPEG_FORMATS = frozenset({"JPEG", "MPO"})
#: A rendition's long side at most; it is made from a picture at least RENDITION_MIN_SIDE.
RENDITION_MAX_SIDE = 4096
RENDITION_MIN_SIDE = 1024
#: RFC 8187 attr-char besides letters and digits: kept as they are in ``filename*``.
_RFC8187_ATTR_CHARS = "!#$&+-.^_`|~"
_FALLBACK_UNSAFE = frozenset('"\\%')


@bp.get("/<int:image_id>/original")
def original(image_id: int) -> Response:
    library = get_library()
    record = library.image(image_id)
    # Sent from the descriptor that was checked: never reopened by name.
    source: BinaryIO = open_indexed_file(record)
    name, mimetype = record.name, MIME_TYPES.get(record.format)
    etag, size, modified = record.content_hash, None, None
    if mimetype is not None and hides_location():
        # A caller who may not see GPS gets the picture without where it was taken.
        with source:
            source, mimetype, size, modified = _without_location(library, record, source)
        if mimetype == "image/jpeg" and record.format not in JPEG_FORMATS:
            name = f"{record.name}.jpg"
        etag = f"{record.content_hash}-no-location"
    elif mimetype is None:
        # A browser cannot show it: a JPEG of the decoded picture, named as such.
        with source:
            rendition = _rendition(library, record, source)
        source = rendition.open("rb")
        name, mimetype = f"{record.name}.jpg", "image/jpeg"
    if size is None:
        status = os.fstat(source.fileno())
        size, modified = status.st_size, status.st_mtime
    response = send_file(
        source,
        mimetype=mimetype,
        # Werkzeug writes filename* only for non-ASCII names and refuses control characters, so
        # it is handed a safe name and the header is then replaced by one for any name.
        download_name=ascii_file_name(name),
        etag=etag,
        last_modified=modified,
        conditional=False,
    )
    # Given a file rather than a name, send_file knows no length: ranges need it.
    response.content_length = size
    response.make_conditional(request.environ, accept_ranges=True, complete_length=size)
    response.headers["Content-Disposition"] = content_disposition(name)
    return _cache_headers(response, record)


@bp.get("/<int:image_id>/thumbnail")
def thumbnail(image_id: int) -> Response:
    return _sized(image_id, int(current_app.config["THUMBNAIL_SIZE"]))


@bp.get("/<int:image_id>/sized/<int:side>")
def sized(image_id: int, side: int) -> Response:
    """The picture at most ``side`` pixels long: one of :data:`SIZED_SIDES` (larger thumbnails
    for dense screens, and the viewer's preview), cached as thumbnails are."""
    if side not in SIZED_SIDES:
        raise NotFoundError(f"pictures are made {', '.join(map(str, SIZED_SIDES))} pixels long")
    return _sized(image_id, side)


def _sized(image_id: int, size: int) -> Response:
    library = get_library()
    record = library.image(image_id)
    path = sized_path(library, record, size)
    response = send_file(
        path, mimetype=THUMBNAIL_MIME, etag=f"{record.content_hash}-{size}", conditional=True
    )
    return _cache_headers(response, record)


def sized_path(library: Library, record: ImageRecord, size: int) -> Path:
    """The record's picture ``size`` pixels long: the one indexing made, else made now from the
    original (a library indexed before thumbnails were made at index time). Either way the file
    is checked to be the one indexed (a changed or vanished file is 404, as for the original);
    a kept thumbnail is served without reading it."""
    path = thumbnail_path(library, record, size)
    with open_indexed_file(record) as source:
        if not path.is_file():
            make_thumbnail(source, record.name, path, size, offset_s=record.offset_s)
    return path


def _cache_headers(response: Response, record: ImageRecord) -> Response:
    cache = response.cache_control
    if request.args.get("v") == record.content_hash[:16]:
        cache.no_cache = None  # send_file's default, wrong for a URL that never changes
        cache.public = True
        cache.max_age = ONE_YEAR_SECONDS
        cache.immutable = True
    else:
        cache.no_cache = True
        cache.max_age = None
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def content_disposition(name: str) -> str:
    """``inline`` with the file's name for "save as" (RFC 6266): ``filename*`` carries the whole
    name, percent-encoded UTF-8 (RFC 8187, so newlines, quotes and any character survive);
    ``filename`` is a printable-ASCII fallback for clients that do not read ``filename*``."""
    encoded = quote(name, safe=_RFC8187_ATTR_CHARS)
    return f"inline; filename=\"{ascii_file_name(name)}\"; filename*=UTF-8''{encoded}"


def ascii_file_name(name: str) -> str:
    """``name`` in printable ASCII: accents dropped (café -> cafe), and every other character
    that is not printable ASCII, or that a quoted header value or a browser would read as
    syntax (quote, backslash, percent), replaced by an underscore."""
    decomposed = unicodedata.normalize("NFKD", name)
    kept = (c for c in decomposed if not unicodedata.combining(c))
    return "".join(c if " " <= c <= "~" and c not in _FALLBACK_UNSAFE else "_" for c in kept)


def hides_location() -> bool:
    """Whether this caller gets originals without location metadata: whoever may not see GPS
    positions (viewers, unless PIXSIFT_HIDE_GPS_FROM_VIEWERS=0)."""
    return not visibility().gps


def _without_location(
    library: Library, record: ImageRecord, source: BinaryIO
) -> tuple[BinaryIO, str, int, float | None]:
    """The picture with no location in it: a JPEG's own bytes without its metadata (lossless,
    :mod:`search.media.location`); a video copied without its metadata (cached beside the
    thumbnails); any other format as the decoded picture's JPEG rendition, which carries no
    metadata at all. The file on disk is not touched."""
    if record.format in VIDEO_MIME_TYPES:
        # One copy per video file (its content hash), whichever of its moments asks.
        copy = _cached_path(library, record, "").with_name(
            f"{record.content_hash}-no-location{Path(record.name).suffix.lower()}"
        )
        if not copy.is_file():
            try:
                video_without_location(source, record.format, copy)
            except VideoLocationError as error:
                raise PermissionDeniedError(
                    f"this video cannot be sent without its location: {error.message}"
                ) from None
        status = copy.stat()
        return copy.open("rb"), VIDEO_MIME_TYPES[record.format], status.st_size, status.st_mtime
    if record.format in JPEG_FORMATS:
        try:
            data = jpeg_without_location(source.read())
        except NotAJpegError:
            source.seek(0)
        else:
            return io.BytesIO(data), "image/jpeg", len(data), record.mtime_ns / 1e9
    rendition = _rendition(library, record, source)
    status = rendition.stat()
    return rendition.open("rb"), "image/jpeg", status.st_size, status.st_mtime


def _rendition(library: Library, record: ImageRecord, source: BinaryIO) -> Path:
    """The cached JPEG of a picture a browser cannot show, made from ``source`` if missing."""
    rendition = _cached_path(library, record, "original.jpg")
    if not rendition.is_file():
        make_thumbnail(
            source,
            record.name,
            rendition,
            RENDITION_MAX_SIDE,
            min_side=RENDITION_MIN_SIDE,
            image_format="JPEG",
            quality=90,
        )
    return rendition


def _cached_path(library: Library, record: ImageRecord, kind: str) -> Path:
    directory = library.directory / THUMBNAIL_DIRECTORY_NAME / record.content_hash[:2]
    return directory / f"{record.id}-{record.content_hash}-{kind}"


def thumbnail_path(library: Library, record: ImageRecord, size: int) -> Path:
    """Where the indexer keeps the record's picture ``size`` pixels long (by content hash)."""
    return cached_thumbnail_path(
        library.directory / THUMBNAIL_DIRECTORY_NAME, record.content_hash, size
    )


def make_thumbnail(
    source: BinaryIO,
    name: str,
    destination: Path,
    size: int,
    *,
    offset_s: float | None = None,
    min_side: int | None = None,
    image_format: str = THUMBNAIL_FORMAT,
    quality: int = 80,
) -> None:
    """Write the picture of the image open as ``source`` and named ``name`` (or, with
    ``offset_s``, of the video's frame then), its long side at most ``size``, to
    ``destination``. ``source`` was checked to be the indexed file (search.media.opening). An
    image is decoded through the indexer's reader: any format pixsift indexes (a RAW file from
    its embedded preview when that is at least twice ``min_side``, ``size`` by default)."""
    try:
        if offset_s is not None:
            picture = read_frame(source, offset_s)
        else:
            picture = read_open_image(source, name, min_side=min_side or size).pixels
    except VideoRejectedError as error:
        raise NotFoundError(f"the video cannot be read any more: {error.reason}") from None
    except ImageRejectedError as error:
        raise NotFoundError(f"the image file cannot be read any more: {error.reason}") from None
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    # Nothing of the file's metadata goes into what is served (a comment, a position): only
    # the colour profile, which the picture needs to show its colours.
    picture.info = {k: v for k, v in picture.info.items() if k == "icc_profile"}
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a concurrent request sees the old state or the whole file.
    handle, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as output:
            picture.save(output, image_format, **encoder_options(image_format, quality))
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
