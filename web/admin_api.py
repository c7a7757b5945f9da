"""Accounts over the JSON API: who am I (anyone), and users and API keys (admins only).

Managing accounts needs an admin who logged in or holds an admin key; a server without accounts
answers 403 here (the first admin is made with ``pixsift users add``)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel

from pixsift.search.account_requests import NewKey, NewUser, UserChange
from pixsift.search.accounts import ApiKeyRecord, NewApiKey, Principal, UserRecord, utc_now
from pixsift.web.auth import accounts, admin_only, principal
from pixsift.web.parsing import Operation, operation
from pixsift.web.schemas import dump

bp = Blueprint("accounts_api", __name__, url_prefix="/api")


class UserList(BaseModel):
    """The server's users."""

    users: list[UserRecord]


class KeyList(BaseModel):
    """The server's API keys (never their tokens)."""

    keys: list[ApiKeyRecord]


@bp.get("/me")
@operation(Operation("Who the caller is, and their role", responses={200: Principal}))
def me() -> Response:
    return jsonify(dump(principal()))


@bp.get("/users")
@admin_only
@operation(Operation("The users (admins only)", responses={200: UserList}))
def list_users() -> Response:
    return jsonify(dump(UserList(users=accounts().users())))


@bp.post("/users")
@admin_only
@operation(Operation("Add a user (admins only)", body=NewUser, responses={201: UserRecord}))
def add_user(params: NewUser) -> tuple[Response, int]:
    user = accounts().add_user(params.name, params.password, params.role)
    return jsonify(dump(user)), 201


@bp.patch("/users/<int:user_id>")
@admin_only
@operation(
    Operation(
        "Change a user's role or password (admins only)",
        body=UserChange,
        responses={200: UserRecord, 404: "error"},
    )
)
def change_user(params: UserChange, user_id: int) -> Response:
    store = accounts()
    user = store.user(user_id)
    if params.password is not None:
        user = store.set_password(user_id, params.password)
    if params.role is not None:
        user = store.set_role(user_id, params.role)
    return jsonify(dump(user))


@bp.delete("/users/<int:user_id>")
@admin_only
@operation(Operation("Remove a user (admins only)", responses={204: "removed", 404: "error"}))
def remove_user(user_id: int) -> tuple[str, int]:
    accounts().remove_user(user_id)
    return "", 204


@bp.get("/keys")
@admin_only
@operation(Operation("The API keys (admins only)", responses={200: KeyList}))
def list_keys() -> Response:
    return jsonify(dump(KeyList(keys=accounts().api_keys())))


@bp.post("/keys")
@admin_only
@operation(
    Operation(
        "Create an API key; its token is in this answer only (admins only)",
        body=NewKey,
        responses={201: NewApiKey},
    )
)
def create_key(params: NewKey) -> tuple[Response, int]:
    expires = utc_now() + timedelta(days=params.expires_in_days) if params.expires_in_days else None
    created = accounts().create_key(params.name, params.role, expires)
    return jsonify(dump(created)), 201


@bp.delete("/keys/<int:key_id>")
@admin_only
@operation(
    Operation("Revoke an API key (admins only)", responses={200: ApiKeyRecord, 404: "error"})
)
def revoke_key(key_id: int) -> Response:
    return jsonify(dump(accounts().revoke_key(key_id)))
