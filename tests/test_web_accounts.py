"""Accounts in the web app, in-process: what a viewer may see, sessions, CSRF, the admin page,
the secret key, login limits and the desktop mode without accounts."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_pictures
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.accounts import Accounts
from pixsift.search.errors import LibraryError
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.storage.models import Image
from pixsift.web import create_app
from pixsift.web.auth import SECRET_KEY_FILENAME, load_or_create_secret_key

PASSWORDS = {"ada": "admin password", "vic": "viewer password"}


@pytest.fixture(scope="module")
def library(
    tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder
) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("served") / "Holidays"
    write_pictures(root, 4)
    opened = Library.open(tmp_path_factory.mktemp("accounts-library"), embedder=tiny_embedder)
    options = IndexingOptions(batch_size=4, workers=1, show_progress=False)
    Indexer(opened, tiny_embedder, options).index([root])
    with opened.store.session() as session:
        session.execute(update(Image).values(gps_latitude=48.8584, gps_longitude=2.2945))
    accounts = Accounts(opened.store)
    accounts.add_user("ada", PASSWORDS["ada"], "admin")
    accounts.add_user("vic", PASSWORDS["vic"], "viewer")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def keys(library: Library) -> dict[str, str]:
    accounts = Accounts(library.store)
    return {role: accounts.create_key(f"{role} key", role).token for role in ("viewer", "admin")}


def make_app(library: Library, **config: object) -> Flask:
    return create_app({"TESTING": True, "LIBRARY": library, "SECRET_KEY": "k" * 40, **config})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def log_in(client: FlaskClient, name: str, password: str | None = None) -> None:
    token = csrf_token(client)
    answer = client.post(
        "/login", data={"name": name, "password": password or PASSWORDS[name], "csrf_token": token}
    )
    assert answer.status_code == 302, answer.text[:300]


def test_a_viewer_never_sees_server_paths_nor_gps(library: Library, keys: dict[str, str]) -> None:
    client = make_app(library).test_client()
    viewer, admin = bearer(keys["viewer"]), bearer(keys["admin"])
    seen = client.get("/api/search?q=a+picture", headers=viewer).get_json()["results"]
    assert seen and all(hit["root"] == "Holidays" for hit in seen)
    assert all(hit["absolute_path"] == f"Holidays/{hit['path']}" for hit in seen)
    assert all(hit["gps_latitude"] is None and hit["gps_longitude"] is None for hit in seen)
    full = client.get("/api/search?q=a+picture", headers=admin).get_json()["results"]
    assert all(hit["absolute_path"].startswith("/") for hit in full)
    assert full[0]["gps_latitude"] == pytest.approx(48.8584)
    absolute_root = full[0]["root"]
    assert absolute_root.startswith("/") and absolute_root.endswith("/Holidays")

    image_id = seen[0]["id"]
    texts = [
        client.get(f"/api/images/{image_id}", headers=viewer).text,
        client.get("/api/stats", headers=viewer).text,
        client.get("/api/search.csv?q=a+picture", headers=viewer).text,
        client.get(f"/images/{image_id}", headers=viewer).text,
        client.get("/?q=a+picture", headers=viewer).text,
        client.get("/duplicates", headers=viewer).text,
    ]
    for text in texts:
        assert absolute_root not in text
        assert "48.858" not in text
    rows = list(csv.DictReader(io.StringIO(texts[2])))
    assert rows and all(row["absolute_path"].startswith("Holidays/") for row in rows)
    assert client.get("/api/stats", headers=viewer).get_json()["roots"] == ["Holidays"]


def test_gps_can_be_shown_to_viewers(library: Library, keys: dict[str, str]) -> None:
    client = make_app(library, HIDE_GPS_FROM_VIEWERS=0).test_client()
    seen = client.get("/api/search?q=a+picture", headers=bearer(keys["viewer"])).get_json()
    assert seen["results"][0]["gps_latitude"] == pytest.approx(48.8584)
    assert not seen["results"][0]["absolute_path"].startswith("/")


def test_session_cookie_is_secure_over_https_and_behind_a_trusted_proxy(library: Library) -> None:
    client = make_app(library).test_client()
    token = csrf_token(client)
    login = {"name": "vic", "password": PASSWORDS["vic"], "csrf_token": token}
    plain = client.post("/login", data=login)
    assert "Secure" not in plain.headers["Set-Cookie"]
    secure = make_app(library).test_client()
    token = re.search(r'value="([^"]+)"', secure.get("/login", base_url="https://pix.test").text)
    answer = secure.post(
        "/login",
        data={**login, "csrf_token": token.group(1)},
        base_url="https://pix.test",
        headers={"Referer": "https://pix.test/login"},
    )
    assert answer.status_code == 302 and "; Secure" in answer.headers["Set-Cookie"]
    proxied = make_app(library, TRUSTED_PROXIES=1).test_client()
    forwarded = {"X-Forwarded-Proto": "https"}
    assert "; Secure" in proxied.get("/login", headers=forwarded).headers["Set-Cookie"]
    untrusted = make_app(library).test_client()
    assert "Secure" not in untrusted.get("/login", headers=forwarded).headers["Set-Cookie"]


def test_a_new_password_ends_the_sessions_made_before(library: Library) -> None:
    Accounts(library.store).add_user("sam", "first password", "viewer")
    client = make_app(library).test_client()
    log_in(client, "sam", "first password")
    assert client.get("/api/me").get_json()["name"] == "sam"
    Accounts(library.store).set_password("sam", "second password")
    assert client.get("/api/me").status_code == 401
    log_in(client, "sam", "second password")
    Accounts(library.store).remove_user("sam")
    assert client.get("/").status_code == 302


def test_logout_needs_its_token_and_ends_the_session(library: Library) -> None:
    client = make_app(library).test_client()
    log_in(client, "vic")
    assert client.post("/logout").status_code == 400  # no CSRF token: a cross-site logout
    page = client.get("/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert 'id="who"' in page.text and "vic (viewer)" in page.text
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/stats").status_code == 401


def test_the_login_goes_back_only_to_this_server(library: Library) -> None:
    client = make_app(library).test_client()
    for target, expected in [("/duplicates", "/duplicates"), ("//evil.example/x", "/"),
                             ("https://evil.example/", "/"), ("/\\evil.example", "/")]:  # fmt: skip
        token = csrf_token(client)
        login = {"name": "vic", "password": PASSWORDS["vic"], "csrf_token": token}
        answer = client.post("/login", query_string={"next": target}, data=login)
        assert answer.headers["Location"] == expected, target


def test_an_admin_manages_accounts_on_the_page(library: Library) -> None:
    client = make_app(library).test_client()
    log_in(client, "ada")
    token = csrf_token(client, "/admin")
    made = client.post(
        "/admin/keys", data={"name": "page key", "role": "viewer", "csrf_token": token}
    )
    assert made.status_code == 200 and "no-store" in made.headers["Cache-Control"]
    shown = re.search(r'<pre id="new-token">(pxs_[^<]+)</pre>', made.text).group(1)
    assert client.get("/api/stats", headers=bearer(shown)).status_code == 200
    listing = client.get("/admin").text
    assert "page key" in listing and shown not in listing
    key_id = next(k.id for k in Accounts(library.store).api_keys() if k.name == "page key")
    client.post(f"/admin/keys/{key_id}/revoke", data={"csrf_token": token})
    assert client.get("/api/stats", headers=bearer(shown)).status_code == 401

    added = client.post(
        "/admin/users",
        data={"name": "pat", "password": "short", "role": "viewer", "csrf_token": token},
    )
    assert added.status_code == 400 and "at least 8 characters" in added.text
    client.post(
        "/admin/users", data={"name": "pat", "password": "long enough", "csrf_token": token}
    )
    pat = Accounts(library.store).user("pat")
    client.post(f"/admin/users/{pat.id}/role", data={"role": "admin", "csrf_token": token})
    assert Accounts(library.store).user("pat").role == "admin"
    client.post(f"/admin/users/{pat.id}/remove", data={"csrf_token": token})
    assert "pat" not in [user.name for user in Accounts(library.store).users()]


def test_login_attempts_are_limited(library: Library) -> None:
    client = make_app(library, LOGIN_RATE_LIMIT="2 per minute").test_client()
    token = csrf_token(client)
    wrong = {"name": "vic", "password": "not it at all", "csrf_token": token}
    assert [client.post("/login", data=wrong).status_code for _ in range(2)] == [401, 401]
    refused = client.post("/login", data={**wrong, "password": PASSWORDS["vic"]})
    assert refused.status_code == 429 and "too many requests" in refused.text


def test_uploads_are_limited_on_their_own(library: Library, keys: dict[str, str]) -> None:
    client = make_app(library, UPLOAD_RATE_LIMIT="1 per minute").test_client()
    viewer = bearer(keys["viewer"])

    def upload() -> int:
        body = {"image": (io.BytesIO(b"not an image"), "x.png")}
        return client.post("/api/search", data=body, headers=viewer).status_code

    assert upload() == 400
    assert upload() == 429
    assert client.get("/api/search?q=cat", headers=viewer).status_code == 200


def test_without_accounts_everything_is_open_but_account_management(tmp_path: Path) -> None:
    with Library.open(tmp_path / "library") as empty:
        client = create_app({"TESTING": True, "LIBRARY": empty}).test_client()
        assert client.get("/api/stats").status_code == 200
        assert client.get("/api/me").get_json() == {
            "kind": "local",
            "name": "local",
            "role": "admin",
        }
        assert client.get("/login").headers["Location"] == "/"
        refused = client.get("/api/users")
        assert (
            refused.status_code == 403
            and "pixsift users add" in refused.get_json()["error"]["message"]
        )
        assert (
            client.post("/api/users", json={"name": "x", "password": "12345678"}).status_code == 403
        )
        assert not (tmp_path / "library" / SECRET_KEY_FILENAME).exists()

        locked = create_app({"TESTING": True, "LIBRARY": empty, "REQUIRE_ACCOUNTS": True})
        assert locked.test_client().get("/api/stats").status_code == 401
        assert (tmp_path / "library" / SECRET_KEY_FILENAME).exists()


def test_the_secret_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    first = load_or_create_secret_key(tmp_path)
    path = tmp_path / SECRET_KEY_FILENAME
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_or_create_secret_key(tmp_path) == first and len(first) >= 48
    path.chmod(0o644)
    with pytest.raises(LibraryError, match="chmod 600"):
        load_or_create_secret_key(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_KEY_FILENAME]


def test_an_environment_key_is_used_and_nothing_is_written(
    library: Library, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSIFT_SECRET_KEY", "e" * 48)
    app = create_app({"TESTING": True, "LIBRARY": library})
    assert app.test_client().get("/api/stats", headers=bearer(keys["admin"])).status_code == 200
    assert app.secret_key == "e" * 48
    assert not (library.directory / SECRET_KEY_FILENAME).exists()


def test_the_page_searches_by_image_with_its_csrf_header(library: Library) -> None:
    client = make_app(library).test_client()
    log_in(client, "vic")
    page = client.get("/")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    upload = {"image": (io.BytesIO(b"not an image"), "x.png")}
    without = client.post("/api/search", data=upload)
    assert without.status_code == 400 and without.get_json()["error"]["code"] == "csrf_failed"
    upload = {"image": (io.BytesIO(b"not an image"), "x.png")}
    answer = client.post("/api/search", data=upload, headers={"X-CSRFToken": token})
    assert answer.get_json()["error"]["code"] == "invalid_image"  # past the CSRF check


def test_a_foreign_host_or_unknown_route_is_answered_before_asking_who_calls(
    library: Library,
) -> None:
    client = make_app(library, TRUSTED_HOSTS=["localhost"]).test_client()
    for path in ("/", "/api/stats", "/login"):
        answer = client.get(path, headers={"Host": "rebound.example"})
        assert answer.status_code == 400, path
    assert client.get("/api/nowhere").status_code == 404
    assert client.get("/api/stats").status_code == 401
