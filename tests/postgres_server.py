"""A throwaway PostgreSQL server for the tests: initdb + pg_ctl in a temporary folder, listening
on a Unix socket in that folder (and 127.0.0.1 on a free port), stopped and removed at the end.

PostgreSQL refuses to run as root; when the tests run as root the server runs as the ``postgres``
system user (created by Debian's postgresql package) through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

SERVER_USER = "postgres"
START_TIMEOUT_S = 60
TEMPLATE_DATABASE = "pixsift_template"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here (the reason says why)."""


def find_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise PostgresUnavailable(
            f"{name} not found (install PostgreSQL, e.g. apt-get install postgresql)"
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    directory: Path
    port: int
    run_as: list[str]
    pg_ctl: str

    @property
    def socket_directory(self) -> Path:
        return self.directory / "socket"

    def url(self, database: str) -> str:
        """A SQLAlchemy URL (psycopg 3) for ``database`` over the Unix socket."""
        return (
            f"postgresql+psycopg://{SERVER_USER}@/{database}"
            f"?host={self.socket_directory}&port={self.port}"
        )

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host=str(self.socket_directory),
            port=self.port,
            user=SERVER_USER,
            dbname=database,
            autocommit=True,
        )

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (a copy of ``template`` when given); return its URL."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.connect() as connection:
            connection.execute(statement)
        return self.url(name)

    def drop_databases(self, names: list[str]) -> None:
        with self.connect() as connection:
            for name in names:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, self.pg_ctl, "stop", "-D", str(self.directory / "data"), "-m", "fast"],
            check=False,
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )
        shutil.rmtree(self.directory, ignore_errors=True)


def start_server() -> PostgresServer:
    """Start a fresh server; raise PostgresUnavailable with the reason when that cannot be."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    run_as: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="pixsift-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(SERVER_USER)
        except KeyError as error:
            raise PostgresUnavailable(f"running as root and no {SERVER_USER} user") from error
        run_as = ["runuser", "-u", SERVER_USER, "--"]
        os.chown(directory, user.pw_uid, user.pw_gid)
    data = directory / "data"
    (directory / "socket").mkdir()
    if run_as:
        os.chown(directory / "socket", pwd.getpwnam(SERVER_USER).pw_uid, -1)
    port = free_port()
    commands = [
        [initdb, "-D", str(data), "-U", SERVER_USER, "-A", "trust", "-E", "UTF8", "--no-sync"],
        [
            pg_ctl, "start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(data),
            "-l", str(directory / "server.log"),
            "-o", f"-k {directory / 'socket'} -p {port} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200 -c TimeZone=UTC",
        ],
    ]  # fmt: skip
    for command in commands:
        completed = subprocess.run(
            [*run_as, *command], capture_output=True, text=True, timeout=START_TIMEOUT_S * 2
        )
        if completed.returncode != 0:
            log = directory / "server.log"
            detail = log.read_text() if log.exists() else ""
            shutil.rmtree(directory, ignore_errors=True)
            raise PostgresUnavailable(
                f"{Path(command[0]).name} failed: {completed.stderr.strip()} {detail[-2000:]}"
            )
    return PostgresServer(directory=directory, port=port, run_as=run_as, pg_ctl=pg_ctl)
