"""The one place that turns a search request into result data.

The search page and the JSON API both call :func:`parse_search_query` and
:func:`build_search_results`; they differ only in how they render the returned dict.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from flask import current_app, g, url_for
from werkzeug.datastructures import FileStorage

from search.errors import InvalidInputError
from search.imagefile import ImageRejectedError, LoadedImage, read_image_for_embedding
from search.library import MAX_RESULTS, Library
from search.records import EmbeddingMatrix, ImageRecord, SearchHit
from web.errors import ImageTooLargeError, InvalidImageError
from web.settings import MAX_PAGE_SIZE
from web.state import QueryCache

MAX_QUERY_LENGTH = 1000
MAX_CURSOR_LENGTH = 200


@dataclass(frozen=True)
class SearchQuery:
    """One search: exactly one of ``text``, ``image_id`` or ``upload``, and which page."""

    k: int
    offset: int = 0
    text: str | None = None
    image_id: int | None = None
    upload: LoadedImage | None = None

    @property
    def kind(self) -> str:
        if self.text is not None:
            return "text"
        return "image_id" if self.image_id is not None else "image"

    @property
    def fingerprint(self) -> str:
        if self.text is not None:
            subject = f"text:{self.text}"
        elif self.image_id is not None:
            subject = f"image_id:{self.image_id}"
        else:
            subject = f"image:{self.upload.content_hash}"  # type: ignore[union-attr]
        return hashlib.blake2b(subject.encode(), digest_size=8).hexdigest()


# Parsing -------------------------------------------------------------------------------------


def parse_search_query(
    params: Mapping[str, Any],
    upload: FileStorage | None = None,
    *,
    image_id: int | None = None,
) -> SearchQuery | None:
    """Validate request parameters; None when they hold no query at all (an empty search page).

    ``params`` holds ``q``, ``k``, ``cursor`` and ``image_id`` from a query string, a form or a
    JSON object; ``image_id`` given as an argument comes from the URL path.
    """
    text = _text_param(params.get("q"))
    if image_id is None:
        image_id = _image_id_param(params.get("image_id"))
    has_upload = upload is not None and bool(upload.filename or upload.content_length)
    given = sum(value is not None for value in (text, image_id)) + has_upload
    if given == 0:
        return None
    if given > 1:
        raise InvalidInputError("give one query: q (a text), image_id, or an uploaded image")
    k = _k_param(params.get("k"))
    loaded = _read_upload(upload) if has_upload else None  # type: ignore[arg-type]
    query = SearchQuery(k=k, text=text, image_id=image_id, upload=loaded)
    cursor = params.get("cursor")
    if cursor is not None and cursor != "":
        query = SearchQuery(
            k=k,
            offset=decode_cursor(cursor, query.fingerprint),
            text=text,
            image_id=image_id,
            upload=loaded,
        )
    return query


def require_query(query: SearchQuery | None) -> SearchQuery:
    if query is None:
        raise InvalidInputError("the search is empty: give q (a text), image_id, or an image")
    return query


def _text_param(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError("q must be a string")
    if not value.strip():
        raise InvalidInputError("the search text is empty")
    if len(value) > MAX_QUERY_LENGTH:
        raise InvalidInputError(f"the search text is longer than {MAX_QUERY_LENGTH} characters")
    return value.strip()


def _image_id_param(value: Any) -> int | None:
    if value is None or value == "":
        return None
    number = _integer(value, "image_id")
    if number < 1:
        raise InvalidInputError("image_id must be a positive integer")
    return number


def _k_param(value: Any) -> int:
    if value is None or value == "":
        return int(current_app.config["PAGE_SIZE"])
    k = _integer(value, "k")
    if not 1 <= k <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"k must be between 1 and {MAX_PAGE_SIZE}, not {k}")
    return k


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        if len(value.strip()) > 18:
            raise InvalidInputError(f"{name} is out of range")
        return int(value.strip())
    raise InvalidInputError(f"{name} must be an integer, not {str(value)[:40]!r}")


# Cursors -------------------------------------------------------------------------------------


def encode_cursor(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"offset": offset, "query": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: Any, fingerprint: str) -> int:
    """The offset a cursor stands for; it must have been made for the same query."""
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidInputError("cursor is not valid")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidInputError("cursor is not valid") from None
    if not isinstance(data, dict):
        raise InvalidInputError("cursor is not valid")
    offset = data.get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInputError("cursor is not valid")
    if data.get("query") != fingerprint:
        raise InvalidInputError("cursor belongs to another query")
    if offset >= MAX_RESULTS:
        raise InvalidInputError(f"cursor is past the last result pixsift returns ({MAX_RESULTS})")
    return offset


# Uploads -------------------------------------------------------------------------------------


def _read_upload(upload: FileStorage) -> LoadedImage:
    """Decode an uploaded example image with the same hostile-file-safe reader as the indexer."""
    config = current_app.config
    max_bytes = int(config.get("MAX_CONTENT_LENGTH") or config["MAX_UPLOAD_BYTES"])
    directory = _request_temp_directory()
    path = Path(directory) / "upload"
    upload.save(path)
    try:
        return read_image_for_embedding(
            path, max_pixels=int(config["MAX_UPLOAD_PIXELS"]), max_file_bytes=max_bytes
        )
    except ImageRejectedError as error:
        reason = error.reason
        if reason.startswith(("decompression bomb", "file too large")):
            raise ImageTooLargeError(f"the uploaded image is too large: {reason}") from None
        raise InvalidImageError(f"the uploaded file cannot be used: {reason}") from None
    finally:
        path.unlink(missing_ok=True)


def _request_temp_directory() -> str:
    """A private temporary folder for this request, removed in teardown_appcontext."""
    if "temp_directory" not in g:
        g.temp_directory = tempfile.mkdtemp(prefix="pixsift-upload-")
    return g.temp_directory


def remove_request_temp_directory() -> None:
    directory = g.pop("temp_directory", None)
    if directory is not None:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)


# Building results ----------------------------------------------------------------------------


def build_search_results(
    library: Library, query: SearchQuery, cache: QueryCache | None = None
) -> dict[str, Any]:
    """Run ``query`` and return the page of results as plain data (JSON-ready)."""
    started = time.perf_counter()
    if query.image_id is not None:
        library.image(query.image_id)  # NotFoundError (404) for an unknown id
    model_id = library.store.model_id()
    hits: list[SearchHit] = []
    wanted = min(query.offset + query.k + 1, MAX_RESULTS)
    if model_id is not None:
        embedding = _query_embedding(library, query, model_id, cache)
        hits = library.search_by_embedding(embedding, k=wanted)
    end = query.offset + query.k
    page = hits[query.offset : end]
    has_more = len(hits) > end and end < MAX_RESULTS
    next_cursor = encode_cursor(end, query.fingerprint) if has_more else None
    return {
        "query": {
            "type": query.kind,
            "q": query.text,
            "image_id": query.image_id,
            "k": query.k,
            "offset": query.offset,
        },
        "results": [hit_json(hit) for hit in page],
        "took_ms": round((time.perf_counter() - started) * 1000, 2),
        "next_cursor": next_cursor,
        "next": _next_url(query, next_cursor),
    }


def _query_embedding(
    library: Library, query: SearchQuery, model_id: str, cache: QueryCache | None
) -> EmbeddingMatrix:
    key = (model_id, query.fingerprint)
    cached = cache.get(key) if cache is not None and query.image_id is None else None
    if cached is not None:
        return cached
    if query.text is not None:
        embedding = library.query_embedding(text=query.text)
    elif query.image_id is not None:
        embedding = library.query_embedding(image_id=query.image_id)
    else:
        embedding = library.embedder.embed_images([query.upload.pixels])  # type: ignore[union-attr]
    if cache is not None and query.image_id is None:
        cache.put(key, embedding)
    return embedding


def _next_url(query: SearchQuery, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    if query.text is not None:
        return url_for("api.search", q=query.text, k=query.k, cursor=cursor)
    if query.image_id is not None:
        return url_for("api.similar", image_id=query.image_id, k=query.k, cursor=cursor)
    return None  # an uploaded image must be sent again, with next_cursor


def image_urls(image_id: int, content_hash: str) -> dict[str, str]:
    version = content_hash[:16]
    return {
        "thumbnail_url": url_for("images.thumbnail", image_id=image_id, v=version),
        "image_url": url_for("images.original", image_id=image_id, v=version),
        "similar_url": url_for("api.similar", image_id=image_id),
        "page_url": url_for("pages.image_page", image_id=image_id),
    }


def hit_json(hit: SearchHit) -> dict[str, Any]:
    image = hit.image
    return {
        "id": image.id,
        "score": round(hit.score, 6),
        "name": PurePath(image.relative_path).name,
        "path": image.relative_path,
        "root": image.root_path,
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "taken_at": _iso(image.taken_at),
        **image_urls(image.id, image.content_hash),
    }


def image_json(image: ImageRecord) -> dict[str, Any]:
    return {
        "id": image.id,
        "name": PurePath(image.relative_path).name,
        "path": image.relative_path,
        "root": image.root_path,
        "size_bytes": image.size_bytes,
        "content_hash": image.content_hash,
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "taken_at": _iso(image.taken_at),
        "camera_make": image.camera_make,
        "camera_model": image.camera_model,
        "gps_latitude": image.gps_latitude,
        "gps_longitude": image.gps_longitude,
        "description": image.description,
        "keywords": image.keywords,
        "indexed_at": _iso(image.indexed_at),
        **image_urls(image.id, image.content_hash),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
