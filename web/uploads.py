"""An uploaded example image: decoded with the indexer's hostile-file-safe reader and kept in
the request's private temporary folder (removed in teardown) so the engine can embed it.

Memory is bounded: the body is spooled to disk (by the server and werkzeug), decoding shrinks an
oversized picture while it is read (:func:`search.media.pixels.reduce`), and at most
``MAX_CONCURRENT_UPLOADS`` example images are held at once per worker process. One more is
answered 503 with Retry-After at once rather than queued: a queued upload would hold a server
thread, which is what every other request needs. When a request ends, the memory its picture
took is handed back to the system (:func:`release_free_memory`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import tempfile
import threading
from pathlib import Path

from flask import Flask, current_app, g
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import ServiceUnavailable

from pixsift.search.media.imagefile import (
    ImageRejectedError,
    LoadedImage,
    OversizedImageError,
    read_image_for_embedding,
)
from pixsift.web.errors import ImageTooLargeError, InvalidImageError

RETRY_AFTER_SECONDS = 2


def init_app(app: Flask) -> None:
    slots = max(1, int(app.config["MAX_CONCURRENT_UPLOADS"]))
    app.extensions["pixsift_upload_slots"] = threading.BoundedSemaphore(slots)


def read_upload(upload: FileStorage) -> tuple[LoadedImage, Path]:
    config = current_app.config
    _take_upload_slot()
    max_bytes = int(config.get("MAX_CONTENT_LENGTH") or config["MAX_UPLOAD_BYTES"])
    path = Path(_request_temp_directory()) / "upload"
    upload.save(path)
    try:
        loaded = read_image_for_embedding(
            path, max_pixels=int(config["MAX_UPLOAD_PIXELS"]), max_file_bytes=max_bytes
        )
    except OversizedImageError as error:
        path.unlink(missing_ok=True)
        raise ImageTooLargeError(f"the uploaded image is too large: {error.reason}") from None
    except ImageRejectedError as error:
        path.unlink(missing_ok=True)
        raise InvalidImageError(f"the uploaded file cannot be used: {error.reason}") from None
    return loaded, path


def _take_upload_slot() -> None:
    slots: threading.BoundedSemaphore = current_app.extensions["pixsift_upload_slots"]
    if not slots.acquire(blocking=False):
        raise ServiceUnavailable(
            description="too many example images are being searched with at once; "
            f"try again in {RETRY_AFTER_SECONDS} s",
            retry_after=RETRY_AFTER_SECONDS,
        )
    g.upload_slot = slots


def _request_temp_directory() -> str:
    if "temp_directory" not in g:
        g.temp_directory = tempfile.mkdtemp(prefix="pixsift-upload-")
    return g.temp_directory


def remove_request_temp_directory() -> None:
    """Teardown of a request: its temporary files go, its upload slot and memory are returned."""
    directory = g.pop("temp_directory", None)
    if directory is not None:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)
    slots = g.pop("upload_slot", None)
    if slots is not None:
        slots.release()
        release_free_memory()


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return library if library is not None and hasattr(library, "malloc_trim") else None


_LIBC = _libc()


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc; elsewhere nothing to do): after a
    large picture, freed memory would otherwise stay in the worker's resident size."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
