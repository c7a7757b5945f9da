"""A library database that cannot be reached: `pixsift index` and `pixsift serve` say why in one
line (the cause, the URL without its password), with no SQLAlchemy "Background on this error"
link, no libpq hint on a second line, no traceback, exit status 1."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from postgres_server import PostgresServer, free_port

from pixsift.cli.main import main
from pixsift.search.storage.database import (
    create_database_engine,
    database_revision,
    upgrade_database,
)

ROLE, RIGHT_PASSWORD, WRONG_PASSWORD = "pixsift_password_role", "right-s3cret", "wr0ng-s3cret"
DATABASE = "pixsift_reachable"
#: A bound only: a reload takes milliseconds.
RELOAD_SECONDS = 120


@pytest.fixture(scope="module")
def password_server(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """The session's server, also asking ROLE for a password over TCP (the server trusts every
    other connection: its first matching pg_hba line wins)."""
    hba = postgres_server.directory / "data" / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n{original}")
    reload_configuration(postgres_server)
    with postgres_server.connect() as connection:
        connection.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{RIGHT_PASSWORD}'")
    postgres_server.create_database(DATABASE)
    yield postgres_server
    postgres_server.drop_databases([DATABASE])
    with postgres_server.connect() as connection:
        connection.execute(f"DROP ROLE {ROLE}")
    hba.write_text(original)
    reload_configuration(postgres_server)


def reload_configuration(server: PostgresServer) -> None:
    """``pg_ctl reload``, returning once the server uses the new pg_hba.conf. The reload only
    signals the server, which reads the file when it gets to it: a connection made meanwhile (the
    wrong-password case, on a loaded machine) is still let in by the old "trust" line. A new
    connection sees the reload time of the configuration it was started under."""

    def loaded_at() -> object:
        with server.connect() as connection:
            return connection.execute("SELECT pg_conf_load_time()").fetchone()[0]

    before = loaded_at()
    data = server.directory / "data"
    command = [*server.run_as, server.pg_ctl, "reload", "-D", str(data)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + RELOAD_SECONDS
    while loaded_at() == before:
        assert time.monotonic() < deadline, f"the server did not reload in {RELOAD_SECONDS} s"
        time.sleep(0.05)


def url(user: str, host: str, port: int, database: str) -> str:
    return f"postgresql+psycopg://{user}@{host}:{port}/{database}"


CASES = {
    # name: (URL from the server's port, what the one line must say)
    "wrong password": (
        lambda port: url(f"{ROLE}:{WRONG_PASSWORD}", "127.0.0.1", port, DATABASE),
        f'password authentication failed for user "{ROLE}"',
    ),
    "connection refused": (
        lambda _port: url(f"{ROLE}:{WRONG_PASSWORD}", "127.0.0.1", free_port(), DATABASE),
        "Connection refused",
    ),
    "unknown host": (
        lambda _port: url(f"{ROLE}:{WRONG_PASSWORD}", "no-such-host.invalid", 5432, DATABASE),
        "failed to resolve host 'no-such-host.invalid'",
    ),
    "missing database": (
        lambda port: url("postgres", "127.0.0.1", port, "pixsift_no_such_database"),
        'database "pixsift_no_such_database" does not exist',
    ),
}


@pytest.mark.postgresql
@pytest.mark.parametrize("command", ["index", "serve"])
@pytest.mark.parametrize("case", list(CASES))
def test_an_unreachable_database_is_one_line_naming_the_cause(
    password_server: PostgresServer, tmp_path: Path, command: str, case: str
) -> None:
    make_url, cause = CASES[case]
    database_url = make_url(password_server.port)
    arguments = [command, *([str(tmp_path)] if command == "index" else [])]
    arguments += ["--library", str(tmp_path / "library"), "--database-url", database_url]
    result = CliRunner().invoke(main, arguments)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: cannot connect to the library database ")
    assert cause in lines[0]
    assert WRONG_PASSWORD not in result.output and "sqlalche.me" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.postgresql
def test_the_right_password_opens_the_library(
    password_server: PostgresServer, tmp_path: Path
) -> None:
    """The password case above fails for the password alone: the same URL with the right one
    opens (and migrates) the database."""
    database_url = url(f"{ROLE}:{RIGHT_PASSWORD}", "127.0.0.1", password_server.port, DATABASE)
    with password_server.connect(DATABASE) as connection:
        connection.execute(f"GRANT ALL ON SCHEMA public TO {ROLE}")
    engine = create_database_engine(database_url)
    upgrade_database(engine)
    assert database_revision(engine) != ()
    engine.dispose()
