"""Accounts on a real server: ``pixsift serve`` (gunicorn) on a free loopback port, with users and
keys made through the library, and requests as a browser and a script would send them."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import update
from test_web_serve import free_port, wait_for

from pixsift.search.accounts import Accounts, utc_now
from pixsift.search.library import Library
from pixsift.search.storage.accounts import ApiKey

SEARCH_LIMIT = 4
SERVE = [sys.executable, "-c", "from pixsift.cli.main import main; main()", "serve"]


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> dict:
        assert self.headers.get("Content-Type") == "application/json", self.body[:200]
        return json.loads(self.body)


@dataclass
class Server:
    port: int
    directory: Path
    keys: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, target, body=body, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def with_key(self, method: str, target: str, key: str, **kwargs: object) -> Answer:
        headers = {"Authorization": f"Bearer {self.keys[key]}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return self.request(method, target, headers=headers, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("served-accounts") / "library"
    with Library.open(directory) as library:
        accounts = Accounts(library.store)
        accounts.add_user("ada", "correct horse", "admin")
        accounts.add_user("vic", "battery staple", "viewer")
        keys = {
            name: accounts.create_key(name, role).token
            for name, role in [
                ("viewer", "viewer"),
                ("admin", "admin"),
                ("old", "viewer"),
                ("gone", "viewer"),
            ]
        }
    port = free_port()
    environment = {
        **os.environ,
        "PIXSIFT_SEARCH_RATE_LIMIT": f"{SEARCH_LIMIT} per minute",
        "PIXSIFT_LOGIN_RATE_LIMIT": "30 per minute",
    }
    command = [*SERVE, "--library", str(directory), "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/api/health", process)
        yield Server(port, directory, keys)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def session_cookie(answer: Answer) -> str:
    found = re.match(r"pixsift_session=([^;]+);", answer.headers["Set-Cookie"])
    assert found, answer.headers["Set-Cookie"]
    return found.group(1)


def login(server: Server, name: str, password: str) -> tuple[Answer, str]:
    """Log in as a browser does: get the form (a session cookie and its CSRF token), post it."""
    form = server.request("GET", "/login")
    assert form.status == 200
    token = re.search(rb'name="csrf_token" value="([^"]+)"', form.body).group(1).decode()
    cookie = session_cookie(form)
    answer = server.request(
        "POST",
        "/login?next=/admin",
        body=urlencode({"name": name, "password": password, "csrf_token": token}).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"pixsift_session={cookie}",
        },
    )
    return answer, cookie


def test_unauthenticated_api_gets_401_and_pages_the_login_form(server: Server) -> None:
    for target in ("/api/stats", "/api/search?q=cat", "/api/images/1", "/images/1/original"):
        answer = server.request("GET", target)
        assert answer.status == 401, target
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="pixsift"'
        assert answer.json()["error"]["code"] == "unauthorized"
    for target in ("/", "/duplicates", "/admin"):
        answer = server.request("GET", target)
        assert answer.status == 302, target
        assert answer.headers["Location"].startswith("/login?next=")
    assert server.request("GET", "/api/health").json() == {"status": "ok"}
    wrong = server.request("GET", "/api/stats", headers={"Authorization": "Bearer pxs_nope_nope"})
    assert wrong.status == 401 and wrong.json()["error"]["code"] == "unauthorized"


def test_login_sets_a_guarded_cookie_that_opens_the_pages(server: Server) -> None:
    answer, _ = login(server, "ada", "correct horse")
    assert answer.status == 302 and answer.headers["Location"] == "/admin"
    set_cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Secure" not in set_cookie  # plain http on loopback; https sets it (in-process test)
    session = session_cookie(answer)
    page = server.request("GET", "/admin", headers={"Cookie": f"pixsift_session={session}"})
    assert page.status == 200 and b'id="users"' in page.body and b"vic" in page.body
    me = server.request("GET", "/api/me", headers={"Cookie": f"pixsift_session={session}"})
    assert me.json() == {"kind": "user", "name": "ada", "role": "admin"}

    refused, _ = login(server, "ada", "wrong password")
    assert refused.status == 401 and b"wrong user name or password" in refused.body


def test_a_cookie_request_without_its_csrf_token_is_refused(server: Server) -> None:
    answer, _ = login(server, "ada", "correct horse")
    session = session_cookie(answer)
    body = urlencode({"name": "mallory", "password": "evil password", "role": "admin"}).encode()
    refused = server.request(
        "POST",
        "/admin/users",
        body=body,
        headers={
            "Cookie": f"pixsift_session={session}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert refused.status == 400 and b"csrf_failed" in refused.body
    api = server.request(
        "POST",
        "/api/users",
        body=json.dumps({"name": "mallory", "password": "evil password"}).encode(),
        headers={"Cookie": f"pixsift_session={session}", "Content-Type": "application/json"},
    )
    assert api.status == 400 and api.json()["error"]["code"] == "csrf_failed"
    users = server.with_key("GET", "/api/users", "admin").json()["users"]
    assert "mallory" not in [user["name"] for user in users]


def test_a_viewer_key_cannot_manage_accounts_and_an_admin_key_can(server: Server) -> None:
    new_user = json.dumps({"name": "eve", "password": "long enough", "role": "admin"}).encode()
    json_type = {"Content-Type": "application/json"}
    for method, target, body in [
        ("GET", "/api/users", None),
        ("POST", "/api/users", new_user),
        ("GET", "/api/keys", None),
        ("POST", "/api/keys", json.dumps({"name": "more", "role": "admin"}).encode()),
        ("DELETE", "/api/keys/2", None),
        ("GET", "/admin", None),
    ]:
        answer = server.with_key(method, target, "viewer", body=body, headers=json_type)
        assert answer.status == 403, (method, target, answer.body[:200])
        if target.startswith("/api"):
            assert answer.json()["error"]["code"] == "forbidden"
    assert server.with_key("GET", "/api/stats", "viewer").status == 200

    created = server.with_key("POST", "/api/users", "admin", body=new_user, headers=json_type)
    assert created.status == 201 and created.json()["role"] == "admin"
    assert "password" not in created.body.decode() and "hash" not in created.body.decode()
    key = server.with_key(
        "POST", "/api/keys", "admin", body=json.dumps({"name": "cron"}).encode(), headers=json_type
    )
    assert key.status == 201 and key.json()["token"].startswith("pxs_")
    listed = server.with_key("GET", "/api/keys", "admin").json()["keys"]
    assert key.json()["token"] not in json.dumps(listed)


def test_expired_and_revoked_keys_get_401(server: Server, tmp_path: Path) -> None:
    assert server.with_key("GET", "/api/stats", "old").status == 200
    assert server.with_key("GET", "/api/stats", "gone").status == 200
    keys = server.with_key("GET", "/api/keys", "admin").json()["keys"]
    ids = {key["name"]: key["id"] for key in keys}
    revoked = server.with_key("DELETE", f"/api/keys/{ids['gone']}", "admin")
    assert revoked.status == 200 and revoked.json()["active"] is False
    with Library.open(server.directory) as library, library.store.session() as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == ids["old"])
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    for name in ("old", "gone"):
        answer = server.with_key("GET", "/api/stats", name)
        assert answer.status == 401, name
        assert answer.json()["error"]["code"] == "unauthorized"
    assert server.with_key("GET", "/api/stats", "viewer").status == 200


def test_searches_past_the_limit_get_429_in_the_error_shape(server: Server) -> None:
    statuses = [
        server.with_key("GET", "/api/search?q=cat", "viewer").status
        for _ in range(SEARCH_LIMIT + 2)
    ]
    assert statuses[:SEARCH_LIMIT] == [200] * SEARCH_LIMIT
    refused = server.with_key("GET", "/api/search.csv?q=cat", "viewer")
    assert refused.status == 429
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert "per 1 minute" in refused.json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0


def test_a_network_bind_without_accounts_refuses_to_start(tmp_path: Path) -> None:
    port = free_port()
    command = [*SERVE, "--library", str(tmp_path / "library"), "--host", "0.0.0.0"]
    started = time.monotonic()
    result = subprocess.run(
        [*command, "--port", str(port)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "refusing to serve 0.0.0.0 without accounts" in result.stderr
    assert "--insecure-no-accounts" in result.stderr
    assert "Booting worker" not in result.stdout + result.stderr
    assert time.monotonic() - started < 60


def test_a_proxied_server_stays_locked_when_its_only_key_goes(tmp_path: Path) -> None:
    from servers import running_server

    directory = tmp_path / "library"
    with Library.open(directory) as library:
        only = Accounts(library.store).create_key("only", "admin")
    # docs/security.md's setup: loopback behind a TLS proxy that sets X-Forwarded-*.
    arguments = ("--trusted-proxies", "1", "--allowed-host", "photos.example.org")
    with running_server(directory, *arguments) as running:
        proxied = {"Host": "photos.example.org", "X-Forwarded-Proto": "https"}
        server = Server(running.port, directory, {"only": only.token})
        assert server.request("GET", "/api/stats", headers=proxied).status == 401
        revoked = server.with_key("DELETE", f"/api/keys/{only.key.id}", "only", headers=proxied)
        assert revoked.status == 200 and revoked.json()["active"] is False
        for target in ("/api/stats", "/api/search?q=cat", "/images/1/original"):
            assert server.request("GET", target, headers=proxied).status == 401, target
