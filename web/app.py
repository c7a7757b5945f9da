"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, request
from werkzeug.routing import IntegerConverter

from pixsift.search.query.request import MAX_STORED_INTEGER
from pixsift.web import (
    admin_api,
    album_pages,
    albums_api,
    api,
    auth,
    browse_api,
    browse_pages,
    descriptions,
    duplicates_view,
    errors,
    explain,
    images,
    limits,
    login,
    map_view,
    page_format,
    pages,
    shares,
    state,
    tags_api,
    uploads,
)
from pixsift.web.errors import HeadersTooLargeError, RequestLineTooLongError
from pixsift.web.hosts import HostCheckingFlask, allowed_hosts
from pixsift.web.policy import CONTENT_SECURITY_POLICY
from pixsift.web.settings import APP_SETTINGS, config_key
from pixsift.web.uploads import remove_request_temp_directory

#: The app's own limits on a request's line and headers (gunicorn's defaults). The server lets
#: requests up to twice these through (cli/serve.py), so that the app answers them first, in
#: its own error shape.
MAX_REQUEST_LINE = 4094
MAX_HEADER_FIELD = 8190
MAX_HEADER_FIELDS = 100


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. Config comes from the settings (environment variables), then test_config.

    ``LIBRARY`` may be a directory or a ready :class:`search.library.Library` (tests pass one).
    """
    app = HostCheckingFlask(__name__)
    # Every integer in a URL is a database id: bounded to what SQLite stores, so a larger one is
    # an unknown page (404), never an overflow.
    app.url_map.converters["int"] = StoreIdConverter
    for setting in APP_SETTINGS:
        app.config[config_key(setting)] = setting.value()
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_BYTES"]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if test_config is not None:
        app.config.update(test_config)
    # Checked by HostCheckingFlask (werkzeug's own check cannot name an IPv6 address).
    app.config["ALLOWED_HOSTS"] = allowed_hosts(app.config["TRUSTED_HOSTS"])
    app.config["TRUSTED_HOSTS"] = None

    state.init_app(app)
    uploads.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(images.bp)
    app.register_blueprint(tags_api.bp)
    app.register_blueprint(descriptions.bp)
    app.register_blueprint(explain.bp)
    app.register_blueprint(login.bp)
    app.register_blueprint(admin_api.bp)
    app.register_blueprint(page_format.bp)
    app.register_blueprint(duplicates_view.bp)
    app.register_blueprint(map_view.bp)
    app.register_blueprint(albums_api.bp)
    app.register_blueprint(album_pages.bp)
    app.register_blueprint(shares.bp)
    app.register_blueprint(browse_api.bp)
    app.register_blueprint(browse_pages.bp)
    errors.register_error_handler(app)

    app.before_request(_check_request_size)
    # Who is calling is known before any limit is counted (searches are limited only once
    # accounts are in use).
    auth.init_app(app)
    shares.init_limits(app, limits.init_app(app))

    @app.teardown_appcontext
    def _teardown(_error: BaseException | None) -> None:
        remove_request_temp_directory()

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


class StoreIdConverter(IntegerConverter):
    """``<int:...>`` limited to 0..2**63-1 (SQLite's integers)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_STORED_INTEGER)
        super().__init__(map, *args, **kwargs)


def _check_request_size() -> None:
    environ = request.environ
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path
    line = len(request.method) + len(target) + len(environ.get("SERVER_PROTOCOL", "")) + 2
    if line > MAX_REQUEST_LINE:
        raise RequestLineTooLongError(f"the request line is longer than {MAX_REQUEST_LINE} bytes")
    headers = list(request.headers.items())
    if len(headers) > MAX_HEADER_FIELDS or any(
        len(name) + len(value) + 2 > MAX_HEADER_FIELD for name, value in headers
    ):
        raise HeadersTooLargeError(
            f"give at most {MAX_HEADER_FIELDS} headers of at most {MAX_HEADER_FIELD} bytes each"
        )
