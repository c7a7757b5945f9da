"""An uploaded example image: decoded with the indexer's hostile-file-safe reader and kept in
the request's private temporary folder (removed in teardown) so the engine can embed it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import current_app, g
from werkzeug.datastructures import FileStorage

from search.media.imagefile import (
    ImageRejectedError,
    LoadedImage,
    OversizedImageError,
    read_image_for_embedding,
)
from web.errors import ImageTooLargeError, InvalidImageError


def read_upload(upload: FileStorage) -> tuple[LoadedImage, Path]:
    config = current_app.config
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


def _request_temp_directory() -> str:
    if "temp_directory" not in g:
        g.temp_directory = tempfile.mkdtemp(prefix="pixsift-upload-")
    return g.temp_directory


def remove_request_temp_directory() -> None:
    directory = g.pop("temp_directory", None)
    if directory is not None:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)
