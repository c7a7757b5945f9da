"""The login form, logging out, and the admin page (users and API keys). Every form here posts
with a CSRF token, which :func:`web.auth.authorize` checks before the view runs."""

from __future__ import annotations

from datetime import timedelta

import flask_login
from flask import (
    Blueprint,
    Response,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from pixsift.search.account_requests import NewKey, NewUser
from pixsift.search.accounts import NewApiKey, check_role, utc_now
from pixsift.search.errors import AuthenticationError, PixsiftError
from pixsift.web.auth import SessionUser, accounts, admin_only, auth_required, safe_next
from pixsift.web.parsing import read_args

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    if not auth_required():
        return redirect(url_for("pages.index"))  # no accounts: nothing to log in to
    target = safe_next(request.args.get("next"))
    if request.method == "GET":
        return render_template("login.html", error=None, next=target), 200
    name = request.form.get("name", "")
    store = accounts()
    try:
        user = store.authenticate(name, request.form.get("password", ""))
    except AuthenticationError as error:
        return render_template("login.html", error=error.message, name=name, next=target), 401
    session.clear()  # nothing from before the login (such as its CSRF token) carries over
    flask_login.login_user(SessionUser(user, store.start_session(user.id)))
    session.permanent = True
    return redirect(target)


@bp.post("/logout")
def logout() -> Response:
    user = flask_login.current_user
    if user.is_authenticated:
        accounts().end_session(user.session_id)  # every copy of the cookie ends here
    flask_login.logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/admin")
@admin_only
def admin() -> Response:
    return _admin_page()


def _admin_page(
    created: NewApiKey | None = None, message: str | None = None, status: int = 200
) -> Response:
    store = accounts()
    users = store.users()
    page = render_template(
        "admin.html",
        users=users,
        admin_count=sum(user.role == "admin" for user in users),
        keys=store.api_keys(),
        created=created,
        message=message,
    )
    response = make_response(page, status)
    response.cache_control.no_store = True  # a new key's token is on it: keep no copy
    return response


def _run(action: str, work: object) -> Response:
    """Do one admin action; on a refusal show the page again with the reason."""
    try:
        work()  # type: ignore[operator]
    except PixsiftError as error:
        return _admin_page(message=f"{action}: {error.message}", status=error.http_status)
    return redirect(url_for("auth.admin"))


@bp.post("/admin/users")
@admin_only
def admin_add_user() -> Response:
    def work() -> None:
        params = read_args(NewUser, request.form)
        accounts().add_user(params.name, params.password, params.role)

    return _run("adding the user", work)


@bp.post("/admin/users/<int:user_id>/role")
@admin_only
def admin_set_role(user_id: int) -> Response:
    return _run(
        "changing the role",
        lambda: accounts().set_role(user_id, check_role(request.form.get("role", ""))),
    )


@bp.post("/admin/users/<int:user_id>/password")
@admin_only
def admin_set_password(user_id: int) -> Response:
    return _run(
        "setting the password",
        lambda: accounts().set_password(user_id, request.form.get("password", "")),
    )


@bp.post("/admin/users/<int:user_id>/remove")
@admin_only
def admin_remove_user(user_id: int) -> Response:
    return _run("removing the user", lambda: accounts().remove_user(user_id))


@bp.post("/admin/keys")
@admin_only
def admin_create_key() -> Response:
    try:
        params = read_args(NewKey, request.form, skip_empty=True)
        days = params.expires_in_days
        expires = utc_now() + timedelta(days=days) if days else None
        created = accounts().create_key(params.name, params.role, expires)
    except PixsiftError as error:
        return _admin_page(message=f"creating the key: {error.message}", status=400)
    return _admin_page(created=created)  # the token is shown on this page, this once


@bp.post("/admin/keys/<int:key_id>/revoke")
@admin_only
def admin_revoke_key(key_id: int) -> Response:
    return _run("revoking the key", lambda: accounts().revoke_key(key_id))
