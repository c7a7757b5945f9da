"""One error handler for the whole app: every failure becomes ``(status, code, message)``.

Failures pixsift raises on purpose are :class:`search.errors.PixsiftError` (the web layer adds a
few subclasses for HTTP-only cases); werkzeug's HTTP exceptions (unknown route, wrong method, body
over MAX_CONTENT_LENGTH, ...) are mapped the same way; anything else is a logged 500 whose details
stay in the log. Under ``/api`` the answer is JSON ``{"error": {"code", "message"}}``, elsewhere
an HTML page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from pixsift.search.errors import InvalidInputError, PixsiftError

API_PREFIX = "/api"
#: Image files are resources of the API too: their errors are JSON (pages are HTML).
_IMAGE_FILE_PATH = re.compile(r"^/images/[^/]+/(original|thumbnail|sized/[^/]+)$")


class InvalidImageError(InvalidInputError):
    """An uploaded file that is not an image pixsift can read."""

    code = "invalid_image"


class ImageTooLargeError(InvalidInputError):
    """An uploaded image over the pixel limit (a decompression bomb) or the size limit."""

    code = "request_entity_too_large"
    http_status = 413


class UnsupportedMediaTypeError(InvalidInputError):
    """A request body in a content type the endpoint does not take."""

    code = "unsupported_media_type"
    http_status = 415


class PayloadTooLargeError(InvalidInputError):
    """A request body over what the endpoint takes."""

    code = "request_entity_too_large"
    http_status = 413


class RequestLineTooLongError(InvalidInputError):
    code = "uri_too_long"
    http_status = 414


class HeadersTooLargeError(InvalidInputError):
    code = "request_header_fields_too_large"
    http_status = 431


class InvalidJSONError(InvalidInputError):
    """A request body that is not well-formed JSON (or not a JSON object)."""

    code = "invalid_json"


@dataclass(frozen=True)
class ErrorReport:
    status: int
    code: str
    message: str


def describe(error: BaseException) -> ErrorReport:
    if isinstance(error, PixsiftError):
        return ErrorReport(error.http_status, error.code, error.message)
    if isinstance(error, HTTPException):
        status = error.code or 500
        name = HTTP_STATUS_CODES.get(status, "error")
        return ErrorReport(status, name.lower().replace(" ", "_"), error.description or name)
    return ErrorReport(500, "internal_error", "an unexpected error happened; see the server log")


def is_json_path(path: str) -> bool:
    return (
        path == API_PREFIX
        or path.startswith(API_PREFIX + "/")
        or bool(_IMAGE_FILE_PATH.match(path))
    )


def error_json(report: ErrorReport) -> dict[str, dict[str, str]]:
    return {"error": {"code": report.code, "message": report.message}}


def handle_error(error: Exception) -> Response | HTTPException:
    if isinstance(error, HTTPException) and error.code is None:
        return error  # routing redirects are not errors
    report = describe(error)
    if report.status >= 500 and not isinstance(error, (PixsiftError, HTTPException)):
        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    if is_json_path(request.path):
        response = jsonify(error_json(report))
    elif request_ctx.url_adapter is None:
        # No URL can be built for this request (its Host is not trusted): a page without links.
        response = Response(render_template("error_bare.html", error=report), mimetype="text/html")
    else:
        response = Response(render_template("error.html", error=report), mimetype="text/html")
    response.status_code = report.status
    if isinstance(error, HTTPException):
        # Keep what werkzeug adds on purpose, such as Allow on 405.
        for name, value in error.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
    return response


def register_error_handler(app: Flask) -> None:
    app.register_error_handler(Exception, handle_error)
