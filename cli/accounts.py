"""``pixsift users ...`` and ``pixsift keys ...``: the accounts of a library's server.

Passwords are read from a hidden prompt (asked twice) or, with ``--password-stdin``, from the
first line of standard input; never from the command line, where other users of the machine
could read them in the process list. A new key's token is printed once, alone on standard
output, so that a script can capture it."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from pixsift.cli.options import library_options, open_library, reports_errors
from pixsift.search.account_requests import MAX_KEY_DAYS, NewKey, NewUser
from pixsift.search.accounts import ROLES, Accounts, check_name, utc_now
from pixsift.search.errors import InvalidInputError

role_choice = click.Choice(ROLES)
password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InvalidInputError("no password on standard input")
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _print_rows(rows: list[dict[str, Any]], as_json: bool, columns: tuple[str, ...]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("(none)")
        return
    for row in rows:
        click.echo("  ".join(str(row[name]) if row[name] is not None else "-" for name in columns))


@click.group("users")
def users() -> None:
    """Users who log in to the page: add, list, set-role, set-password, remove, open-desktop."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=role_choice, default="viewer", show_default=True)
@password_stdin_option
@library_options
@reports_errors
def add_user(
    name: str, role: str, password_stdin: bool, library: Path | None, database_url: str | None
) -> None:
    """Add a user; the password is asked for (or read with --password-stdin)."""
    check_name(name)  # a bad name fails before the password is asked for
    params = NewUser.parse({"name": name, "password": read_password(password_stdin), "role": role})
    with open_library(library, database_url) as opened:
        user = Accounts(opened.store).add_user(params.name, params.password, params.role)
    click.echo(f"added {user.name} ({user.role})")


@users.command("list")
@json_option
@library_options
@reports_errors
def list_users(as_json: bool, library: Path | None, database_url: str | None) -> None:
    """List the users (never their passwords)."""
    with open_library(library, database_url) as opened:
        rows = [user.model_dump(mode="json") for user in Accounts(opened.store).users()]
    _print_rows(rows, as_json, ("name", "role", "created_at", "last_login_at"))


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=role_choice)
@library_options
@reports_errors
def set_role(name: str, role: str, library: Path | None, database_url: str | None) -> None:
    """Make a user a viewer or an admin (their open sessions end)."""
    with open_library(library, database_url) as opened:
        accounts = Accounts(opened.store)
        user = accounts.set_role(name, role, keep_an_admin=False)
        _say_if_no_admin_is_left(accounts)
    click.echo(f"{user.name} is now {user.role}")


@users.command("set-password")
@click.argument("name")
@password_stdin_option
@library_options
@reports_errors
def set_password(
    name: str, password_stdin: bool, library: Path | None, database_url: str | None
) -> None:
    """Set a user's password (their open sessions end)."""
    with open_library(library, database_url) as opened:
        store = Accounts(opened.store)
        store.user(name)  # an unknown name fails before the password is asked for
        store.set_password(name, read_password(password_stdin))
    click.echo(f"password of {name} set")


@users.command("remove")
@click.argument("name")
@library_options
@reports_errors
def remove_user(name: str, library: Path | None, database_url: str | None) -> None:
    """Remove a user (here, unlike on the web, also the last admin)."""
    with open_library(library, database_url) as opened:
        accounts = Accounts(opened.store)
        accounts.remove_user(name, keep_an_admin=False)
        _say_if_no_admin_is_left(accounts)
    click.echo(f"removed {name}")


def _say_if_no_admin_is_left(accounts: Accounts) -> None:
    """The command line is the server owner's way back in: it may take the last admin away,
    and says what that means for the web pages."""
    users = accounts.users()
    if users and not any(user.role == "admin" for user in users):
        click.echo(
            "note: no admin user is left: nobody can manage accounts on the web pages "
            "(pixsift users set-role NAME admin gives one back)",
            err=True,
        )


@users.command("open-desktop")
@library_options
@reports_errors
def open_desktop(library: Path | None, database_url: str | None) -> None:
    """Let the server answer without credentials again (the desktop mode on loopback). Once a
    library has had a user or a key, its server keeps asking for one even when none is left;
    this undoes that, once every user is removed and every key revoked."""
    with open_library(library, database_url) as opened:
        Accounts(opened.store).open_desktop()
    click.echo("no accounts: the server answers anyone who reaches it on loopback")


@click.group("keys")
def keys() -> None:
    """API keys for scripts (Authorization: Bearer pxs_...): create, list, revoke."""


@keys.command("create")
@click.argument("name")
@click.option("--role", type=role_choice, default="viewer", show_default=True)
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, MAX_KEY_DAYS),
    help="Days until the key stops working (default: never).",
)
@library_options
@reports_errors
def create_key(
    name: str,
    role: str,
    expires_in_days: int | None,
    library: Path | None,
    database_url: str | None,
) -> None:
    """Create a key and print its token (shown this once; only its hash is kept)."""
    params = NewKey.parse({"name": name, "role": role, "expires_in_days": expires_in_days})
    days = params.expires_in_days
    expires = utc_now() + timedelta(days=days) if days else None
    with open_library(library, database_url) as opened:
        created = Accounts(opened.store).create_key(params.name, params.role, expires)
    key = created.key
    until = f"until {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else "without expiry"
    click.echo(
        f"created key {key.id} {key.name!r} ({key.role}, {until}); copy the token now, "
        "it is not shown again:",
        err=True,
    )
    click.echo(created.token)


@keys.command("list")
@json_option
@library_options
@reports_errors
def list_keys(as_json: bool, library: Path | None, database_url: str | None) -> None:
    """List the keys: id, name, prefix, role, active, expiry, last use (never the tokens)."""
    with open_library(library, database_url) as opened:
        rows = [key.model_dump(mode="json") for key in Accounts(opened.store).api_keys()]
    columns = ("id", "name", "prefix", "role", "active", "expires_at", "last_used_at")
    _print_rows(rows, as_json, columns)


@keys.command("revoke")
@click.argument("key_id", type=click.IntRange(1))
@library_options
@reports_errors
def revoke_key(key_id: int, library: Path | None, database_url: str | None) -> None:
    """Revoke a key by its id: it stops working at once."""
    with open_library(library, database_url) as opened:
        key = Accounts(opened.store).revoke_key(key_id)
    click.echo(f"revoked key {key.id} {key.name!r}")
