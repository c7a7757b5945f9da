"""Rate limits per client address (Flask-Limiter): login attempts always; searches and uploads
when accounts are in use (the desktop mode has one user, who is not limited). Counters live in
``RATE_LIMIT_STORAGE`` (memory by default: each worker counts on its own, so the effective limit
is up to the number of workers times the setting; give a shared store such as redis:// to count
once). A refused request is a 429 in the error shape, with Retry-After."""

from __future__ import annotations

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from pixsift.search.errors import PixsiftError
from pixsift.web import errors
from pixsift.web.auth import auth_required

#: Every way to run a search, on the API and the page: one shared count.
SEARCH_ENDPOINTS = ("api.search", "api.search_csv", "api.search_post", "api.similar", "pages.index")
#: Where an example image can be uploaded.
UPLOAD_ENDPOINTS = ("api.search_post", "pages.index")
LOGIN_ENDPOINT = "auth.login"
OFF = ("", "off", "none", "0")


class TooManyRequestsError(PixsiftError):
    code = "too_many_requests"
    http_status = 429


def init_app(app: Flask) -> Limiter:
    """A limiter for ``app``, applied to the endpoints above (call after the blueprints)."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=str(app.config["RATE_LIMIT_STORAGE"]),
        strategy="moving-window",
        headers_enabled=True,
    )
    login = _limit(app.config["LOGIN_RATE_LIMIT"])
    if login:
        _apply(app, limiter.limit(login, methods=["POST"]), (LOGIN_ENDPOINT,))
    search = _limit(app.config["SEARCH_RATE_LIMIT"])
    if search:
        shared = limiter.shared_limit(search, scope="search", exempt_when=_open)
        _apply(app, shared, SEARCH_ENDPOINTS)
    upload = _limit(app.config["UPLOAD_RATE_LIMIT"])
    if upload:
        shared = limiter.shared_limit(upload, scope="upload", exempt_when=_not_an_upload)
        _apply(app, shared, UPLOAD_ENDPOINTS)
    app.register_error_handler(RateLimitExceeded, _too_many_requests)
    return limiter


def _limit(value: object) -> str | None:
    text = str(value or "").strip()
    return None if text.lower() in OFF else text


def _apply(app: Flask, decorator: object, endpoints: tuple[str, ...]) -> None:
    for endpoint in endpoints:
        if endpoint in app.view_functions:
            app.view_functions[endpoint] = decorator(app.view_functions[endpoint])  # type: ignore[operator]


def _open() -> bool:
    return not auth_required()


def _not_an_upload() -> bool:
    # Decided from the header alone: the body is not parsed before the limit is checked.
    return _open() or request.method != "POST" or request.mimetype != "multipart/form-data"


def _too_many_requests(error: RateLimitExceeded) -> Response:
    refusal = TooManyRequestsError(
        f"too many requests: at most {error.description} from one client; try again later"
    )
    response = errors.handle_error(refusal)
    assert isinstance(response, Response)
    return response  # Flask-Limiter adds Retry-After and the X-RateLimit headers
