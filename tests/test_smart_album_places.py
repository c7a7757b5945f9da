"""A smart album's search runs with its maker's location permission, as it is when the album is
opened (issue 21): a viewer who may not see where pictures were taken must not learn it from the
members of a smart album "a beach in Lisbon", whoever opens it (its maker, an admin, the CLI, a
share link), and an admin who is demoted loses that reading too."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from conftest import DatabaseFactory
from test_places import placed_library

from pixsift.search.accounts import LOCAL_PRINCIPAL, Accounts, Principal
from pixsift.search.album_members import member_ids
from pixsift.search.albums import AlbumRecord, Albums
from pixsift.search.errors import PermissionDeniedError
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import SavedSearch, SearchFilters
from pixsift.search.shares import ShareRequest, Shares, open_share

TEXT = "a beach in Lisbon"
VERA = Principal(kind="user", name="vera", role="viewer")
ANN = Principal(kind="user", name="ann", role="admin")


@pytest.fixture(scope="module")
def placed(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    new_database_url: DatabaseFactory,
) -> Iterator[Library]:
    library = placed_library(tmp_path_factory, tiny_embedder, new_database_url(), "smart-places")
    accounts = Accounts(library.store)
    accounts.add_user("vera", "vera's password", "viewer")
    accounts.add_user("ann", "ann's password", "admin")
    accounts.add_user("root", "root's password", "admin")
    yield library
    library.close()


def found(library: Library, *, places: bool) -> list[int]:
    """What the saved search returns with (or without) the right to read places."""
    request = SavedSearch.parse({"terms": [{"text": TEXT}]}).search_request()
    return sorted(hit.id for hit in library.find(request, places=places).hits)


def lisbon_ids(library: Library) -> set[int]:
    return {r.id for r in library.images(range(1, 50)).values() if r.place_city == "Lisbon"}


def smart(library: Library, maker: Principal, name: str) -> AlbumRecord:
    return Albums(library.store, maker).create(name, SavedSearch.parse({"terms": [{"text": TEXT}]}))


def members(library: Library, opener: Principal, album: AlbumRecord, **kwargs: bool) -> list[int]:
    albums = Albums(library.store, opener)
    return sorted(member_ids(library, albums, albums.get(album.id), **kwargs))


def test_a_viewers_smart_album_never_reads_places_whoever_opens_it(placed: Library) -> None:
    blind, sighted = found(placed, places=False), found(placed, places=True)
    # The text reads "Lisbon" as a place only for whoever may see places: the test's premise.
    assert set(sighted) <= lisbon_ids(placed) and set(blind) - lisbon_ids(placed)
    album = smart(placed, VERA, "vera's beach")
    assert members(placed, VERA, album) == blind
    assert members(placed, LOCAL_PRINCIPAL, album) == blind  # an admin (the CLI) opening it
    assert members(placed, ANN, album) == blind
    link = Shares(placed.store, VERA).create(ShareRequest.parse({"album_id": album.id}))
    shared = open_share(placed, link.token, None)
    assert sorted(shared.image_ids) == blind
    # A server that shows viewers GPS (hide_gps_from_viewers=0) lets the viewer's album read.
    assert members(placed, ANN, album, viewers_see_places=True) == sighted


def test_an_admins_smart_album_reads_places_until_the_admin_is_demoted(placed: Library) -> None:
    blind, sighted = found(placed, places=False), found(placed, places=True)
    album = smart(placed, ANN, "ann's beach")
    assert members(placed, ANN, album) == sighted
    assert members(placed, LOCAL_PRINCIPAL, album) == sighted
    accounts = Accounts(placed.store)
    try:
        accounts.set_role("ann", "viewer")
        assert members(placed, LOCAL_PRINCIPAL, album) == blind  # no stale copy, no stale cache
        accounts.set_role("vera", "admin")
        promoted = smart(placed, VERA, "vera's beach, promoted")
        assert members(placed, LOCAL_PRINCIPAL, promoted) == sighted
    finally:
        accounts.set_role("ann", "admin")
        accounts.set_role("vera", "viewer")
    assert members(placed, LOCAL_PRINCIPAL, album) == sighted
    accounts.remove_user("ann")  # a maker who is gone has no rights left
    try:
        assert members(placed, LOCAL_PRINCIPAL, album) == blind
    finally:
        accounts.add_user("ann", "ann's password", "admin")


def test_a_demoted_makers_location_filter_is_refused_with_the_album_named(
    placed: Library,
) -> None:
    where = SavedSearch(filters=SearchFilters(place="Lisbon"))
    album = Albums(placed.store, ANN).create("ann's Lisbon", where)
    assert members(placed, ANN, album) == sorted(lisbon_ids(placed))
    accounts = Accounts(placed.store)
    try:
        accounts.set_role("ann", "viewer")
        with pytest.raises(PermissionDeniedError, match=f"smart album {album.id} filters by"):
            members(placed, LOCAL_PRINCIPAL, album)
    finally:
        accounts.set_role("ann", "admin")


def test_the_page_api_and_cli_open_a_viewers_smart_album_without_places(
    placed: Library, tiny_embedder: OpenClipEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pixsift.cli.main import main
    from pixsift.web import create_app

    blind, sighted = found(placed, places=False), found(placed, places=True)
    accounts = Accounts(placed.store)
    viewer = {"Authorization": f"Bearer {accounts.create_key('vic', 'viewer').token}"}
    admin = {"Authorization": f"Bearer {accounts.create_key('adm', 'admin').token}"}
    client = create_app({"TESTING": True, "LIBRARY": placed, "SECRET_KEY": "k" * 40}).test_client()
    try:
        body = {"name": "vic's beach", "search": {"terms": [{"text": TEXT}]}}
        made = client.post("/api/albums", json=body, headers=viewer)
        assert made.status_code == 201, made.text
        album_id = made.get_json()["id"]
        for caller in (viewer, admin):
            shown = client.get(f"/api/albums/{album_id}?k=100", headers=caller).get_json()
            assert sorted(image["id"] for image in shown["images"]) == blind
            assert "interpretation" not in json.dumps(shown)
        own = client.get(f"/api/albums/{album_id}?k=100", headers=viewer).get_json()
        assert {image["place_city"] for image in own["images"]} == {None}  # and no GPS shown
        page = client.get(f"/albums/{album_id}", headers=viewer)
        assert page.status_code == 200 and "Lisbon" not in page.text.replace(TEXT, "")
        body["name"] = "adm's beach"
        made = client.post("/api/albums", json=body, headers=admin).get_json()
        shown = client.get(f"/api/albums/{made['id']}?k=100", headers=admin).get_json()
        assert sorted(image["id"] for image in shown["images"]) == sighted
    finally:
        for key in accounts.api_keys():
            accounts.revoke_key(key.id)
    url = placed.store.engine.url.render_as_string(hide_password=False)
    # `albums show` takes no model options: it opens the library with the test's tiny model.
    monkeypatch.setattr(
        "pixsift.cli.albums.open_library",
        lambda folder, database_url: Library.open(
            folder, database_url=database_url, embedder=tiny_embedder
        ),
    )
    result = CliRunner().invoke(
        main,
        ["albums", "show", str(album_id), "--json", "--library", str(placed.directory),
         "--database-url", url],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(image["id"] for image in json.loads(result.output)) == blind
    # The key that made it is revoked: the album still opens, still without places.
    assert members(placed, LOCAL_PRINCIPAL, Albums(placed.store, ANN).get(album_id)) == blind
