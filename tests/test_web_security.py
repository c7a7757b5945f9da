"""Issue 18's security defects, each reproduced in-process on SQLite and PostgreSQL: the server
stays locked once it has asked for callers, viewers get originals without location, loopback
binds answer only their own names, logout ends the session server-side, cross-site posts are
refused in every mode, the library is private to its owner, the first login page of a fresh
worker answers, and a CR/LF in ``next=`` goes home."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import click
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from servers import free_port
from sqlalchemy import update

from benchmarks.format_samples import exif_block, write_dng_preview, write_heic
from pixsift.cli.serve import exposure_config
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.accounts import Accounts, utc_now
from pixsift.search.errors import ConflictError
from pixsift.search.library import DATABASE_FILENAME, Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import QueryTerm, SearchRequest
from pixsift.search.storage.accounts import ApiKey
from pixsift.web import create_app
from pixsift.web.auth import SECRET_KEY_FILENAME

OPTIONS = IndexingOptions(batch_size=8, workers=1, show_progress=False)
XMP_WITH_LOCATION = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf'
    b'-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="48,51.4N" exif:GPSLongitude="2,21.0E"/></rdf:RDF></x:xmpmeta>'
)


def make_app(library: Library, **config: object) -> Flask:
    return create_app({"TESTING": True, "LIBRARY": library, "SECRET_KEY": "k" * 40, **config})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def log_in(client: FlaskClient, name: str, password: str, **query: str) -> object:
    form = {"name": name, "password": password, "csrf_token": csrf_token(client)}
    return client.post("/login", data=form, query_string=query)


def index_folder(library: Library, embedder: OpenClipEmbedder, folder: Path) -> dict[str, int]:
    Indexer(library, embedder, OPTIONS).index([folder])
    # Every picture, each its own result: phone.jpg and phone.heic are one shot's stack.
    every = SearchRequest((QueryTerm(text="x"),), mode="semantic", k=50, stacks=False, weaker=True)
    return {Path(h.image.absolute_path).name: h.id for h in library.find(every).hits}


# 1. Proxy mode opens when the last account goes -------------------------------------------------


def test_the_last_account_going_keeps_the_server_locked(library: Library) -> None:
    accounts = Accounts(library.store)
    keys = [accounts.create_key(name, "admin") for name in ("only", "expiring")]
    client = make_app(library).test_client()
    assert client.get("/api/stats").status_code == 401
    accounts.revoke_key(keys[0].key.id)
    with library.store.session() as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == keys[1].key.id)
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    # No usable account is left: the server still asks, it does not fall open.
    assert client.get("/api/stats").status_code == 401
    assert make_app(library).test_client().get("/api/stats").status_code == 401
    # A viewer: the only admin cannot be removed (search.accounts keeps one).
    user = accounts.add_user("ada", "correct horse", "viewer")
    with pytest.raises(ConflictError, match="ada"):
        accounts.open_desktop()
    accounts.remove_user(user.id)
    assert client.get("/api/stats").status_code == 401
    # Only the owner, deliberately, returns the library to the desktop mode.
    accounts.open_desktop()
    assert make_app(library).test_client().get("/api/stats").status_code == 200


def test_a_proxied_server_is_a_network_server() -> None:
    with pytest.raises(click.ClickException, match="without accounts"):
        exposure_config("127.0.0.1", ("photos.example.org",), False, False, proxies=1)
    with pytest.raises(click.ClickException, match="--allowed-host"):
        exposure_config("127.0.0.1", (None,), True, False, proxies=1)
    proxied = exposure_config("127.0.0.1", ("photos.example.org",), True, False, proxies=1)
    assert proxied == {"TRUSTED_HOSTS": ["photos.example.org"], "REQUIRE_ACCOUNTS": True}
    # A desktop server whose library has accounts asks for callers from its start.
    assert exposure_config("127.0.0.1", (None,), True, False)["REQUIRE_ACCOUNTS"] is True


# 2. Viewers get GPS from the original -----------------------------------------------------------


def _has_location(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as shown:
        exif = shown.getexif()
        gps = exif.get_ifd(0x8825) if exif else {}
        xmp = shown.info.get("xmp") or b""
    return bool(gps) or b"GPS" in data or b"GPS" in (xmp if isinstance(xmp, bytes) else b"")


def test_a_viewer_gets_originals_without_location(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "located"
    folder.mkdir()
    exif = exif_block()
    exif[0x0112] = 6  # rotated: the viewer's copy must keep its orientation
    picture = Image.new("RGB", (64, 48), (200, 30, 30))
    picture.save(folder / "phone.jpg", exif=exif.tobytes(), xmp=XMP_WITH_LOCATION, quality=95)
    picture.save(folder / "screen.png", exif=exif.tobytes())
    write_heic(folder / "phone.heic")
    write_dng_preview(folder / "camera.dng", preview_size=(720, 480), size=(960, 640))
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    ids = index_folder(library, tiny_embedder, folder)
    viewer = bearer(Accounts(library.store).create_key("viewer", "viewer").token)
    admin = bearer(Accounts(library.store).create_key("admin", "admin").token)
    client = make_app(library).test_client()

    jpeg = client.get(f"/images/{ids['phone.jpg']}/original", headers=viewer)
    assert jpeg.status_code == 200 and jpeg.mimetype == "image/jpeg"
    assert not _has_location(jpeg.data)
    with Image.open(io.BytesIO(jpeg.data)) as shown, Image.open(folder / "phone.jpg") as kept:
        assert shown.getexif()[0x0112] == 6
        assert shown.tobytes() == kept.tobytes()  # the same pixels, not a new encoding
    for name in ("screen.png", "phone.heic", "camera.dng"):
        served = client.get(f"/images/{ids[name]}/original", headers=viewer)
        assert served.status_code == 200, name
        assert not _has_location(served.data), name
    # Admins get the file as it is, and the files on disk are untouched.
    whole = client.get(f"/images/{ids['phone.jpg']}/original", headers=admin)
    assert whole.data == (folder / "phone.jpg").read_bytes()
    assert _has_location(whole.data)
    shown_to_all = make_app(library, HIDE_GPS_FROM_VIEWERS=0).test_client()
    assert shown_to_all.get(f"/images/{ids['phone.jpg']}/original", headers=viewer).data == (
        whole.data
    )
    assert on_disk == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_a_viewer_gets_videos_without_location(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    import av
    from video_samples import RED, Segment, write_video

    folder = tmp_path / "videos"
    folder.mkdir()
    plain = write_video(tmp_path / "plain.mp4", (Segment(2.0, RED),), codec="libx264")
    with av.open(str(plain)) as source, av.open(str(folder / "phone.mp4"), "w") as located:
        located.metadata["location"] = "+48.8584+002.2945/"  # as a phone writes it (©xyz)
        stream = located.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                located.mux(packet)
    ids = index_folder(library, tiny_embedder, folder)
    viewer = bearer(Accounts(library.store).create_key("viewer", "viewer").token)
    client = make_app(library).test_client()
    served = client.get(f"/images/{ids['phone.mp4']}/original", headers=viewer)
    assert served.status_code == 200 and served.mimetype == "video/mp4"
    (tmp_path / "served.mp4").write_bytes(served.data)
    with av.open(str(tmp_path / "served.mp4")) as copy, av.open(str(folder / "phone.mp4")) as kept:
        assert not any("location" in key for key in copy.metadata)
        assert any("location" in key for key in kept.metadata)
        assert copy.streams.video[0].frames == kept.streams.video[0].frames > 0
    part = client.get(
        f"/images/{ids['phone.mp4']}/original", headers={**viewer, "Range": "bytes=0-99"}
    )
    assert part.status_code == 206 and part.data == served.data[:100]


# 3. DNS rebinding on other loopback addresses --------------------------------------------------


@pytest.mark.parametrize(
    ("host", "own"),
    [("127.0.0.3", "127.0.0.3"), ("127.0.1.1", "127.0.1.1"), ("::1", "[::1]")],
)
def test_a_loopback_bind_answers_only_its_address_and_localhost(
    library: Library, host: str, own: str
) -> None:
    config = exposure_config(host, (None,), False, False)
    assert config["TRUSTED_HOSTS"] == [own, "localhost"]
    client = create_app({"TESTING": True, "LIBRARY": library, **config}).test_client()
    for name in ("evil.example", "evil.example:8000", "127.0.0.1:8000"):
        assert client.get("/api/stats", headers={"Host": name}).status_code == 400, name
    for name in (own, f"{own}:8000", "localhost:8000", "LOCALHOST"):
        assert client.get("/api/stats", headers={"Host": name}).status_code == 200, name


# 4. Logout does not end the session -------------------------------------------------------------


def test_logout_ends_a_copied_session_cookie(library: Library) -> None:
    Accounts(library.store).add_user("vic", "battery staple", "viewer")
    app = make_app(library)
    browser = app.test_client()
    assert log_in(browser, "vic", "battery staple").status_code == 302
    copied = browser.get_cookie("pixsift_session").value
    token = csrf_token(browser, "/")
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("pixsift_session", copied)
    assert thief.get("/api/me").status_code == 401
    # Another login of the same user is a session of its own, ended only by its own logout.
    other = app.test_client()
    assert log_in(other, "vic", "battery staple").status_code == 302
    again = app.test_client()
    assert log_in(again, "vic", "battery staple").status_code == 302
    again.post("/logout", data={"csrf_token": csrf_token(again, "/")})
    assert other.get("/api/me").get_json()["name"] == "vic"
    Accounts(library.store).remove_user("vic")  # with its sessions (the rows go with the user)
    assert other.get("/api/me").status_code == 401


# 5. Cross-site posts ------------------------------------------------------------------------------


def test_cross_site_posts_are_refused_in_the_desktop_mode(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "tagged"
    folder.mkdir()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(folder / "a.png")
    image_id = index_folder(library, tiny_embedder, folder)["a.png"]
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    cross_site = [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:9999"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ]
    for headers in cross_site:
        form = client.post(f"/images/{image_id}/tags", data={"tags": "pwned"}, headers=headers)
        assert form.status_code == 403, headers
        api = client.post(f"/api/images/{image_id}/tags", json={"tags": ["pwned"]}, headers=headers)
        assert api.status_code == 403 and api.get_json()["error"]["code"] == "cross_site_request"
    assert "pwned" not in client.get(f"/api/images/{image_id}/tags").text
    # The page itself (same origin) and scripts (no Origin at all) still work.
    same = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    page = client.post(f"/images/{image_id}/tags", data={"tags": "ok"}, headers=same)
    assert page.status_code == 303
    assert client.post(f"/api/images/{image_id}/tags", json={"tags": ["script"]}).status_code == 200


def test_cookie_changes_need_the_same_origin_too_but_keys_do_not(library: Library) -> None:
    accounts = Accounts(library.store)
    accounts.add_user("ada", "correct horse", "admin")
    key = accounts.create_key("script", "admin").token
    client = make_app(library).test_client()
    assert log_in(client, "ada", "correct horse").status_code == 302
    token = csrf_token(client, "/admin")
    form = {"name": "cron", "role": "viewer", "csrf_token": token}
    refused = client.post("/admin/keys", data=form, headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403
    assert "cron" not in [k.name for k in accounts.api_keys()]
    assert client.post("/admin/keys", data=form).status_code == 200
    by_key = client.post(
        "/api/keys", json={"name": "more"}, headers={**bearer(key), "Origin": "http://evil.example"}
    )
    assert by_key.status_code == 201
    # The login form itself is not posted from elsewhere (login CSRF).
    other = make_app(library).test_client()
    login = {"name": "ada", "password": "correct horse", "csrf_token": csrf_token(other)}
    cross = other.post("/login", data=login, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403


# 6. The library is private ----------------------------------------------------------------------


def test_a_new_library_is_private_and_a_readable_one_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    previous = os.umask(0o022)
    try:
        with Library.open(tmp_path / "new" / "library") as opened:
            Accounts(opened.store).add_user("ada", "correct horse", "admin")
        directory = tmp_path / "new" / "library"
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        databases = [p for p in directory.iterdir() if p.name.startswith(DATABASE_FILENAME)]
        assert databases and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in databases)
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

        directory.chmod(0o755)
        (directory / DATABASE_FILENAME).chmod(0o644)
        with caplog.at_level(logging.WARNING), Library.open(directory):
            pass
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "\n" not in warnings[0]
        assert "chmod 700" in warnings[0] and str(directory) in warnings[0]
    finally:
        os.umask(previous)


# 7. The first GET /login of a fresh worker ------------------------------------------------------


def test_a_fresh_workers_first_login_page_answers(library: Library) -> None:
    Accounts(library.store).add_user("ada", "correct horse", "admin")
    assert not (library.directory / SECRET_KEY_FILENAME).exists()
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    form = client.get("/login")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text
    # A second worker, started after the key file was made, answers too.
    second = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    assert log_in(second, "ada", "correct horse").status_code == 302


# 8. CR/LF in next= -----------------------------------------------------------------------------


def test_a_line_break_in_next_goes_home(library: Library) -> None:
    Accounts(library.store).add_user("vic", "battery staple", "viewer")
    client = make_app(library).test_client()
    for target in ("/x\r\nSet-Cookie: a=b", "/x\nLocation: //evil", "/\x00", "/x\ty"):
        answer = log_in(client, "vic", "battery staple", next=target)
        assert answer.status_code == 302, repr(target)
        assert answer.headers["Location"] == "/", repr(target)


# Also found -------------------------------------------------------------------------------------


def test_a_readable_secret_key_fails_closed_without_the_path(library: Library) -> None:
    Accounts(library.store).add_user("ada", "correct horse", "admin")
    key_file = library.directory / SECRET_KEY_FILENAME
    key_file.write_text("s" * 64)
    key_file.chmod(0o644)
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    for path in ("/api/stats", "/login", "/"):
        answer = client.get(path)
        assert answer.status_code == 500, path
        assert str(library.directory) not in answer.text
        assert "secret key" in answer.text


def test_a_relative_library_path_serves_thumbnails(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "pictures"
    folder.mkdir()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(folder / "a.png")
    with Library.open("lib", embedder=tiny_embedder) as opened:
        assert opened.directory == tmp_path / "lib"
        image_id = index_folder(opened, tiny_embedder, folder)["a.png"]
        client = create_app({"TESTING": True, "LIBRARY": opened}).test_client()
        answer = client.get(f"/images/{image_id}/thumbnail")
        assert answer.status_code == 200 and answer.mimetype.startswith("image/")


def test_serve_does_not_start_with_a_readable_secret_key(tmp_path: Path) -> None:
    with Library.open(tmp_path / "library") as opened:
        Accounts(opened.store).add_user("ada", "correct horse", "admin")
    key_file = tmp_path / "library" / SECRET_KEY_FILENAME
    key_file.write_text("s" * 64)
    key_file.chmod(0o644)
    command = [sys.executable, "-c", "from pixsift.cli.main import main; main()", "serve"]
    arguments = ["--library", str(tmp_path / "library"), "--port", str(free_port())]
    # Bounded: were the check missing, the server would start and run until killed here.
    result = subprocess.run([*command, *arguments], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "can be read by other users: chmod 600" in result.stderr
    assert "Traceback" not in result.stderr and "Booting worker" not in result.stdout


@pytest.mark.parametrize("revoked", [True, False])
def test_a_library_that_had_accounts_stays_locked_after_the_upgrade(
    tmp_path: Path, revoked: bool
) -> None:
    from alembic import command
    from sqlalchemy import insert

    from pixsift.search.storage.database import (
        alembic_config,
        create_database_engine,
        upgrade_database,
    )

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_database_engine(url)
    with engine.begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
        if revoked:  # its only key was revoked before pixsift kept servers locked
            connection.execute(
                insert(ApiKey).values(
                    name="old", lookup="abc", secret_hash="0" * 64, role="admin",
                    created_at=utc_now(), revoked_at=utc_now(),
                )
            )  # fmt: skip
    upgrade_database(engine)
    engine.dispose()
    with Library.open(tmp_path / "library", database_url=url) as opened:
        assert Accounts(opened.store).in_use() is revoked
