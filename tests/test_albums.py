"""Albums and smart albums: kept pictures, private to their owner, as a search filter, from the
library, the API and the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DatabaseFactory, write_pictures
from flask.testing import FlaskClient

from pixsift.cli.main import main
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.accounts import LOCAL_PRINCIPAL, Accounts, Principal
from pixsift.search.album_members import album_page, member_ids
from pixsift.search.albums import Albums
from pixsift.search.errors import InvalidInputError, NotFoundError
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import (
    QueryTerm,
    SavedSearch,
    SearchFilters,
    SearchRequest,
    TermSpec,
)
from pixsift.web import create_app

ALICE = Principal(kind="user", name="alice", role="viewer")
BOB = Principal(kind="user", name="bob", role="viewer")
ADMIN = Principal(kind="user", name="ada", role="admin")


@pytest.fixture(scope="module")
def indexed(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    new_database_url: DatabaseFactory,
) -> Iterator[tuple[Library, Path]]:
    root = tmp_path_factory.mktemp("albums") / "Pictures"
    write_pictures(root, 8)
    opened = Library.open(
        tmp_path_factory.mktemp("albums-library"),
        database_url=new_database_url(),
        embedder=tiny_embedder,
    )
    Indexer(opened, tiny_embedder, IndexingOptions(batch_size=4, show_progress=False)).index([root])
    yield opened, root
    opened.close()


def all_ids(library: Library) -> list[int]:
    return sorted(library.images(range(1, 100)))


def test_an_album_keeps_pictures_in_order_privately(indexed: tuple[Library, Path]) -> None:
    library, _ = indexed
    ids = all_ids(library)
    mine = Albums(library.store, ALICE)
    album = mine.create("  Summer   2024 ")
    assert album.name == "Summer 2024" and album.owner == "user:alice" and album.kind == "album"
    assert mine.add(album.id, [ids[3], ids[1], ids[3]]) == 2
    assert mine.add(album.id, [ids[1], ids[5]]) == 1  # already there: keeps its place
    assert mine.items(album.id) == [ids[3], ids[1], ids[5]]
    mine.reorder(album.id, [ids[5]])
    assert mine.items(album.id) == [ids[5], ids[3], ids[1]]
    assert mine.remove(album.id, [ids[3]]) == 1
    assert mine.items(album.id) == [ids[5], ids[1]]
    # Private: another viewer neither lists it nor reaches it by id; an admin does.
    assert album.id not in [a.id for a in Albums(library.store, BOB).list()]
    with pytest.raises(NotFoundError, match="no album"):
        Albums(library.store, BOB).get(album.id)
    with pytest.raises(NotFoundError):
        Albums(library.store, BOB).add(album.id, [ids[0]])
    assert Albums(library.store, ADMIN).get(album.id).item_count == 2
    with pytest.raises(NotFoundError, match="no image with id 99999"):
        mine.add(album.id, [99999])
    with pytest.raises(InvalidInputError, match="album name"):
        mine.create("\x07")


def test_deleting_an_album_never_touches_files(indexed: tuple[Library, Path]) -> None:
    library, root = indexed
    before = sorted(path.name for path in root.iterdir())
    kept = Albums(library.store, LOCAL_PRINCIPAL)
    album = kept.create("to delete")
    kept.add(album.id, all_ids(library)[:3])
    kept.delete(album.id)
    assert sorted(path.name for path in root.iterdir()) == before
    assert len(all_ids(library)) == 8
    with pytest.raises(NotFoundError):
        kept.get(album.id)


def test_the_album_filter_searches_inside_an_album(indexed: tuple[Library, Path]) -> None:
    library, _ = indexed
    ids = all_ids(library)
    kept = Albums(library.store, LOCAL_PRINCIPAL)
    album = kept.create("filter")
    kept.add(album.id, ids[:2])

    def found() -> set[int]:
        request = SearchRequest(
            (QueryTerm(text="a picture"),), filters=SearchFilters(album=album.id), k=20
        )
        return {hit.id for hit in library.find(request).hits}

    assert found() == set(ids[:2])
    kept.add(album.id, [ids[6]])  # the cached selection must see the change
    assert found() == {*ids[:2], ids[6]}
    kept.remove(album.id, [ids[0]])
    assert found() == {ids[1], ids[6]}


def test_a_smart_album_is_what_its_search_returns_now_with_pins_and_exclusions(
    indexed: tuple[Library, Path],
) -> None:
    library, _ = indexed
    ids = all_ids(library)
    kept = Albums(library.store, ALICE)
    search = SavedSearch(filters=SearchFilters(path="picture-000[0-3].png"))
    smart = kept.create("first four", search)
    assert smart.kind == "smart" and smart.search == search
    assert sorted(member_ids(library, kept, smart)) == ids[:4]
    kept.add(smart.id, [ids[7]])  # pinned: first, though the search does not return it
    kept.remove(smart.id, [ids[0]])  # excluded: the search no longer brings it
    members = member_ids(library, kept, kept.get(smart.id))
    assert members[0] == ids[7] and ids[0] not in members and len(members) == 4
    ranked = kept.create("ranked", SavedSearch(terms=(TermSpec(text="a picture"),), min_score=-1))
    page = album_page(library, kept, ranked.id, offset=0, limit=3)
    assert page.total == 8 and len(page.images) == 3 and page.next_offset == 3
    # The saved search survives a round trip through the database, typed.
    assert Albums(library.store, ADMIN).get(ranked.id).search.terms[0].text == "a picture"


# API -------------------------------------------------------------------------------------------


@pytest.fixture
def client(indexed: tuple[Library, Path]) -> FlaskClient:
    library, _ = indexed
    return create_app({"TESTING": True, "LIBRARY": library, "SECRET_KEY": "k" * 40}).test_client()


def test_api_creates_fills_shows_exports_and_deletes(
    client: FlaskClient, indexed: tuple[Library, Path]
) -> None:
    library, root = indexed
    ids = all_ids(library)
    created = client.post("/api/albums", json={"name": "From the API"})
    assert created.status_code == 201, created.text
    album = created.get_json()
    added = client.post(f"/api/albums/{album['id']}/items", json={"image_ids": [ids[2], ids[4]]})
    assert added.get_json()["changed"] == 2
    everything = client.post(
        f"/api/albums/{album['id']}/items", json={"search": {"q": "a picture", "k": 3}}
    )
    assert everything.get_json()["album"]["item_count"] == 8  # all results, not one page
    shown = client.get(f"/api/albums/{album['id']}?k=5").get_json()
    assert shown["total"] == 8 and len(shown["images"]) == 5 and shown["next_offset"] == 5
    assert [image["id"] for image in shown["images"]][:2] == [ids[2], ids[4]]
    assert shown["images"][0]["thumbnail_url"].startswith(f"/images/{ids[2]}/thumbnail")
    removed = client.post(f"/api/albums/{album['id']}/items/remove", json={"image_ids": [ids[2]]})
    assert removed.get_json()["album"]["item_count"] == 7
    exported = client.get(f"/api/albums/{album['id']}/export.csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert int(rows[0]["id"]) == ids[4] and rows[0]["position"] == "1"
    inside = client.get(f"/api/search?q=a+picture&album={album['id']}&k=20").get_json()
    assert len(inside["results"]) == 7 and inside["query"]["filters"] == {"album": album["id"]}
    assert client.delete(f"/api/albums/{album['id']}").get_json() == {"deleted": album["id"]}
    assert len(list(root.iterdir())) >= 8
    missing = client.get(f"/api/albums/{album['id']}")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_api_refuses_bad_album_requests_in_one_line(client: FlaskClient) -> None:
    for body, words in (
        ({"name": ""}, "name"),
        ({"name": "x", "colour": "red"}, "unknown field"),
        ({"name": "x", "search": {"terms": [{"text": "a", "weight": 0}]}}, "weight"),
    ):
        answer = client.post("/api/albums", json=body)
        assert answer.status_code == 400 and words in answer.get_json()["error"]["message"]
    assert client.post("/api/albums/1/items", json={}).status_code in (400, 404)


def test_openapi_lists_the_album_operations(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/api/albums"])
    assert "delete" in paths["/api/albums/{album_id}"]
    search_parameters = {p["name"] for p in paths["/api/search"]["get"]["parameters"]}
    assert {"album", "place"} <= search_parameters


def test_viewers_see_only_their_own_albums_over_http(indexed: tuple[Library, Path]) -> None:
    library, _ = indexed
    accounts = Accounts(library.store)
    tokens = {
        name: accounts.create_key(name, role).token
        for name, role in (("carol", "viewer"), ("dave", "viewer"))
    }
    client = create_app({"TESTING": True, "LIBRARY": library, "SECRET_KEY": "k" * 40}).test_client()
    try:
        carol = {"Authorization": f"Bearer {tokens['carol']}"}
        dave = {"Authorization": f"Bearer {tokens['dave']}"}
        album = client.post("/api/albums", json={"name": "carol's"}, headers=carol).get_json()
        assert album["owner"] == "key:carol"
        assert client.get(f"/api/albums/{album['id']}", headers=dave).status_code == 404
        listed = client.get("/api/albums", headers=dave).get_json()["albums"]
        assert album["id"] not in [a["id"] for a in listed]
        snooping = client.get(f"/api/search?q=a&album={album['id']}", headers=dave)
        assert snooping.status_code == 404
        assert client.get(f"/api/search?q=a&album={album['id']}", headers=carol).status_code == 200
    finally:
        for key in accounts.api_keys():
            accounts.revoke_key(key.id)
        # A library that had accounts stays locked until its owner opens it again.
        accounts.open_desktop()


# CLI -------------------------------------------------------------------------------------------


def test_cli_creates_adds_lists_shows_exports_and_deletes(
    indexed: tuple[Library, Path], tmp_path: Path
) -> None:
    library, _ = indexed
    runner = CliRunner()
    url = library.store.engine.url.render_as_string(hide_password=False)
    where = ["--library", str(library.directory), "--database-url", url]
    made = runner.invoke(main, ["albums", "create", "Trip", *where])
    assert made.exit_code == 0 and "Trip" in made.output, made.output
    album_id = made.output.split()[0].lstrip("#")
    ids = all_ids(library)
    added = runner.invoke(main, ["albums", "add", "Trip", str(ids[0]), str(ids[1]), *where])
    assert added.exit_code == 0 and "added 2" in added.output, added.output
    listed = runner.invoke(main, ["albums", "list", *where])
    assert f"#{album_id}  Trip  (2 pictures" in listed.output
    shown = runner.invoke(main, ["albums", "show", album_id, *where])
    assert f"#{ids[0]}" in shown.output and "2 members" in shown.output
    exported = runner.invoke(main, ["albums", "export", "Trip", "--csv", *where])
    assert len(list(csv.DictReader(io.StringIO(exported.output)))) == 2
    copied = runner.invoke(
        main, ["albums", "export", "Trip", "--to", str(tmp_path / "out"), *where]
    )
    assert copied.exit_code == 0 and len(list((tmp_path / "out").iterdir())) == 2
    smart = runner.invoke(
        main, ["albums", "create", "Some", "--smart-filters", "--path", "picture-000[01]*", *where]
    )
    assert smart.exit_code == 0 and "smart" in smart.output, smart.output
    smart_id = smart.output.split()[0].lstrip("#")
    assert "2 members" in runner.invoke(main, ["albums", "show", smart_id, *where]).output
    bad = runner.invoke(main, ["albums", "add", "Trip", "99999", *where])
    assert bad.exit_code == 1 and "no image with id 99999" in bad.output
    assert "Traceback" not in bad.output
    gone = runner.invoke(main, ["albums", "delete", "Trip", *where])
    assert gone.exit_code == 0 and "no file was touched" in gone.output


def test_new_pictures_join_a_smart_album_by_themselves(
    indexed: tuple[Library, Path], tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    library, root = indexed  # last test of the module: it adds pictures
    kept = Albums(library.store, ALICE)
    smart = kept.create("later", SavedSearch(filters=SearchFilters(path="later-*")))
    assert member_ids(library, kept, smart) == []
    new = write_pictures(tmp_path / "new", 2, first_seed=60)
    for number, path in enumerate(new):
        path.rename(root / f"later-{number}.png")
    Indexer(library, tiny_embedder, IndexingOptions(batch_size=4, show_progress=False)).index(
        [root]
    )
    joined = library.images(member_ids(library, kept, smart))
    assert sorted(record.name for record in joined.values()) == ["later-0.png", "later-1.png"]


# Page -------------------------------------------------------------------------------------------


def test_the_page_keeps_results_in_albums_and_smart_albums(
    client: FlaskClient, indexed: tuple[Library, Path]
) -> None:
    library, _ = indexed
    ids = all_ids(library)
    count = len(ids)  # 10: the test before this one added two
    made = client.post("/albums", data={"name": "Page album"})
    assert made.status_code == 303, made.text[:2000]
    album_url = made.headers["Location"]
    album_id = int(album_url.rstrip("/").split("/")[-1])
    results = client.get("/?q=a+picture&k=5")
    assert 'id="add-to-album"' in results.text and "albums.js" in results.text
    assert f'<option value="{album_id}">Page album</option>' in results.text
    # All results of the search, then one picture from the viewer.
    added = client.post(
        "/albums/add", data={"album_id": album_id, "all": "1", "q": "a picture", "k": "5"}
    )
    assert added.status_code == 303
    assert Albums(library.store, LOCAL_PRINCIPAL).get(album_id).item_count == count
    viewer = client.get(f"/images/{ids[0]}")
    assert 'id="viewer-add-to-album"' in viewer.text
    page = client.get(album_url)
    assert page.text.count('class="card"') == count and f"{count} pictures" in page.text
    client.post(f"/albums/{album_id}/remove", data={"image_id": ids[0]})
    assert f"{count - 1} pictures" in client.get(album_url).text
    shared = client.post(f"/albums/{album_id}/share", data={"expires_in_days": "2"})
    assert 'id="new-link"' in shared.text and "/s/pxs-share_" in shared.text
    smart = client.post(
        "/albums",
        data={"name": "Saved", "smart": "1", "q": "a picture", "path": "picture-000[12]*"},
    )
    listing = client.get("/albums")
    assert "Saved" in listing.text and 'id="smart-list"' in listing.text
    assert "2 pictures" in client.get(smart.headers["Location"]).text
    assert client.post(f"/albums/{album_id}/delete").status_code == 303
