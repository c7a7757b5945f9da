"""Rules the page relies on, enforced below it: the last admin stays an admin (library and API),
and a refused request reads as a sentence, not as a validator's message."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_pictures
from flask.testing import FlaskClient
from test_web import index_folders
from test_web_accounts import bearer, make_app

from pixsift.cli.main import main
from pixsift.search.accounts import Accounts
from pixsift.search.errors import ConflictError, InvalidInputError
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.web import create_app
from pixsift.web.schemas import SearchParams


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    opened = Library.open(tmp_path / "library")
    yield opened
    opened.close()


def test_the_last_admin_can_be_neither_demoted_nor_removed(library: Library) -> None:
    accounts = Accounts(library.store)
    accounts.add_user("ada", "a long password", "admin")
    accounts.add_user("vic", "a long password", "viewer")
    with pytest.raises(ConflictError, match="ada is the only admin"):
        accounts.set_role("ada", "viewer")
    with pytest.raises(ConflictError, match="ada is the only admin"):
        accounts.remove_user("ada")
    assert accounts.user("ada").role == "admin"
    # With a second admin either may go; a viewer may always go.
    accounts.set_role("vic", "admin")
    accounts.set_role("ada", "viewer")
    with pytest.raises(ConflictError, match="vic is the only admin"):
        accounts.remove_user("vic")
    accounts.remove_user("ada")
    assert [user.name for user in accounts.users()] == ["vic"]


def test_the_command_line_may_take_the_last_admin_away_and_says_so(tmp_path: Path) -> None:
    """The server's owner on its command line is the way back in, so there the rule gives way:
    the last admin can go (to return the library to the desktop mode), with a note."""
    library = Library.open(tmp_path / "library")
    accounts = Accounts(library.store)
    accounts.add_user("ada", "a long password", "admin")
    accounts.add_user("vic", "a long password", "viewer")
    library.close()
    removed = CliRunner().invoke(
        main, ["users", "remove", "ada", "--library", str(tmp_path / "library")]
    )
    assert removed.exit_code == 0, removed.output
    assert "no admin user is left" in removed.stderr
    with Library.open(tmp_path / "library") as reopened:
        assert [user.name for user in Accounts(reopened.store).users()] == ["vic"]


def test_the_api_refuses_to_take_away_the_last_admin(library: Library) -> None:
    accounts = Accounts(library.store)
    ada = accounts.add_user("ada", "a long password", "admin")
    token = accounts.create_key("admin key", "admin").token
    client = make_app(library).test_client()
    demoted = client.patch(f"/api/users/{ada.id}", json={"role": "viewer"}, headers=bearer(token))
    assert demoted.status_code == 409
    assert "only admin" in demoted.get_json()["error"]["message"]
    removed = client.delete(f"/api/users/{ada.id}", headers=bearer(token))
    assert removed.status_code == 409
    assert accounts.user("ada").role == "admin"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"q": "   "}, "q: type a few words to search for"),
        ({"k": "many"}, "k: must be a whole number"),
        ({"k": "0"}, "k: must be at least 1"),
        ({"min_score": "2"}, "min_score: must be at most 1"),
        ({"orientation": "round"}, "orientation: must be one of landscape, portrait, square"),
        ({"has_gps": "perhaps"}, "has_gps: must be yes or no (true or false)"),
    ],
)
def test_refusals_read_as_sentences(values: dict[str, str], expected: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        SearchParams.parse(values)
    assert raised.value.message == expected
    assert "should" not in raised.value.message and "pattern" not in raised.value.message


def test_filters_forgive_how_people_write_them(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    """``jpg`` means JPEG (any case, with or without a dot); a folder's bare name finds it at
    any depth, in any case; a path still means that path."""
    folder = tmp_path / "pictures"
    write_pictures(folder, 3)
    write_pictures(folder / "photos" / "2023" / "Summer", 2, first_seed=100, suffix=".jpg")
    assert SearchParams.parse({"format": ["jpg", ".JPE", "tif", "png"]}).format == (
        "JPEG", "JPEG", "TIFF", "PNG",
    )  # fmt: skip
    library = Library.open(tmp_path / "forgiving-library", embedder=tiny_embedder)
    try:
        index_folders(library, tiny_embedder, folder)
        client = create_app({"LIBRARY": library}).test_client()

        def names(query: str) -> set[str]:
            answer = client.get(f"/api/search?q=anything&k=20&{query}")
            assert answer.status_code == 200, answer.get_json()
            return {hit["path"] for hit in answer.get_json()["results"]}

        summer = {"photos/2023/Summer/picture-0100.jpg", "photos/2023/Summer/picture-0101.jpg"}
        assert names("format=jpg") == summer
        assert names("folder=summer") == summer
        assert names("folder=2023") == summer
        assert names("folder=photos/2023/Summer") == summer
        assert names("folder=ummer") == set()  # a name, not a piece of one
        assert names("format=png") == {f"picture-000{n}.png" for n in range(3)}
    finally:
        library.close()


@contextmanager
def served_pictures(
    tmp_path: Path, embedder: OpenClipEmbedder, count: int
) -> Iterator[tuple[Library, FlaskClient]]:
    """A library of ``count`` indexed pictures and a client of the app that serves it."""
    folder = tmp_path / "pictures"
    write_pictures(folder, count)
    library = Library.open(tmp_path / "served-library", embedder=embedder)
    try:
        index_folders(library, embedder, folder)
        yield library, create_app({"LIBRARY": library}).test_client()
    finally:
        library.close()


def test_sized_pictures_for_dense_screens_and_the_viewer(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    from PIL import Image

    with served_pictures(tmp_path, tiny_embedder, 2) as (_library, client):
        hit = client.get("/api/search?q=anything&k=1").get_json()["results"][0]
        assert "/sized/1600" in hit["preview_url"]
        widths = [part.split()[-1] for part in hit["thumbnail_srcset"].split(", ")]
        assert widths == ["256w", "512w", "768w"]
        answer = client.get(hit["preview_url"])
        assert answer.status_code == 200 and "immutable" in answer.headers["Cache-Control"]
        with Image.open(io.BytesIO(answer.data)) as picture:
            assert max(picture.size) <= 1600
        refused = client.get(f"/images/{hit['id']}/sized/999")
        assert refused.status_code == 404 and "1600" in refused.get_json()["error"]["message"]


def test_each_result_links_to_its_own_picture_under_the_servers_prefix(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    with served_pictures(tmp_path, tiny_embedder, 3) as (library, client):
        prefix = "http://localhost/photos"  # behind a proxy that serves pixsift under /photos
        hits = client.get("/api/search?q=anything&k=3", base_url=prefix).get_json()["results"]
        assert len({hit["id"] for hit in hits}) == 3
        for hit in hits:
            version = library.image(hit["id"]).content_hash[:16]
            urls = [hit[name] for name in ("thumbnail_url", "preview_url", "image_url")]
            urls += [part.split()[0] for part in hit["thumbnail_srcset"].split(", ")]
            for url in urls:
                assert url.startswith(f"/photos/images/{hit['id']}/") and f"v={version}" in url
            assert (
                hit["similar_url"].startswith("/photos/api/")
                and str(hit["id"]) in hit["similar_url"]
            )
            assert hit["page_url"].startswith(f"/photos/images/{hit['id']}")
            for url in (*urls, hit["similar_url"], hit["page_url"]):
                answer = client.get(url.removeprefix("/photos"), base_url=prefix)
                assert answer.status_code == 200, url


def test_the_explanation_outlines_the_crop_the_model_saw() -> None:
    from PIL import Image

    from pixsift.search.explain.records import Explanation
    from pixsift.search.explain.render import CROP_LINE, overlay

    explanation = Explanation.model_construct(
        width=300, height=100, crop_box=(100.0, 0.0, 200.0, 100.0), cells=[]
    )
    drawn = overlay(Image.new("RGB", (300, 100), (128, 128, 128)), explanation)
    # The crop's left edge is outlined (white inside dark), the middle is the picture as it is.
    assert drawn.getpixel((101, 50))[0] > 200 and drawn.getpixel((100, 50))[0] < 60
    assert drawn.getpixel((150, 50)) == (128, 128, 128)
    assert CROP_LINE[0] == 255
