"""Who is calling, and whether they may: one check before every request.

Without accounts, on loopback, pixsift is a single-user desktop tool and everything stays open
(the caller is the local admin). Once a user or an API key exists (or the server was started on
a network address, ``REQUIRE_ACCOUNTS``), every request but the health check, the static files
and the login page needs a caller: an API key (``Authorization: Bearer pxs_...``) or a login
session cookie (Flask-Login; each login is a row that logging out deletes). Unauthenticated API
requests get 401 with ``WWW-Authenticate``; pages redirect to the login form.

In every mode, a request that changes something and carries no API key must come from this
server's own pages: an ``Origin`` or ``Sec-Fetch-Site`` saying another site sent it is refused
(403 ``cross_site_request``), so a web page cannot post a form to a desktop server. With accounts,
cookie-authenticated changes also carry a CSRF token (Flask-WTF). Bearer-key requests need
neither (a browser never adds that header by itself, and scripts send no Origin).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import flask_login
from flask import Flask, Request, Response, current_app, g, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from pixsift.search.accounts import (
    LOCAL_PRINCIPAL,
    SESSION_LIFETIME,
    Accounts,
    Principal,
    UserRecord,
)
from pixsift.search.errors import (
    AuthenticationError,
    InvalidInputError,
    LibraryError,
    PermissionDeniedError,
)
from pixsift.search.visibility import FULL_VISIBILITY, Visibility
from pixsift.web.errors import is_json_path
from pixsift.web.state import get_library

F = TypeVar("F", bound=Callable[..., Any])

ACCESS_ATTRIBUTE = "pixsift_access"
#: Endpoints anyone may reach: the health check (for proxies and monitors), the static files
#: (the login page needs its style sheet) and the login form.
PUBLIC_ENDPOINTS = frozenset({"static", "api.health", "auth.login"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEALTH_PATH = "/api/health"
SECRET_KEY_FILENAME = "secret_key"
SESSION_COOKIE_NAME = "pixsift_session"
NO_ACCOUNTS_MESSAGE = (
    "this server has no accounts: accounts are managed on the page by a logged-in admin; "
    "create the first one with: pixsift users add NAME --role admin"
)

login_manager = flask_login.LoginManager()
csrf = CSRFProtect()
_secret_lock = threading.Lock()


class CsrfError(InvalidInputError):
    """A cookie-authenticated form or request without a valid CSRF token."""

    code = "csrf_failed"


class CrossSiteRequestError(PermissionDeniedError):
    """A change sent by another site's page (its Origin or Sec-Fetch-Site says so)."""

    code = "cross_site_request"


class SecretKeyError(LibraryError):
    """The session key cannot be used. Said to callers without the library's path (which only
    the server log shows): fail closed, tell nothing."""

    code = "server_misconfigured"
    http_status = 500


class SessionUser(flask_login.UserMixin):
    """The logged-in user as Flask-Login keeps it: the id it stores in the cookie is the user's
    id, session stamp and login token (:meth:`Accounts.start_session`), so a new password or
    role ends the sessions made before, and logging out ends this one wherever it was copied."""

    def __init__(self, record: UserRecord, session_id: str) -> None:
        self.record = record
        self.session_id = session_id

    def get_id(self) -> str:
        return self.session_id


class TlsAwareSessionInterface(SecureCookieSessionInterface):
    """Session cookies are Secure whenever the request came over https (directly, or through a
    trusted proxy that says so), without a setting to forget."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, req: Request) -> SessionMixin | None:
        # The session opens before any before_request function runs: a worker's first request
        # must find the key already loaded, or its session cannot hold a CSRF token.
        if not app.secret_key and not _answered_without_asking(app, req) and callers_required(app):
            with contextlib.suppress(SecretKeyError):  # authorize() refuses it, in the error shape
                ensure_secret_key(app)
        return super().open_session(app, req)


def _answered_without_asking(app: Flask, req: Request) -> bool:
    """The health check and the static files: answered without a database query."""
    return req.path == HEALTH_PATH or req.path.startswith(f"{app.static_url_path}/")


def callers_required(app: Flask) -> bool:
    """Whether this request needs a caller (asked once per request)."""
    if "callers_required" not in g:
        g.callers_required = bool(app.config["REQUIRE_ACCOUNTS"]) or accounts().in_use()
    return bool(g.callers_required)


def admin_only(view: F) -> F:
    """Mark a view as needing an admin."""
    setattr(view, ACCESS_ATTRIBUTE, "admin")
    return view


def init_app(app: Flask) -> None:
    app.config.setdefault("REQUIRE_ACCOUNTS", False)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked in authorize(), for cookie callers
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    # Flask's defaults name the cookie "session" and keep it 31 days.
    app.config["SESSION_COOKIE_NAME"] = SESSION_COOKIE_NAME
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
    app.session_interface = TlsAwareSessionInterface()
    login_manager.init_app(app)
    login_manager.user_loader(_load_session_user)
    csrf.init_app(app)
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    app.before_request(authorize)
    app.after_request(_after_request)
    app.context_processor(_template_values)


def endpoint_access(app: Flask, endpoint: str | None) -> str:
    """ "public", "viewer" (the default: search, view, export) or "admin"."""
    if endpoint in PUBLIC_ENDPOINTS:
        return "public"
    view = app.view_functions.get(endpoint or "")
    return getattr(view, ACCESS_ATTRIBUTE, "viewer")


def accounts() -> Accounts:
    return Accounts(get_library().store)


def principal() -> Principal:
    return g.get("principal", LOCAL_PRINCIPAL)


def visibility() -> Visibility:
    return g.get("visibility", FULL_VISIBILITY)


def viewers_see_places() -> bool:
    """Whether this server shows viewers where pictures were taken (the hide_gps_from_viewers
    setting): what a viewer's smart album may read, whoever opens it (search.album_makers)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return not bool(int(app.config.get("HIDE_GPS_FROM_VIEWERS") or 0))


