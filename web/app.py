"""The Flask application factory."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response

from web import api, errors, images, pages, state
from web.settings import APP_SETTINGS, config_key
from web.uploads import remove_request_temp_directory

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. Config comes from the settings (environment variables), then test_config.

    ``LIBRARY`` may be a directory or a ready :class:`search.library.Library` (tests pass one).
    """
    app = Flask(__name__)
    for setting in APP_SETTINGS:
        app.config[config_key(setting)] = setting.value()
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_BYTES"]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if test_config is not None:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secrets.token_hex()

    state.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(images.bp)
    errors.register_error_handler(app)

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
