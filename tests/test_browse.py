"""Browsing without a query (the timeline, folders) and the user's decisions ("hide from
results", "not duplicates"), from the library and the JSON API, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import DatabaseFactory, make_picture
from exif_samples import write_photo
from flask.testing import FlaskClient

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search import folders
from pixsift.search.accounts import LOCAL_PRINCIPAL, Accounts, Principal
from pixsift.search.browse import encode_position, timeline
from pixsift.search.decisions import Decisions, NotDuplicatesRequest
from pixsift.search.errors import PermissionDeniedError
from pixsift.search.folders import folder_listing
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import QueryTerm, SearchFilters, SearchRequest
from pixsift.web import create_app
from pixsift.web.results import SearchQuery, encode_cursor
from pixsift.web.schemas import SearchParams

TAKEN = {
    "2023/summer/beach-1.jpg": datetime(2023, 7, 1, 10, 0, 0),
    "2023/summer/beach-2.jpg": datetime(2023, 7, 2, 9, 0, 0),
    "2023/summer/raw/deep.jpg": datetime(2023, 7, 2, 8, 0, 0),
    "2023/winter/snow.jpg": datetime(2023, 12, 24, 18, 30, 0),
    "2024/party.jpg": datetime(2024, 5, 4, 20, 0, 0),
}
#: Pictures without a date taken: the timeline places them by file time.
FILE_TIMES = {
    "loose-1.png": datetime(2022, 3, 1, 12, 0, 0),
    "loose-2.png": datetime(2024, 5, 4, 20, 0, 0),  # the party's second: taken ones come first
    "dup-a.png": datetime(2021, 1, 1, 8, 0, 0),
    "dup-b.jpg": datetime(2021, 1, 2, 8, 0, 0),
}
NEWEST_FIRST = [
    "2024/party.jpg", "loose-2.png", "2023/winter/snow.jpg", "2023/summer/beach-2.jpg",
    "2023/summer/raw/deep.jpg", "2023/summer/beach-1.jpg", "loose-1.png", "dup-b.jpg",
    "dup-a.png",
]  # fmt: skip


def epoch_ns(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1)).total_seconds()) * 10**9


def write_library(root: Path) -> None:
    for number, (name, taken) in enumerate(TAKEN.items()):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_photo(root / name, 10 + number, taken=taken)
    for number, name in enumerate(("loose-1.png", "loose-2.png")):
        make_picture(30 + number).save(root / name)
    # A picture and a smaller copy of it: near-duplicates.
    make_picture(70, size=(192, 144)).save(root / "dup-a.png")
    make_picture(70, size=(192, 144)).resize((96, 72)).save(root / "dup-b.jpg", quality=95)
    for name, moment in {**FILE_TIMES, **TAKEN}.items():
        os.utime(root / name, ns=(epoch_ns(moment), epoch_ns(FILE_TIMES.get(name, moment))))


def index(library: Library, embedder: OpenClipEmbedder, root: Path) -> None:
    Indexer(library, embedder, IndexingOptions(batch_size=8, show_progress=False)).index([root])


@pytest.fixture(scope="module")
def browsed(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    new_database_url: DatabaseFactory,
) -> Iterator[tuple[Library, Path]]:
    root = tmp_path_factory.mktemp("browse") / "Photos"
    write_library(root)
    library = Library.open(
        tmp_path_factory.mktemp("browse-library"),
        database_url=new_database_url(),
        embedder=tiny_embedder,
    )
    index(library, tiny_embedder, root)
    yield library, root
    library.close()


@pytest.fixture
def client(browsed: tuple[Library, Path]) -> FlaskClient:
    library, _ = browsed
    return create_app({"TESTING": True, "LIBRARY": library, "SECRET_KEY": "k" * 40}).test_client()


def ids_by_path(library: Library) -> dict[str, int]:
    return {record.relative_path: i for i, record in library.images(range(1, 100)).items()}


def walk(client: FlaskClient, url: str) -> list[dict]:
    """Every item of a paged listing, following next (bounded)."""
    items: list[dict] = []
    for _ in range(50):
        answer = client.get(url)
        assert answer.status_code == 200, answer.get_json()
        data = answer.get_json()
        items += data["results"]
        if data["next"] is None:
            return items
        url = data["next"]
    raise AssertionError("the listing never ended")


# The timeline ----------------------------------------------------------------------------------


def test_the_timeline_is_newest_first_in_pages_dates_taken_else_file_times(
    client: FlaskClient,
) -> None:
    for k in (1, 2, 4, 30):
        items = walk(client, f"/api/timeline?k={k}")
        assert [item["path"] for item in items] == NEWEST_FIRST, k
    first = client.get("/api/timeline?k=2").get_json()
    assert [i["date_source"] for i in first["results"]] == ["taken", "file"]
    assert first["results"][0]["date"] == "2024-05-04T20:00:00"


def test_filters_narrow_the_timeline_and_a_month_jumps_back(client: FlaskClient) -> None:
    summer = walk(client, "/api/timeline?folder=summer&k=2")
    assert [i["path"] for i in summer] == NEWEST_FIRST[3:6]
    jumped = walk(client, "/api/timeline?start=2023-07&k=3")
    assert [i["path"] for i in jumped] == NEWEST_FIRST[3:]
    assert client.get("/api/timeline?start=2023-13").status_code == 400
    bad = client.get("/api/timeline?cursor=abc")
    assert bad.status_code == 400 and "cursor" in bad.get_json()["error"]["message"]


def test_a_month_or_cursor_beyond_the_dates_the_database_holds_is_answered(
    client: FlaskClient,
) -> None:
    """File times are 64-bit nanoseconds (years 1678-2262) and dates years 1-9999: a jump to
    767 or 9999 starts at the nearest end (found by Schemathesis: 500 on start=0767-07)."""
    assert walk(client, "/api/timeline?start=9999-12&k=3") == walk(client, "/api/timeline?k=3")
    for month in ("0767-07", "0001-01", "1677-12"):
        answer = client.get(f"/api/timeline?start={month}")
        assert answer.status_code == 200 and answer.get_json()["results"] == [], month
    assert client.get("/api/timeline?start=0000-01").status_code == 400
    for values in ([2**70, 0, 2**70, 2**70], [-(2**70), 1, -(2**70), 1]):
        cursor = encode_position("timeline", tuple(values))
        assert client.get(f"/api/timeline?cursor={cursor}").status_code == 200, values


def test_the_timeline_reads_one_page_not_the_library(browsed: tuple[Library, Path]) -> None:
    library, _ = browsed
    page = timeline(library.store, SearchFilters(), 3)
    assert [r.relative_path for r in page.images] == NEWEST_FIRST[:3]
    assert page.next_position is not None


# Folders -------------------------------------------------------------------------------------


def test_folders_show_subfolders_pictures_and_breadcrumbs(client: FlaskClient) -> None:
    top = client.get("/api/folders").get_json()
    assert [f["name"] for f in top["folders"]] == [top["folders"][0]["name"]]
    root = top["folders"][0]["root"]
    at_root = client.get(f"/api/folders?root={root}").get_json()
    assert [f["name"] for f in at_root["folders"]] == ["2023", "2024"]
    assert [i["path"] for i in at_root["results"]] == [
        "dup-a.png", "dup-b.jpg", "loose-1.png", "loose-2.png",
    ]  # fmt: skip
    summer = client.get(f"/api/folders?root={root}&path=2023/summer").get_json()
    assert [f["name"] for f in summer["folders"]] == ["raw"]
    assert summer["folders"][0]["cover"]["path"] == "2023/summer/raw/deep.jpg"
    assert [i["path"] for i in summer["results"]] == ["2023/summer/beach-1.jpg",
                                                       "2023/summer/beach-2.jpg"]  # fmt: skip
    assert [c["name"] for c in summer["breadcrumbs"]][2:] == ["2023", "summer"]
    assert summer["breadcrumbs"][-1]["page_url"] == f"/folders/{root}/2023/summer"
    paged = walk(client, f"/api/folders?root={root}&k=1")
    assert [i["path"] for i in paged] == [i["path"] for i in at_root["results"]]
    assert client.get(f"/api/folders?root={root}&path=nowhere").status_code == 404
    assert client.get(f"/api/folders?root={root}&path=a/../b").status_code == 400
    assert client.get("/api/folders?root=999").status_code == 404


def test_a_folder_past_many_subfolders_lists_the_same_pictures(
    browsed: tuple[Library, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    library, _ = browsed
    root_id = folder_listing(library.store, None).folders[0].root_id

    def every_page() -> list[str]:
        names, after = [], None
        for _ in range(20):
            listing = folder_listing(library.store, root_id, "", 1, after)
            names += [record.relative_path for record in listing.page.images]
            after = listing.page.next_position
            if after is None:
                return names
        raise AssertionError("the folder never ended")

    jumping = every_page()
    assert jumping == ["dup-a.png", "dup-b.jpg", "loose-1.png", "loose-2.png"]
    monkeypatch.setattr(folders, "MAX_JUMPS", 1)  # the subfolders left out in SQL instead
    assert every_page() == jumping


def test_folder_and_timeline_pages_render_the_same_data(client: FlaskClient) -> None:
    home = client.get("/").get_data(as_text=True)
    assert "May 2024" in home and "Saturday 4 May 2024" in home
    assert home.index("party.jpg") < home.index("snow.jpg") < home.index("loose-1.png")
    top = client.get("/api/folders").get_json()
    root = top["folders"][0]["root"]
    page = client.get(f"/folders/{root}/2023/summer").get_data(as_text=True)
    assert 'id="breadcrumbs"' in page and "beach-1.jpg" in page and ">raw<" in page
    assert "snow.jpg" not in page


# Hide from results ---------------------------------------------------------------------------


def everything(library: Library) -> set[int]:
    request = SearchRequest((QueryTerm(text="a photo"),), k=100, min_score=-1, weaker=True)
    return {hit.id for hit in library.find(request).hits}


def test_hidden_pictures_leave_every_listing_and_come_back(
    client: FlaskClient, browsed: tuple[Library, Path]
) -> None:
    library, _ = browsed
    ids = ids_by_path(library)
    party = ids["2024/party.jpg"]
    assert party in everything(library)
    answer = client.post(f"/api/images/{party}/hidden")
    assert answer.get_json() == {"image_id": party, "hidden": True}
    try:
        assert party not in everything(library)
        assert "2024/party.jpg" not in [i["path"] for i in walk(client, "/api/timeline")]
        root = client.get("/api/folders").get_json()["folders"][0]["root"]
        in_2024 = client.get(f"/api/folders?root={root}&path=2024")
        assert in_2024.status_code == 404  # its only picture is hidden
        assert [i["id"] for i in walk(client, "/api/hidden")] == [party]
        assert client.get(f"/api/images/{party}").status_code == 200  # still reachable by id
        filtered = SearchRequest((QueryTerm(text="a"),), k=50, min_score=-1, weaker=True,
                                 filters=SearchFilters(folder="2024"))  # fmt: skip
        assert library.find(filtered).hits == []
    finally:
        assert client.delete(f"/api/images/{party}/hidden").get_json()["hidden"] is False
    assert party in everything(library)
    assert walk(client, "/api/hidden") == []


@pytest.mark.parametrize("hide", ["an earlier one", "the last one shown"])
def test_hiding_a_picture_of_a_search_page_skips_nothing_on_the_next_page(
    client: FlaskClient, hide: str
) -> None:
    """The viewer hides pictures of the results being paged through: the next page (its cursor
    made before) goes on right after what was shown, neither skipping nor repeating one."""
    search = "/api/search?q=a+photo&k=3&min_score=-1&weaker=true&collapse=false"
    ranking = [item["id"] for item in walk(client, search)]
    assert len(ranking) >= 7
    first = client.get(search).get_json()
    shown = [item["id"] for item in first["results"]]
    assert shown == ranking[:3]
    hidden = shown[1] if hide == "an earlier one" else shown[2]
    assert client.post(f"/api/images/{hidden}/hidden").status_code == 200
    try:
        following = [item["id"] for item in client.get(first["next"]).get_json()["results"]]
        assert following == ranking[3:6], (ranking, hidden)
    finally:
        assert client.delete(f"/api/images/{hidden}/hidden").status_code == 200


def test_a_cursor_with_bad_ids_is_one_clear_error(client: FlaskClient) -> None:
    params = SearchParams(q="a photo", k=3)
    fingerprint = SearchQuery(params=params, k=3).fingerprint
    good = encode_cursor(3, fingerprint, [1, 2, 3])
    assert client.get(f"/api/search?q=a+photo&k=3&cursor={good}").status_code == 200
    for after in (["x"], list(range(20)), [True]):
        raw = json.dumps({"offset": 3, "query": fingerprint, "after": after}).encode()
        bad = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        answer = client.get(f"/api/search?q=a+photo&k=3&cursor={bad}")
        assert answer.status_code == 400, after
        assert answer.get_json()["error"]["message"] == "cursor is not valid"


def test_hidden_and_not_duplicates_survive_indexing_again(
    browsed: tuple[Library, Path], tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    library, root = browsed
    decisions = Decisions(library.store, LOCAL_PRINCIPAL)
    ids = ids_by_path(library)
    decisions.hide(ids["loose-1.png"])
    pair = NotDuplicatesRequest(image_ids=(ids["dup-a.png"], ids["dup-b.jpg"]))
    try:
        # The file leaves (its row is deleted) and comes back: a new id, the same decision.
        shutil.move(root / "loose-1.png", tmp_path / "loose-1.png")
        index(library, tiny_embedder, root)
        shutil.move(tmp_path / "loose-1.png", root / "loose-1.png")
        index(library, tiny_embedder, root)
        again = ids_by_path(library)["loose-1.png"]
        assert again != ids["loose-1.png"] and decisions.is_hidden(again)
        assert again not in everything(library)
        before = library.duplicate_groups(0.9)
        assert sorted(pair.image_ids) in before
        decisions.mark_not_duplicates(pair)
        library.rebuild_index()
        assert sorted(pair.image_ids) not in library.duplicate_groups(0.9)
    finally:
        decisions.unhide(ids_by_path(library)["loose-1.png"])
        decisions.unmark_not_duplicates(pair)
    assert sorted(pair.image_ids) in library.duplicate_groups(0.9)


def test_not_duplicates_over_the_api(client: FlaskClient, browsed: tuple[Library, Path]) -> None:
    library, _ = browsed
    ids = ids_by_path(library)
    pair = sorted((ids["dup-a.png"], ids["dup-b.jpg"]))
    grouped = client.get("/api/duplicates?threshold=0.9").get_json()["groups"]
    assert pair in [sorted(i["id"] for i in g["images"]) for g in grouped]
    marked = client.post("/api/duplicates/not-duplicates", json={"image_ids": pair})
    assert marked.get_json() == {"pairs": 1}
    try:
        grouped = client.get("/api/duplicates?threshold=0.9").get_json()["groups"]
        assert pair not in [sorted(i["id"] for i in g["images"]) for g in grouped]
        page = client.get("/duplicates?threshold=0.9").get_data(as_text=True)
        groups, kept_apart = page.split('id="kept-apart"')
        assert "dup-b.jpg" not in groups and "dup-b.jpg" in kept_apart  # listed, to undo
    finally:
        query = "&".join(f"image_ids={i}" for i in pair)
        assert client.delete(f"/api/duplicates/not-duplicates?{query}").get_json() == {"pairs": 1}
    assert (
        client.post("/api/duplicates/not-duplicates", json={"image_ids": [pair[0]]}).status_code
        == 400
    )
    missing = client.post("/api/duplicates/not-duplicates", json={"image_ids": [pair[0], 999]})
    assert missing.status_code == 404


def test_not_duplicates_decisions_are_listed_and_undone(
    client: FlaskClient, browsed: tuple[Library, Path]
) -> None:
    """Each "not duplicates" decision is listed (API and the duplicates page's "Kept apart")
    with its pictures, and undone from there: the pair is grouped again."""
    library, _ = browsed
    ids = ids_by_path(library)
    pair = sorted((ids["dup-a.png"], ids["dup-b.jpg"]))
    assert client.get("/api/duplicates/not-duplicates").get_json() == {"groups": []}
    assert 'id="kept-apart-empty"' in client.get("/duplicates?threshold=0.9").text
    client.post("/api/duplicates/not-duplicates", json={"image_ids": pair})
    try:
        (group,) = client.get("/api/duplicates/not-duplicates").get_json()["groups"]
        assert [image["id"] for image in group["images"]] == pair
        assert group["decided_by"] == "local"
        page = client.get("/duplicates?threshold=0.9").text
        kept = page[page.index('id="kept-apart"') :]
        assert "dup-a.png" in kept and "dup-b.jpg" in kept
        undo = client.post(
            "/duplicates/not-duplicates",
            data={"image_ids": pair, "undo": "1", "next": "/duplicates?threshold=0.9"},
        )
        assert undo.status_code == 303 and undo.location.endswith("/duplicates?threshold=0.9")
        assert client.get("/api/duplicates/not-duplicates").get_json() == {"groups": []}
        grouped = client.get("/api/duplicates?threshold=0.9").get_json()["groups"]
        assert pair in [sorted(i["id"] for i in g["images"]) for g in grouped]
    finally:
        Decisions(library.store, LOCAL_PRINCIPAL).unmark_not_duplicates(
            NotDuplicatesRequest(image_ids=tuple(pair))
        )


def test_viewers_cannot_decide_but_admins_can(browsed: tuple[Library, Path]) -> None:
    library, _ = browsed
    viewer = Principal(kind="user", name="vic", role="viewer")
    image_id = ids_by_path(library)["loose-2.png"]
    with pytest.raises(PermissionDeniedError, match="viewer"):
        Decisions(library.store, viewer).hide(image_id)
    accounts = Accounts(library.store)
    tokens = {role: accounts.create_key(f"k-{role}", role).token for role in ("viewer", "admin")}
    client = create_app({"TESTING": True, "LIBRARY": library, "SECRET_KEY": "k" * 40}).test_client()
    try:
        as_viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
        as_admin = {"Authorization": f"Bearer {tokens['admin']}"}
        refused = client.post(f"/api/images/{image_id}/hidden", headers=as_viewer)
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
        assert client.post(f"/api/images/{image_id}/hidden", headers=as_admin).status_code == 200
        # Which pictures are hidden is the editors' to know: a viewer is refused the listing.
        listing = client.get("/api/hidden", headers=as_viewer)
        assert listing.status_code == 403 and listing.get_json()["error"]["code"] == "forbidden"
        assert "viewer" in listing.get_json()["error"]["message"]
        assert (
            client.get("/api/hidden", headers=as_admin).get_json()["results"][0]["id"] == image_id
        )
        assert client.delete(f"/api/images/{image_id}/hidden", headers=as_viewer).status_code == 403
        kept = client.get("/api/duplicates/not-duplicates", headers=as_viewer)
        assert kept.status_code == 403 and kept.get_json()["error"]["code"] == "forbidden"
        assert client.get("/api/duplicates/not-duplicates", headers=as_admin).status_code == 200
        assert client.delete(f"/api/images/{image_id}/hidden", headers=as_admin).status_code == 200
    finally:
        for key in accounts.api_keys():
            accounts.revoke_key(key.id)
        accounts.open_desktop()


def test_a_logged_in_viewer_is_refused_the_hidden_page(browsed: tuple[Library, Path]) -> None:
    """The page refuses a viewer as the API does: 403, the house's HTML error page (no list),
    and no "Hidden" link in the browsing nav."""
    import re

    library, _ = browsed
    accounts = Accounts(library.store)
    accounts.add_user("vic", "viewer password", "viewer")
    hidden_id = ids_by_path(library)["loose-2.png"]
    Decisions(library.store, LOCAL_PRINCIPAL).hide(hidden_id)
    client = create_app({"TESTING": True, "LIBRARY": library, "SECRET_KEY": "k" * 40}).test_client()
    try:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        form = {"name": "vic", "password": "viewer password", "csrf_token": token.group(1)}
        assert client.post("/login", data=form).status_code == 302
        page = client.get("/hidden")
        assert page.status_code == 403 and page.mimetype == "text/html"
        assert 'id="error"' in page.text and "vic is a viewer" in page.text
        assert "loose-2.png" not in page.text and "hidden-list" not in page.text
        assert client.get("/api/hidden").status_code == 403
        assert "/hidden" not in client.get("/folders").text  # no link to a page it may not see
    finally:
        Decisions(library.store, LOCAL_PRINCIPAL).unhide(hidden_id)
        accounts.remove_user("vic", keep_an_admin=False)
        accounts.open_desktop()


def test_openapi_documents_browsing_and_decisions(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"/api/timeline", "/api/folders", "/api/hidden"} <= set(paths)
    assert {"post", "delete"} <= set(paths["/api/images/{image_id}/hidden"])
    assert "requestBody" in paths["/api/duplicates/not-duplicates"]["post"]
    assert {"get", "post", "delete"} <= set(paths["/api/duplicates/not-duplicates"])
    timeline_parameters = {p["name"] for p in paths["/api/timeline"]["get"]["parameters"]}
    assert {"folder", "after", "tag", "start", "k", "cursor"} <= timeline_parameters
