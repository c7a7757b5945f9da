"""The one place that turns a search request into result data.

The search page and the JSON API both call :func:`parse_search_query` and
:func:`build_search_results`; they differ only in how they render the returned dict.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import Any

from flask import current_app, g, url_for
from werkzeug.datastructures import FileStorage

from search.errors import InvalidInputError
from search.library import Library
from search.media.imagefile import (
    ImageRejectedError,
    LoadedImage,
    OversizedImageError,
    read_image_for_embedding,
)
from search.query.filters import ORIENTATIONS, SearchFilters, filters_from_params, parse_filter_date
from search.query.request import (
    MAX_RESULTS,
    RESULT_ORDERS,
    SEARCH_MODES,
    QueryTerm,
    SearchPage,
    SearchRequest,
)
from search.records import ImageRecord, SearchHit
from web.errors import ImageTooLargeError, InvalidImageError
from web.settings import MAX_PAGE_SIZE

MAX_QUERY_LENGTH = 1000
MAX_CURSOR_LENGTH = 200


#: Filter parameters, in the order they are echoed and fingerprinted.
FILTER_PARAMS = (
    "root", "folder", "path", "after", "before", "camera_make", "camera_model",
    "min_width", "max_width", "min_height", "max_height", "min_megapixels", "max_megapixels",
    "orientation", "format", "min_size", "max_size", "has_gps", "gps_box",
)  # fmt: skip
MAX_TERMS = 20
MAX_WEIGHT = 100.0
MAX_FILTER_TEXT = 1000


@dataclass(frozen=True)
class SearchQuery:
    """One search: its terms (a text, an indexed image, an uploaded image, extra weighted terms,
    an excluded text), how to rank and filter, and which page."""

    k: int
    offset: int = 0
    text: str | None = None
    image_id: int | None = None
    upload: LoadedImage | None = None
    upload_path: Path | None = None
    mode: str = "hybrid"
    order: str = "score"
    min_score: float | None = None
    collapse: bool = False
    exclude: str | None = None
    #: Extra weighted terms from a JSON body: ("text" | "image_id", value, weight).
    terms: tuple[tuple[str, Any, float], ...] = ()
    #: Filters as given (normalised), for echoing, fingerprints and next-page URLs.
    filter_params: tuple[tuple[str, Any], ...] = ()
    filters: SearchFilters = field(default_factory=SearchFilters)

    @property
    def kind(self) -> str:
        subjects = [
            self.text is not None,
            self.image_id is not None,
            self.upload is not None,
            bool(self.terms),
        ]
        if sum(subjects) != 1:
            return "combined"
        if self.text is not None:
            return "text"
        if self.image_id is not None:
            return "image_id"
        return "image" if self.upload is not None else "combined"

    @property
    def fingerprint(self) -> str:
        if self.text is not None:
            subject = f"text:{self.text}"
        elif self.image_id is not None:
            subject = f"image_id:{self.image_id}"
        elif self.upload is not None:
            subject = f"image:{self.upload.content_hash}"
        else:
            subject = ""
        options = self.options()
        if self.text is not None and self.upload is not None:
            options["image"] = self.upload.content_hash
        if options:
            subject += "|" + json.dumps(options, sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(subject.encode(), digest_size=8).hexdigest()

    def options(self) -> dict[str, Any]:
        """Everything but the main subject and the page that differs from the defaults."""
        options: dict[str, Any] = {}
        if self.mode != "hybrid":
            options["mode"] = self.mode
        if self.order != "score":
            options["order"] = self.order
        if self.min_score is not None:
            options["min_score"] = self.min_score
        if self.collapse:
            options["collapse"] = True
        if self.exclude is not None:
            options["exclude"] = self.exclude
        if self.terms:
            options["terms"] = [list(term) for term in self.terms]
        if self.filter_params:
            options["filters"] = dict(self.filter_params)
        return options

    def url_params(self) -> dict[str, Any]:
        """Query-string parameters (besides q, image_id, k and cursor) that repeat this search."""
        params: dict[str, Any] = {}
        if self.mode != "hybrid":
            params["mode"] = self.mode
        if self.order != "score":
            params["order"] = self.order
        if self.min_score is not None:
            params["min_score"] = repr(self.min_score)
        if self.collapse:
            params["collapse"] = "true"
        if self.exclude is not None:
            params["exclude"] = self.exclude
        for name, value in self.filter_params:
            if isinstance(value, bool):
                params[name] = "true" if value else "false"
            elif isinstance(value, float):
                params[name] = repr(value)
            else:
                params[name] = value
        return params

    def echo(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "q": self.text,
            "image_id": self.image_id,
            "k": self.k,
            "offset": self.offset,
            "mode": self.mode,
            "order": self.order,
            "min_score": self.min_score,
            "collapse": self.collapse,
            "exclude": self.exclude,
            "terms": [{kind: value, "weight": weight} for kind, value, weight in self.terms],
            "filters": dict(self.filter_params),
        }

    def search_request(self) -> SearchRequest:
        terms: list[QueryTerm] = []
        if self.text is not None:
            terms.append(QueryTerm(text=self.text))
        if self.image_id is not None:
            terms.append(QueryTerm(image_id=self.image_id))
        if self.upload_path is not None:
            terms.append(QueryTerm(image_path=self.upload_path))
        for kind, value, weight in self.terms:
            terms.append(QueryTerm(weight=weight, **{kind: value}))
        if self.exclude is not None:
            terms.append(QueryTerm(text=self.exclude, weight=-1.0))
        return SearchRequest(
            terms=tuple(terms),
            filters=self.filters,
            mode=self.mode,  # type: ignore[arg-type]
            k=self.k,
            offset=self.offset,
            min_score=self.min_score,
            order=self.order,  # type: ignore[arg-type]
            collapse_duplicates=self.collapse,
        )


# Parsing -------------------------------------------------------------------------------------


def parse_search_query(
    params: Mapping[str, Any],
    upload: FileStorage | None = None,
    *,
    image_id: int | None = None,
) -> SearchQuery | None:
    """Validate request parameters; None when they hold no query at all (an empty search page).

    ``params`` holds ``q``, ``k``, ``cursor``, ``image_id``, the ranking options and the filters
    from a query string, a form or a JSON object (``terms`` only from JSON); ``image_id`` given
    as an argument comes from the URL path.
    """
    text = _text_param(params.get("q"))
    if image_id is None:
        image_id = _image_id_param(params.get("image_id"))
    has_upload = upload is not None and bool(upload.filename or upload.content_length)
    terms = _terms_param(params.get("terms"))
    if text is None and image_id is None and not has_upload and not terms:
        return None
    if image_id is not None and (text is not None or has_upload):
        raise InvalidInputError(
            "give one query: q (a text, optionally with an uploaded image), image_id, "
            "or an uploaded image"
        )
    filter_params, filters = _filters_param(params)
    options = {
        "mode": _choice(params.get("mode"), "mode", SEARCH_MODES, "hybrid"),
        "order": _choice(params.get("order"), "order", RESULT_ORDERS, "score"),
        "min_score": _min_score_param(params.get("min_score")),
        "collapse": bool(_bool_param(params.get("collapse"), "collapse")),
        "exclude": _text_param(params.get("exclude"), "exclude"),
        "terms": terms,
        "filter_params": filter_params,
        "filters": filters,
    }
    k = _k_param(params.get("k"))
    loaded, path = _read_upload(upload) if has_upload else (None, None)  # type: ignore[arg-type]
    query = SearchQuery(
        k=k, text=text, image_id=image_id, upload=loaded, upload_path=path, **options
    )
    cursor = params.get("cursor")
    if cursor is not None and cursor != "":
        query = replace(query, offset=decode_cursor(cursor, query.fingerprint))
    return query


def require_query(query: SearchQuery | None) -> SearchQuery:
    if query is None:
        raise InvalidInputError("the search is empty: give q (a text), image_id, or an image")
    return query


def _text_param(value: Any, name: str = "q") -> str | None:
    if value is None or (name != "q" and value == ""):
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string")
    if not value.strip():
        if name != "q":
            return None
        raise InvalidInputError("the search text is empty")
    if len(value) > MAX_QUERY_LENGTH:
        raise InvalidInputError(f"{name} is longer than {MAX_QUERY_LENGTH} characters")
    return value.strip()


def _choice(value: Any, name: str, choices: tuple[str, ...], default: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(f"{name} must be one of {', '.join(choices)}")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and len(value) <= 40:
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidInputError(f"{name} must be a number, not {value!r}") from None
    else:
        raise InvalidInputError(f"{name} must be a number")
    if not math.isfinite(number):
        raise InvalidInputError(f"{name} must be a finite number")
    return number


def _min_score_param(value: Any) -> float | None:
    if value is None or value == "":
        return None
    number = _number(value, "min_score")
    if not -1 <= number <= 1:
        raise InvalidInputError("min_score is a cosine similarity, between -1 and 1")
    return number


def _bool_param(value: Any, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise InvalidInputError(f"{name} must be true or false")


def _terms_param(value: Any) -> tuple[tuple[str, Any, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInputError("terms must be a JSON list of {text|image_id, weight} objects")
    if len(value) > MAX_TERMS:
        raise InvalidInputError(f"give at most {MAX_TERMS} terms")
    terms = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"text", "image_id", "weight"}:
            raise InvalidInputError("each term is an object with text or image_id, and weight")
        if ("text" in item) == ("image_id" in item):
            raise InvalidInputError("each term has exactly one of text and image_id")
        weight = _number(item.get("weight", 1.0), "weight")
        if weight == 0 or abs(weight) > MAX_WEIGHT:
            raise InvalidInputError(f"a weight is non-zero and at most {MAX_WEIGHT:g} in size")
        if "text" in item:
            text = _text_param(item["text"], "a term's text")
            if text is None:
                raise InvalidInputError("a term's text is empty")
            terms.append(("text", text, weight))
        else:
            image_id = _image_id_param(item["image_id"])
            if image_id is None:
                raise InvalidInputError("a term's image_id is empty")
            terms.append(("image_id", image_id, weight))
    return tuple(terms)


def _filter_text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_FILTER_TEXT:
        raise InvalidInputError(f"{name} must be a string of at most {MAX_FILTER_TEXT} characters")
    return value.strip() or None


def _date_param(value: Any, name: str) -> str | None:
    text = _filter_text(value, name)
    if text is not None:
        try:
            parse_filter_date(text)
        except InvalidInputError:
            raise InvalidInputError(
                f"{name} must be a date like 2024-06-30, not {text[:40]!r}"
            ) from None
    return text


def _formats_param(params: Mapping[str, Any]) -> tuple[str, ...]:
    getlist = getattr(params, "getlist", None)
    values = getlist("format") if getlist is not None else params.get("format")
    if values is None or values == "":
        return ()
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or len(values) > MAX_TERMS:
        raise InvalidInputError(f"format must be a list of at most {MAX_TERMS} names")
    formats = []
    for value in values:
        name = _filter_text(value, "format")
        if name is not None:
            if not name.isascii() or not name.replace("-", "").isalnum() or len(name) > 20:
                raise InvalidInputError(f"format must be a name like JPEG, not {name[:40]!r}")
            formats.append(name.upper())
    return tuple(formats)


def _filters_param(
    params: Mapping[str, Any],
) -> tuple[tuple[tuple[str, Any], ...], SearchFilters]:
    """The filters as given (for echoing) and as :class:`SearchFilters`."""
    given: dict[str, Any] = {}
    for name in ("root", "folder", "path", "camera_make", "camera_model"):
        given[name] = _filter_text(params.get(name), name)
    for name in ("after", "before"):
        given[name] = _date_param(params.get(name), name)
    for name in ("min_width", "max_width", "min_height", "max_height", "min_size", "max_size"):
        value = params.get(name)
        given[name] = None if value is None or value == "" else _integer(value, name)
        if given[name] is not None and given[name] < 0:
            raise InvalidInputError(f"{name} must not be negative")
    for name in ("min_megapixels", "max_megapixels"):
        value = params.get(name)
        given[name] = None if value is None or value == "" else _number(value, name)
        if given[name] is not None and given[name] < 0:
            raise InvalidInputError(f"{name} must not be negative")
    orientation = params.get("orientation")
    given["orientation"] = (
        None if orientation in (None, "") else _choice(orientation, "orientation", ORIENTATIONS, "")
    )
    formats = _formats_param(params)
    given["format"] = list(formats) or None
    given["has_gps"] = _bool_param(params.get("has_gps"), "has_gps")
    given["gps_box"] = _filter_text(params.get("gps_box"), "gps_box")
    filters = filters_from_params(
        **{name: value for name, value in given.items() if name != "format"}, formats=formats
    )
    echoed = tuple((name, given[name]) for name in FILTER_PARAMS if given[name] is not None)
    return echoed, filters


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


def _read_upload(upload: FileStorage) -> tuple[LoadedImage, Path]:
    """Decode an uploaded example image with the same hostile-file-safe reader as the indexer.

    The file stays in the request's temporary folder (removed in teardown) so the query engine
    can use it as an image term."""
    config = current_app.config
    max_bytes = int(config.get("MAX_CONTENT_LENGTH") or config["MAX_UPLOAD_BYTES"])
    directory = _request_temp_directory()
    path = Path(directory) / "upload"
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


def run_query(library: Library, query: SearchQuery) -> SearchPage | None:
    """The page of hits for ``query``; None while the library holds no embeddings."""
    if query.image_id is not None:
        library.image(query.image_id)  # NotFoundError (404) for an unknown id
    if library.store.model_id() is None:
        return None
    return library.find(query.search_request())


def build_search_results(library: Library, query: SearchQuery) -> dict[str, Any]:
    """Run ``query`` and return the page of results as plain data (JSON-ready). Query texts'
    embeddings are cached by the embedder itself."""
    started = time.perf_counter()
    page = run_query(library, query)
    hits = page.hits if page is not None else []
    next_offset = page.next_offset if page is not None else None
    next_cursor = encode_cursor(next_offset, query.fingerprint) if next_offset else None
    return {
        "query": query.echo(),
        "results": [hit_json(hit) for hit in hits],
        "took_ms": round((time.perf_counter() - started) * 1000, 2),
        "next_cursor": next_cursor,
        "next": _next_url(query, next_cursor),
    }


def _next_url(query: SearchQuery, cursor: str | None) -> str | None:
    if cursor is None or query.upload is not None or query.terms:
        return None  # an uploaded image or a JSON body must be sent again, with next_cursor
    params = {**query.url_params(), "k": query.k, "cursor": cursor}
    if query.text is not None:
        return url_for("api.search", q=query.text, **params)
    return url_for("api.similar", image_id=query.image_id, **params)


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
    date, date_source = hit.date_with_source()
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
        "similarity": None if hit.similarity is None else round(hit.similarity, 6),
        "date": date.isoformat(),
        "date_source": date_source,
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