def auth_required() -> bool:
    return bool(g.get("auth_required", False))


def authorize() -> Response | None:
    if request.routing_exception is not None:
        return None  # no such page, method or Host: Flask answers that (404, 405, 400) itself
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if request.method not in SAFE_METHODS and "Authorization" not in request.headers:
        check_same_origin()
    access = endpoint_access(app, request.endpoint)
    if access == "public" and request.method in SAFE_METHODS and request.endpoint != "auth.login":
        return None  # no database query: the health check answers whatever the accounts
    if not callers_required(app):
        if access == "admin":
            raise PermissionDeniedError(NO_ACCOUNTS_MESSAGE)
        return None
    ensure_secret_key(app)  # first: an error page without a key must not ask for a CSRF token
    g.auth_required = True
    caller = _bearer_principal(request)
    if caller is None:
        if request.method not in SAFE_METHODS:
            _check_csrf()
        caller = _session_principal()
    if caller is None:
        if access == "public":
            return None
        if is_json_path(request.path):
            raise AuthenticationError("log in, or send an API key: Authorization: Bearer pxs_...")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    g.principal = caller
    if not caller.is_admin:
        g.visibility = Visibility(server_paths=False, gps=viewers_see_places())
    if access == "admin" and not caller.is_admin:
        raise PermissionDeniedError(f"{caller.name} is a viewer: this needs an admin")
    return None


def _bearer_principal(req: Request) -> Principal | None:
    header = req.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("send an API key as: Authorization: Bearer pxs_...")
    key = accounts().verify_key(token.strip())
    return Principal(kind="key", name=key.name, role=key.role)


def _session_principal() -> Principal | None:
    user = flask_login.current_user
    if not user.is_authenticated:
        return None
    record = user.record
    return Principal(kind="user", name=record.name, role=record.role)


def _load_session_user(session_id: str) -> SessionUser | None:
    try:
        return SessionUser(accounts().session_user(session_id), session_id)
    except AuthenticationError:
        return None


#: Sec-Fetch-Site values of a request another site's page made (a browser sets the header itself).
CROSS_SITE_FETCHES = frozenset({"cross-site", "same-site"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def check_same_origin() -> None:
    """Refuse a change a page of another site sent (a form post, a fetch): browsers say where
    it came from in ``Origin`` (on every POST, PUT, PATCH, DELETE) and ``Sec-Fetch-Site``.
    A request with neither is a script's, not a page's, and goes on."""
    origin = request.headers.get("Origin")
    if origin is not None and _origin(origin) != _origin(f"{request.scheme}://{request.host}"):
        raise CrossSiteRequestError(
            f"refused a change sent from another site's page (Origin {origin[:100]})"
        )
    if request.headers.get("Sec-Fetch-Site", "").lower() in CROSS_SITE_FETCHES:
        raise CrossSiteRequestError("refused a change sent from another site's page")


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url.strip().lower())
        return parts.scheme, parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return "", "", None  # not a URL ("null" from a sandboxed page): matches nothing


def _check_csrf() -> None:
    try:
        csrf.protect()
    except CSRFError as error:
        raise CsrfError(
            f"{error.description} (reload the page and try again)".replace(". (", " (")
        ) from None


def _after_request(response: Response) -> Response:
    if response.status_code == 401 and is_json_path(request.path):
        response.headers["WWW-Authenticate"] = 'Bearer realm="pixsift"'
    if auth_required():
        # What a caller sees depends on who they are: no shared cache may keep it for another.
        response.cache_control.public = False
        response.cache_control.private = True
        response.vary.update(("Cookie", "Authorization"))
    return response


def _template_values() -> dict[str, Any]:
    return {"auth_required": auth_required(), "principal": principal()}


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this server, never another site."""
    if not target:
        return url_for("pages.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.index")
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        # A control character (CR/LF) would end the Location header: never a real path here.
        return url_for("pages.index")
    return target


# The secret key ----------------------------------------------------------------------------


def ensure_secret_key(app: Flask) -> None:
    """Give the app its key on first need: PIXSIFT_SECRET_KEY, else the library's key file."""
    if app.secret_key:
        return
    with _secret_lock:
        if not app.secret_key:
            try:
                app.secret_key = load_or_create_secret_key(get_library().directory)
            except LibraryError as error:
                current_app.logger.error("%s", error.message)
                raise SecretKeyError(
                    "the server's secret key cannot be used (see the server log): nobody can "
                    "log in until its administrator fixes it"
                ) from None


def load_or_create_secret_key(directory: Path) -> str:
    """The key kept in ``directory`` (mode 0600), made now if there is none. Several workers may
    ask at once: each writes a private temporary file and links it into place, which fails for
    all but the first; everyone then reads the one that won."""
    path = directory / SECRET_KEY_FILENAME
    if not path.exists():
        temporary = directory / f".{SECRET_KEY_FILENAME}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as output:
            output.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return _read_secret_key(path)


def _read_secret_key(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        key = path.read_text().strip()
    except OSError as error:
        raise LibraryError(f"cannot read the secret key {path}: {error}") from error
    if mode & 0o077:
        raise LibraryError(
            f"the secret key {path} can be read by other users: chmod 600 it (or remove it to "
            "make a new one, which logs everyone out)"
        )
    if len(key) < 32:
        raise LibraryError(f"the secret key {path} is too short: remove it to make a new one")
    return key
