"""Accounts as library code and on the command line: argon2id passwords, hashed keys that are
shown once, roles, and what ``pixsift serve`` refuses before it starts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from pixsift.cli.main import main
from pixsift.cli.serve import exposure_config
from pixsift.search.accounts import KEY_PREFIX, Accounts, UserRecord, utc_now
from pixsift.search.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from pixsift.search.library import Library
from pixsift.search.storage.accounts import ApiKey, User


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    library = Library.open(tmp_path / "library")
    yield Accounts(library.store)
    library.close()


def stored(accounts: Accounts, model: type) -> list:
    with accounts._store.session() as session:
        return list(session.scalars(select(model)))


def test_passwords_are_kept_as_argon2id_and_checked(accounts: Accounts) -> None:
    assert not accounts.in_use()
    user = accounts.add_user("ada", "a long password", "admin")
    assert accounts.in_use()
    assert set(UserRecord.model_fields) == {"id", "name", "role", "created_at", "last_login_at"}
    [row] = stored(accounts, User)
    assert row.password_hash.startswith("$argon2id$") and "a long password" not in row.password_hash
    assert accounts.authenticate("ada", "a long password").last_login_at is not None
    for name, password in [("ada", "wrong password"), ("bob", "a long password")]:
        with pytest.raises(AuthenticationError, match="wrong user name or password"):
            accounts.authenticate(name, password)
    with pytest.raises(ConflictError):
        accounts.add_user("ada", "another password", "viewer")
    for name, password, role in [("ada!", "long enough", "viewer"), ("x", "short", "viewer"),
                                 ("x", "long enough", "root")]:  # fmt: skip
        with pytest.raises(InvalidInputError):
            accounts.add_user(name, password, role)
    assert accounts.user(user.id).name == "ada"


def test_sessions_end_when_the_password_or_role_changes(accounts: Accounts) -> None:
    user = accounts.add_user("vic", "a long password", "viewer")
    first = accounts.start_session(user.id)
    assert accounts.session_user(first).name == "vic"
    accounts.set_role("vic", "admin")
    with pytest.raises(AuthenticationError):
        accounts.session_user(first)
    second = accounts.start_session(user.id)
    accounts.set_password("vic", "another long one")
    with pytest.raises(AuthenticationError):
        accounts.session_user(second)
    with pytest.raises(AuthenticationError):
        accounts.session_user("not-a-session")


def test_keys_are_shown_once_and_kept_hashed(accounts: Accounts) -> None:
    created = accounts.create_key("backup script", "viewer")
    token = created.token
    assert token.startswith(KEY_PREFIX) and len(token) > 40
    assert created.key.prefix in token and created.key.prefix != token
    [row] = stored(accounts, ApiKey)
    assert token not in (row.secret_hash, row.lookup) and len(row.secret_hash) == 64
    assert token not in json.dumps([k.model_dump(mode="json") for k in accounts.api_keys()])
    assert accounts.verify_key(token).last_used_at is not None
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "pxs_", "Bearer", ""):
        with pytest.raises(AuthenticationError):
            accounts.verify_key(wrong)
    accounts.revoke_key(created.key.id)
    with pytest.raises(AuthenticationError):
        accounts.verify_key(token)
    assert accounts.in_use()  # the last key revoked: the server stays locked, not open
    with pytest.raises(InvalidInputError, match="future"):
        accounts.create_key("late", "viewer", utc_now() - timedelta(days=1))
    with pytest.raises(NotFoundError):
        accounts.revoke_key(999)


def test_cli_manages_users_and_keys_without_passwords_on_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    library = ["--library", str(tmp_path / "library")]

    def run(*args: str, stdin: str | None = None) -> click.testing.Result:
        return runner.invoke(main, [*args, *library], input=stdin)

    added = run(
        "users", "add", "ada", "--role", "admin", "--password-stdin", stdin="secret words\n"
    )
    assert added.exit_code == 0, added.output
    prompted = run("users", "add", "vic", stdin="pass words 1\npass words 1\n")
    assert prompted.exit_code == 0 and "added vic (viewer)" in prompted.output
    short = run("users", "add", "bob", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    listed = json.loads(run("users", "list", "--json").output)
    assert [(u["name"], u["role"]) for u in listed] == [("ada", "admin"), ("vic", "viewer")]
    assert "hash" not in json.dumps(listed) and "secret words" not in json.dumps(listed)
    assert run("users", "set-role", "vic", "admin").exit_code == 0
    missing = run("users", "set-password", "nobody", "--password-stdin", stdin="long enough\n")
    assert missing.exit_code == 1 and "no user named 'nobody'" in missing.output

    created = runner.invoke(main, ["keys", "create", "cron", "--expires-in-days", "2", *library])
    token = created.stdout.strip()
    assert created.exit_code == 0 and token.startswith(KEY_PREFIX) and "\n" not in token
    assert "not shown again" in created.stderr
    keys = json.loads(run("keys", "list", "--json").output)
    assert keys[0]["active"] and token not in json.dumps(keys)
    assert run("keys", "revoke", str(keys[0]["id"])).exit_code == 0
    assert json.loads(run("keys", "list", "--json").output)[0]["active"] is False
    assert run("users", "remove", "vic").exit_code == 0
    still = run("users", "open-desktop")
    assert still.exit_code == 1 and "accounts remain (ada)" in still.output
    assert run("users", "remove", "ada").exit_code == 0
    with Library.open(tmp_path / "library") as opened:
        assert Accounts(opened.store).in_use()  # no account left, and still locked
    assert run("users", "open-desktop").exit_code == 0
    with Library.open(tmp_path / "library") as opened:
        assert not Accounts(opened.store).in_use()
    assert run("users", "add", "ada", "--role", "admin", "--password-stdin",
               stdin="secret words\n").exit_code == 0  # fmt: skip
    with Library.open(tmp_path / "library") as opened:
        assert Accounts(opened.store).authenticate("ada", "secret words").role == "admin"


def test_serve_refuses_a_network_without_accounts_or_host_names() -> None:
    assert exposure_config("127.0.0.1", (None,), False, False) == {
        "TRUSTED_HOSTS": ["127.0.0.1", "localhost"],
        "REQUIRE_ACCOUNTS": False,
    }
    with pytest.raises(click.ClickException, match="without accounts"):
        exposure_config("0.0.0.0", ("photos.example",), False, False)
    with pytest.raises(click.ClickException, match="--allowed-host"):
        exposure_config("192.168.1.20", (None,), True, False)
    network = exposure_config("0.0.0.0", ("photos.example", "192.168.1.20"), True, False)
    assert network == {
        "TRUSTED_HOSTS": ["photos.example", "192.168.1.20"],
        "REQUIRE_ACCOUNTS": True,
    }
    assert exposure_config("::", ("*",), True, False)["TRUSTED_HOSTS"] is None
    insecure = exposure_config("0.0.0.0", ("nas.local",), False, True)
    assert insecure["REQUIRE_ACCOUNTS"] is False
    assert exposure_config("::1", (None,), False, False)["REQUIRE_ACCOUNTS"] is False
