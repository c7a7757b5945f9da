"""Share links, tested from outside like the accounts: a server with accounts, a visitor without
one, and the attacks: an expired link, a revoked one, a wrong password, guessed tokens, a
picture outside the link, an original the link does not give."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import DatabaseFactory, write_pictures
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.accounts import Accounts, Principal, utc_now
from pixsift.search.albums import Albums
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import SavedSearch, SearchFilters
from pixsift.search.shares import SHARE_PREFIX
from pixsift.search.storage.albums import ShareLink
from pixsift.search.storage.models import Image
from pixsift.web import create_app

VIC = Principal(kind="key", name="vic", role="viewer")
#: What a shared picture may say about itself: nothing about where it lies or was taken.
SHARED_IMAGE_FIELDS = {
    "id", "width", "height", "date", "date_source", "thumbnail_url", "preview_url", "original_url",
}  # fmt: skip


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    new_database_url: DatabaseFactory,
) -> Iterator[tuple[Library, dict[str, str], list[int]]]:
    root = tmp_path_factory.mktemp("shares") / "Private"
    write_pictures(root, 6)
    library = Library.open(
        tmp_path_factory.mktemp("shares-library"),
        database_url=new_database_url(),
        embedder=tiny_embedder,
    )
    Indexer(library, tiny_embedder, IndexingOptions(batch_size=4, show_progress=False)).index(
        [root]
    )
    with library.store.session() as session:
        session.execute(update(Image).values(gps_latitude=38.72, gps_longitude=-9.14))
    accounts = Accounts(library.store)
    accounts.add_user("ada", "admin password", "admin")
    keys = {
        name: accounts.create_key(name, role).token
        for name, role in (("vic", "viewer"), ("wes", "viewer"), ("root", "admin"))
    }
    ids = sorted(library.images(range(1, 50)))
    yield library, keys, ids
    library.close()


def make_app(library: Library, **config: object) -> Flask:
    return create_app({"TESTING": True, "LIBRARY": library, "SECRET_KEY": "s" * 40, **config})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def share(client: FlaskClient, key: str, **body: object) -> dict[str, object]:
    answer = client.post("/api/shares", json=body, headers=bearer(key))
    assert answer.status_code == 201, answer.text
    return answer.get_json()


@pytest.fixture
def album(served: tuple[Library, dict[str, str], list[int]]) -> int:
    library, _, ids = served
    albums = Albums(library.store, VIC)
    made = albums.create("vic's trip")
    albums.add(made.id, ids[:2])
    return made.id


def test_a_link_gives_its_pictures_to_a_visitor_without_an_account(
    served: tuple[Library, dict[str, str], list[int]], album: int
) -> None:
    library, keys, ids = served
    client = make_app(library).test_client()
    made = share(client, keys["vic"], album_id=album)
    token = made["token"]
    assert token.startswith(SHARE_PREFIX) and made["url"] == f"/s/{token}"
    visitor = make_app(library).test_client()  # no key, no session
    assert visitor.get("/api/search?q=a").status_code == 401  # the server has accounts
    seen = visitor.get(f"/api/shared/{token}")
    assert seen.status_code == 200, seen.text
    data = seen.get_json()
    assert data["title"] == "vic's trip" and data["total"] == 2
    assert [image["id"] for image in data["images"]] == ids[:2]
    for image in data["images"]:
        assert set(image) == SHARED_IMAGE_FIELDS and image["original_url"] is None
        assert visitor.get(image["thumbnail_url"]).status_code == 200
        assert visitor.get(image["preview_url"]).status_code == 200
    assert "Private" not in seen.text and "38.72" not in seen.text  # no path, no GPS
    assert seen.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in seen.headers["Cache-Control"]
    page = visitor.get(f"/s/{token}")
    assert page.status_code == 200 and "vic&#39;s trip" in page.text
    assert page.text.count('class="result"') == 2
    listed = client.get("/api/shares", headers=bearer(keys["vic"])).get_json()["shares"]
    mine = next(link for link in listed if link["id"] == made["share"]["id"])
    assert mine["use_count"] == 2 and mine["last_used_at"] is not None  # json + page
    assert token not in str(listed)  # the token is shown once, never listed


def test_share_attack_expired_link_is_refused(
    served: tuple[Library, dict[str, str], list[int]], album: int
) -> None:
    library, keys, ids = served
    client = make_app(library).test_client()
    made = share(client, keys["vic"], album_id=album, expires_in_days=1)
    token = made["token"]
    assert client.get(f"/api/shared/{token}").status_code == 200
    with library.store.session() as session:
        session.execute(
            update(ShareLink)
            .where(ShareLink.id == made["share"]["id"])
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    for path in ("", f"/images/{ids[0]}/thumbnail", f"/images/{ids[0]}/preview"):
        refused = client.get(f"/api/shared/{token}{path}")
        assert refused.status_code == 410, path
        assert refused.get_json()["error"]["code"] == "share_gone"
    assert client.get(f"/s/{token}").status_code == 410


def test_share_attack_revoked_link_is_refused(
    served: tuple[Library, dict[str, str], list[int]], album: int
) -> None:
    library, keys, ids = served
    client = make_app(library).test_client()
    made = share(client, keys["vic"], album_id=album)
    token, link_id = made["token"], made["share"]["id"]
    assert client.get(f"/api/shared/{token}/images/{ids[0]}/thumbnail").status_code == 200
    # Only its maker (or an admin) revokes it: another viewer is told it does not exist.
    other = client.post(f"/api/shares/{link_id}/revoke", headers=bearer(keys["wes"]))
    assert other.status_code == 404
    revoked = client.post(f"/api/shares/{link_id}/revoke", headers=bearer(keys["vic"]))
    assert revoked.get_json()["active"] is False
    for path in ("", f"/images/{ids[0]}/thumbnail"):
        assert client.get(f"/api/shared/{token}{path}").status_code == 410


def test_share_attack_wrong_password_is_refused(
    served: tuple[Library, dict[str, str], list[int]], album: int
) -> None:
    library, keys, ids = served
    client = make_app(library).test_client()
    token = share(client, keys["vic"], album_id=album, password="correct horse")["token"]
    for headers in ({}, {"X-Share-Password": "wrong horse!"}):
        refused = client.get(f"/api/shared/{token}", headers=headers)
        assert refused.status_code == 401
        assert refused.get_json()["error"]["code"] == "password_required"
        thumbnail = client.get(f"/api/shared/{token}/images/{ids[0]}/thumbnail", headers=headers)
        assert thumbnail.status_code == 401
    right = client.get(f"/api/shared/{token}", headers={"X-Share-Password": "correct horse"})
    assert right.status_code == 200 and right.get_json()["total"] == 2
    # The page asks once and remembers the link as unlocked in this browser only.
    visitor = make_app(library).test_client()
    form = visitor.get(f"/s/{token}")
    assert form.status_code == 401 and 'id="share-password"' in form.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    wrong = visitor.post(f"/s/{token}", data={"password": "nope nope", "csrf_token": csrf})
    assert wrong.status_code == 401 and "not right" in wrong.text
    opened = visitor.post(f"/s/{token}", data={"password": "correct horse", "csrf_token": csrf})
    assert opened.status_code == 200 and opened.text.count('class="result"') == 2
    assert visitor.get(f"/api/shared/{token}/images/{ids[0]}/thumbnail").status_code == 200
    stranger = make_app(library).test_client()
    assert stranger.get(f"/api/shared/{token}/images/{ids[0]}/thumbnail").status_code == 401


def test_share_attack_guessed_tokens_are_refused_then_rate_limited(
    served: tuple[Library, dict[str, str], list[int]], album: int
) -> None:
    library, keys, _ = served
    client = make_app(library, SHARE_RATE_LIMIT="8 per minute").test_client()
    real = share(client, keys["vic"], album_id=album)["token"]
    lookup = real.removeprefix(SHARE_PREFIX).split("_")[0]
    guesses = [
        f"{SHARE_PREFIX}{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}",
        f"{SHARE_PREFIX}{lookup}_{secrets.token_urlsafe(32)}",  # the right lookup, wrong secret
        real[:-1] + ("A" if real[-1] != "A" else "B"),
        "pxs_not-a-share-token",
        "x" * 500,
    ]
    for guess in guesses:
        refused = client.get(f"/api/shared/{guess}")
        assert refused.status_code == 404, guess
        assert refused.get_json()["error"]["message"] == "no such share link"
    statuses = [client.get(f"/api/shared/{guesses[0]}").status_code for _ in range(6)]
    assert statuses[-1] == 429 and 429 in statuses
    limited = client.get(f"/api/shared/{real}")  # the limit is per client, whatever the token
    assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_share_attack_picture_outside_the_link_is_refused(
    served: tuple[Library, dict[str, str], list[int]], album: int
) -> None:
    library, keys, ids = served
    client = make_app(library).test_client()
    to_album = share(client, keys["vic"], album_id=album, allow_originals=True)["token"]
    to_picture = share(client, keys["root"], image_id=ids[4])["token"]
    visitor = make_app(library).test_client()
    for token, outside in ((to_album, ids[2]), (to_album, ids[5]), (to_picture, ids[0])):
        for kind in ("thumbnail", "preview", "original"):
            refused = visitor.get(f"/api/shared/{token}/images/{outside}/{kind}")
            assert refused.status_code == 404, (token, outside, kind)
    one = visitor.get(f"/api/shared/{to_picture}").get_json()
    assert [image["id"] for image in one["images"]] == [ids[4]] and one["kind"] == "image"
    # The library's own routes stay closed to a visitor holding a link.
    assert visitor.get(f"/images/{ids[0]}/thumbnail").status_code == 401
    assert visitor.get(f"/api/images/{ids[0]}").status_code == 401
    assert visitor.get(f"/api/albums/{album}").status_code == 401


def test_share_attack_original_is_refused_unless_allowed(
    served: tuple[Library, dict[str, str], list[int]], album: int
) -> None:
    library, keys, ids = served
    client = make_app(library).test_client()
    previews = share(client, keys["vic"], album_id=album)["token"]
    originals = share(client, keys["vic"], album_id=album, allow_originals=True)["token"]
    refused = client.get(f"/api/shared/{previews}/images/{ids[0]}/original")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    preview = client.get(f"/api/shared/{previews}/images/{ids[0]}/preview")
    original_bytes = library.image(ids[0]).file_path.read_bytes()
    assert preview.status_code == 200 and preview.data != original_bytes
    allowed = client.get(f"/api/shared/{originals}/images/{ids[0]}/original")
    assert allowed.status_code == 200 and allowed.data == original_bytes


def test_only_an_admin_or_the_owner_shares(
    served: tuple[Library, dict[str, str], list[int]], album: int
) -> None:
    library, keys, ids = served
    client = make_app(library).test_client()
    other = client.post("/api/shares", json={"album_id": album}, headers=bearer(keys["wes"]))
    assert other.status_code == 404
    loose = client.post("/api/shares", json={"image_id": ids[5]}, headers=bearer(keys["vic"]))
    assert loose.status_code == 404 and "album" in loose.get_json()["error"]["message"]
    assert share(client, keys["vic"], image_id=ids[0])["share"]["image_id"] == ids[0]
    assert share(client, keys["root"], album_id=album)["share"]["created_by"] == "key:root"
    both = client.post(
        "/api/shares", json={"album_id": album, "image_id": ids[0]}, headers=bearer(keys["vic"])
    )
    assert both.status_code == 400 and "exactly one" in both.get_json()["error"]["message"]


def test_a_smart_album_link_gives_what_its_search_returns(
    served: tuple[Library, dict[str, str], list[int]],
) -> None:
    library, keys, ids = served
    albums = Albums(library.store, VIC)
    smart = albums.create("three", SavedSearch(filters=SearchFilters(path="picture-000[0-2]*")))
    client = make_app(library).test_client()
    token = share(client, keys["vic"], album_id=smart.id)["token"]
    data = client.get(f"/api/shared/{token}").get_json()
    assert sorted(image["id"] for image in data["images"]) == ids[:3]
    assert client.get(f"/api/shared/{token}/images/{ids[3]}/thumbnail").status_code == 404


def test_openapi_documents_share_operations(
    served: tuple[Library, dict[str, str], list[int]], tmp_path: Path
) -> None:
    library, keys, _ = served
    client = make_app(library).test_client()
    paths = client.get("/api/openapi.json", headers=bearer(keys["vic"])).get_json()["paths"]
    assert "post" in paths["/api/shares"] and "/api/shared/{token}" in paths
    token = paths["/api/shared/{token}"]["get"]["parameters"][0]
    assert token["name"] == "token" and token["schema"]["type"] == "string"


def test_cli_shares_lists_and_revokes(
    served: tuple[Library, dict[str, str], list[int]], album: int
) -> None:
    from click.testing import CliRunner

    from pixsift.cli.main import main

    library, _, _ = served
    url = library.store.engine.url.render_as_string(hide_password=False)
    where = ["--library", str(library.directory), "--database-url", url]
    runner = CliRunner()
    made = runner.invoke(main, ["albums", "share", str(album), "--expires-days", "2", *where])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    client = make_app(library).test_client()
    assert client.get(f"/api/shared/{token}").get_json()["total"] == 2
    listed = runner.invoke(main, ["albums", "shares", *where])
    link_id = next(
        line.split()[0].lstrip("#") for line in listed.output.splitlines() if "active" in line
    )
    revoked = runner.invoke(main, ["albums", "unshare", link_id, *where])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert runner.invoke(main, ["albums", "unshare", "99999", *where]).exit_code == 1
