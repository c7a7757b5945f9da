"""Share links on the web: managing them (``/api/shares``, for logged-in callers) and opening
them (``/s/<token>`` and ``/api/shared/<token>...``, for anyone holding the token, no account).

An opened link gives exactly what :func:`search.shares.open_share` says: its pictures' thumbnails
and previews (and originals only where the link allows), by image id, each checked to belong to
the link; never another picture, a path, a GPS position or a place. A password is sent as the
``X-Share-Password`` header by API clients; the page asks once and remembers the link as unlocked
in the (signed) session. Every public view is rate-limited per client address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_limiter import Limiter
from pydantic import BaseModel, Field

from pixsift.search.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from pixsift.search.query.request import MAX_STORED_INTEGER, Contract
from pixsift.search.records import ImageRecord
from pixsift.search.shares import (
    NewShare,
    ShareAccess,
    ShareRecord,
    ShareRequest,
    Shares,
    check_share_password,
    open_share,
    share_lookup,
)
from pixsift.web import images
from pixsift.web.auth import ACCESS_ATTRIBUTE, ensure_secret_key, principal, viewers_see_places
from pixsift.web.parsing import Operation, operation
from pixsift.web.schemas import dump
from pixsift.web.settings import MAX_PAGE_SIZE
from pixsift.web.state import get_library

bp = Blueprint("shares", __name__)

PASSWORD_HEADER = "X-Share-Password"
UNLOCKED_SESSION_KEY = "unlocked_shares"
PREVIEW_SIZE = 1280
#: Endpoints anyone holding a token may reach.
PUBLIC_SHARE_ENDPOINTS = (
    "shares.shared_json",
    "shares.shared_thumbnail",
    "shares.shared_preview",
    "shares.shared_original",
    "shares.shared_page",
)


def public(view: Any) -> Any:
    """Mark a view as reachable without an account (the token is the credential)."""
    setattr(view, ACCESS_ATTRIBUTE, "public")
    return view


class ShareList(BaseModel):
    shares: list[ShareRecord]


class NewShareOut(NewShare):
    url: str = Field(description="The page of the link, to hand to someone.")


class SharedPageParams(Contract):
    offset: int = Field(0, ge=0, le=MAX_STORED_INTEGER)
    k: int = Field(MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class SharedImage(BaseModel):
    """A shared picture: its size, date and links; never its path, GPS position or place."""

    id: int
    width: int
    height: int
    date: datetime
    date_source: Literal["taken", "file"]
    thumbnail_url: str
    preview_url: str
    original_url: str | None = Field(description="Null unless the link gives originals.")


class SharedContents(BaseModel):
    """What a share link gives: its title and pictures, in order."""

    title: str
    kind: Literal["album", "image"]
    images: list[SharedImage]
    total: int
    offset: int
    next_offset: int | None


# Managing links ------------------------------------------------------------------------------


@bp.post("/api/shares")
@operation(
    Operation(
        "Create a share link to an album, a smart album or one picture (its token is shown once)",
        body=ShareRequest,
        responses={201: NewShareOut, 404: "error"},
    )
)
def create_share(params: ShareRequest) -> tuple[Response, int]:
    made = Shares(get_library().store, principal()).create(params)
    token = made.token
    answer = NewShareOut(
        share=made.share, token=token, url=url_for("shares.shared_page", token=token)
    )
    return jsonify(dump(answer)), 201


@bp.get("/api/shares")
@operation(Operation("The caller's share links (an admin's: all)", responses={200: ShareList}))
def list_shares() -> Response:
    return jsonify(dump(ShareList(shares=Shares(get_library().store, principal()).list())))


@bp.post("/api/shares/<int:share_id>/revoke")
@operation(Operation("Revoke a share link", responses={200: ShareRecord, 404: "error"}))
def revoke_share(share_id: int) -> Response:
    return jsonify(dump(Shares(get_library().store, principal()).revoke(share_id)))


# Opening links -------------------------------------------------------------------------------


def _unlocked(token: str) -> bool:
    ensure_secret_key(current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        return share_lookup(token) in session.get(UNLOCKED_SESSION_KEY, [])
    except NotFoundError:
        return False


def _open(token: str, *, count: bool) -> ShareAccess:
    return open_share(
        get_library(),
        token,
        request.headers.get(PASSWORD_HEADER),
        unlocked=_unlocked(token),
        count=count,
        viewers_see_places=viewers_see_places(),
    )


def _private(response: Response) -> Response:
    response.cache_control.no_store = True
    response.cache_control.private = True
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _shared_image(token: str, record: ImageRecord, access: ShareAccess) -> SharedImage:
    date, source = record.date_with_source()
    urls = {
        name: url_for(f"shares.shared_{name}", token=token, image_id=record.id)
        for name in ("thumbnail", "preview", "original")
    }
    return SharedImage(
        id=record.id,
        width=record.width,
        height=record.height,
        date=date,
        date_source=source,  # type: ignore[arg-type]
        thumbnail_url=urls["thumbnail"],
        preview_url=urls["preview"],
        original_url=urls["original"] if access.link.allow_originals else None,
    )


def shared_contents(token: str, offset: int, k: int) -> SharedContents:
    access = _open(token, count=True)
    shown = list(access.image_ids[offset : offset + k])
    records = get_library().images(shown)
    end = offset + k
    return SharedContents(
        title=access.title,
        kind="album" if access.link.album_id is not None else "image",
        images=[_shared_image(token, records[i], access) for i in shown if i in records],
        total=len(access.image_ids),
        offset=offset,
        next_offset=end if end < len(access.image_ids) else None,
    )


@bp.get("/api/shared/<token>")
@public
@operation(
    Operation(
        "What a share link gives (no account; send X-Share-Password if it has one)",
        query=SharedPageParams,
        responses={200: SharedContents, 401: "error", 404: "error", 410: "error"},
    )
)
def shared_json(params: SharedPageParams, token: str) -> Response:
    return _private(jsonify(dump(shared_contents(token, params.offset, params.k))))


def _picture(token: str, image_id: int) -> ShareAccess:
    access = _open(token, count=False)
    if not access.allows(image_id):
        # Not this link's: answered as unknown, like a wrong token.
        raise NotFoundError("no such picture in this share link")
    return access


def scaled(image_id: int, size: int) -> Response:
    """The picture, its long side at most ``size``, made once and cached beside the
    thumbnails (web.images: the same checked opening of the indexed file)."""
    library = get_library()
    path = images.sized_path(library, library.image(image_id), size)
    return send_file(path, mimetype=images.THUMBNAIL_MIME, conditional=True)


@bp.get("/api/shared/<token>/images/<int:image_id>/thumbnail")
@public
def shared_thumbnail(token: str, image_id: int) -> Response:
    _picture(token, image_id)
    return _private(scaled(image_id, int(current_app.config["THUMBNAIL_SIZE"])))


@bp.get("/api/shared/<token>/images/<int:image_id>/preview")
@public
def shared_preview(token: str, image_id: int) -> Response:
    _picture(token, image_id)
    return _private(scaled(image_id, PREVIEW_SIZE))


@bp.get("/api/shared/<token>/images/<int:image_id>/original")
@public
def shared_original(token: str, image_id: int) -> Response:
    if not _picture(token, image_id).link.allow_originals:
        raise PermissionDeniedError("this share link gives previews, not the original files")
    return _private(images.original(image_id))


@bp.route("/s/<token>", methods=["GET", "POST"])
@public
def shared_page(token: str) -> Response:
    error = None
    if request.method == "POST":
        try:
            lookup = check_share_password(
                get_library().store, token, request.form.get("password", "")
            )
            unlocked = [*session.get(UNLOCKED_SESSION_KEY, []), lookup][-20:]
            session[UNLOCKED_SESSION_KEY] = unlocked
        except AuthenticationError as refused:
            error = refused.message
    offset = max(0, min(request.args.get("offset", 0, type=int), MAX_STORED_INTEGER))
    try:
        contents = shared_contents(token, offset, MAX_PAGE_SIZE)
    except AuthenticationError as refused:
        page = render_template("shared.html", token=token, contents=None, error=error or None,
                               needs_password=True, message=refused.message)  # fmt: skip
        return _private(Response(page, status=401, mimetype="text/html"))
    page = render_template("shared.html", token=token, contents=contents, error=None,
                           needs_password=False, message=None)  # fmt: skip
    return _private(Response(page, mimetype="text/html"))


def init_limits(app: Flask, limiter: Limiter) -> None:
    """Every public share view counts against SHARE_RATE_LIMIT per client address; password
    attempts (the page's form, or the header) also against SHARE_PASSWORD_RATE_LIMIT."""
    everything = str(app.config.get("SHARE_RATE_LIMIT") or "").strip()
    passwords = str(app.config.get("SHARE_PASSWORD_RATE_LIMIT") or "").strip()
    decorators = []
    if everything.lower() not in ("", "off", "none", "0"):
        decorators.append(limiter.shared_limit(everything, scope="share"))
    if passwords.lower() not in ("", "off", "none", "0"):
        decorators.append(
            limiter.shared_limit(passwords, scope="share-password", exempt_when=_no_password)
        )
    for endpoint in PUBLIC_SHARE_ENDPOINTS:
        for decorate in decorators:
            app.view_functions[endpoint] = decorate(app.view_functions[endpoint])


def _no_password() -> bool:
    sent = PASSWORD_HEADER in request.headers
    return not (sent or (request.method == "POST" and "password" in request.form))
