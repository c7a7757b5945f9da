"""Editing a picture's description by hand: the JSON API (PUT / DELETE), the CLI (``pixsift
describe ID --text / --clear``) and the image page's form. What an editor writes (or clears) is
hand-written: keyword search finds it, no captioner replaces it, viewers may not change it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_pictures
from flask.testing import FlaskClient

from pixsift.cli.main import main
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.accounts import Accounts
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import QueryTerm, SearchRequest
from pixsift.search.storage.descriptions import (
    MANUAL,
    Described,
    images_to_describe,
    write_descriptions,
)
from pixsift.web import create_app

WRITTEN = "zanzibar harbour at dawn"
NAMES = {1: "alpha", 2: "bravo", 3: "charlie"}  # a word of each generated description


@pytest.fixture
def indexed(library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path) -> Library:
    write_pictures(tmp_path / "pictures", 3)
    options = IndexingOptions(batch_size=4, workers=1, show_progress=False, tag=False)
    Indexer(library, tiny_embedder, options).index([tmp_path / "pictures"])
    with library.store.session() as session:  # a captioner described every picture
        write_descriptions(session, [Described(i, f"a generated sentence {NAMES[i]}") for i in (1, 2, 3)],
                           "world-coca")  # fmt: skip
    return library


def keyword_ids(library: Library, words: str) -> list[int]:
    request = SearchRequest((QueryTerm(text=words),), mode="keyword", k=10)
    return [hit.image.id for hit in library.find(request).hits]


def still_to_describe(library: Library, captioner_id: str) -> list[int]:
    with library.store.session() as session:
        return [item.image_id for item in images_to_describe(session, captioner_id, 10)]


def client_of(library: Library) -> FlaskClient:
    return create_app({"TESTING": True, "LIBRARY": library, "SECRET_KEY": "s" * 40}).test_client()


def test_an_editor_writes_and_clears_a_description_by_api(indexed: Library) -> None:
    client = client_of(indexed)
    answer = client.put("/api/images/2/description", json={"text": f"  {WRITTEN} "})
    assert answer.status_code == 200, answer.text
    assert answer.get_json() == {"image_id": 2, "caption": WRITTEN, "caption_by": MANUAL,
                                 "cleared": False}  # fmt: skip
    record = indexed.image(2)
    assert (record.caption, record.caption_by) == (WRITTEN, MANUAL)
    assert client.get("/api/images/2").get_json()["caption"] == WRITTEN
    assert keyword_ids(indexed, "zanzibar harbour") == [2]
    assert keyword_ids(indexed, "bravo") == []  # the generated words are gone
    # No captioner replaces it: neither the one that described it nor another one.
    assert still_to_describe(indexed, "another-captioner") == [1, 3]
    with indexed.store.session() as session:
        write_descriptions(session, [Described(2, "a new generated sentence")], "world-coca")
    assert indexed.image(2).caption == WRITTEN

    cleared = client.delete("/api/images/2/description")
    assert cleared.status_code == 200, cleared.text
    assert cleared.get_json() == {"image_id": 2, "caption": None, "caption_by": None,
                                  "cleared": True}  # fmt: skip
    assert indexed.image(2).caption is None
    assert keyword_ids(indexed, "zanzibar") == []
    assert still_to_describe(indexed, "another-captioner") == [1, 3]  # cleared for good
    assert client.get("/api/images/2/description").get_json()["cleared"] is True
    assert client.get("/api/images/1/description").get_json()["caption_by"] == "world-coca"


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "message"),
    [
        ("/api/images/2/description", {"text": "   "}, 400, "invalid_input", "text"),
        ("/api/images/2/description", {"text": "x" * 2001}, 400, "invalid_input", "2000"),
        ("/api/images/2/description", {"text": "a", "by": "me"}, 400, "invalid_json", "by"),
        ("/api/images/2/description", {}, 400, "invalid_input", "text"),
        ("/api/images/99/description", {"text": "a"}, 404, "not_found", "99"),
    ],
)
def test_bad_edits_get_one_clear_error_and_change_nothing(
    indexed: Library, path: str, body: dict, status: int, code: str, message: str
) -> None:
    answer = client_of(indexed).put(path, json=body)
    assert answer.status_code == status, answer.text
    error = answer.get_json()["error"]
    assert error["code"] == code and message in error["message"], error
    assert indexed.image(2).caption == "a generated sentence bravo"


def test_viewers_read_descriptions_but_only_admins_edit_them(indexed: Library) -> None:
    accounts = Accounts(indexed.store)
    keys = {role: accounts.create_key(f"{role}-key", role).token for role in ("viewer", "admin")}
    client = client_of(indexed)

    def bearer(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[role]}"}

    refused = client.put("/api/images/1/description", json={"text": WRITTEN},
                         headers=bearer("viewer"))  # fmt: skip
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    assert "viewer" in refused.get_json()["error"]["message"]
    assert client.delete("/api/images/1/description", headers=bearer("viewer")).status_code == 403
    assert indexed.image(1).caption == "a generated sentence alpha"
    read = client.get("/api/images/1/description", headers=bearer("viewer"))
    assert read.status_code == 200 and read.get_json()["caption"] == "a generated sentence alpha"
    written = client.put("/api/images/1/description", json={"text": WRITTEN},
                         headers=bearer("admin"))  # fmt: skip
    assert written.status_code == 200, written.text
    assert indexed.image(1).caption_by == MANUAL


def test_the_page_form_writes_and_clears_and_openapi_documents_it(indexed: Library) -> None:
    client = client_of(indexed)
    page = client.get("/images/3").get_data(as_text=True)
    assert 'action="/images/3/description"' in page and "a generated sentence charlie" in page
    saved = client.post("/images/3/description", data={"text": WRITTEN, "action": "save"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/images/3#description")
    page = client.get("/images/3").get_data(as_text=True)
    assert WRITTEN in page and "(written by hand)" in page
    client.post("/images/3/description", data={"text": WRITTEN, "action": "clear"})
    assert indexed.image(3).caption is None
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"get", "put", "delete"} <= set(paths["/api/images/{image_id}/description"])


def test_cli_writes_and_clears_a_description(indexed: Library) -> None:
    url = indexed.store.engine.url.render_as_string(hide_password=False)
    where = ["--library", str(indexed.directory), "--database-url", url]
    runner = CliRunner()
    written = runner.invoke(main, ["describe", "1", "--text", WRITTEN, *where])
    assert written.exit_code == 0, written.output
    assert written.output.strip() == WRITTEN
    assert indexed.image(1).caption_by == MANUAL
    assert still_to_describe(indexed, "another-captioner") == [2, 3]
    shown = runner.invoke(main, ["describe", "1", *where])  # shown as written, not re-described
    assert shown.exit_code == 0 and shown.output.strip() == WRITTEN, shown.output
    cleared = runner.invoke(main, ["describe", "1", "--clear", *where])
    assert cleared.exit_code == 0 and "cleared" in cleared.output, cleared.output
    assert indexed.image(1).caption is None
    for arguments, message in (
        (["1", "--text", "a", "--clear"], "not both"),
        (["picture.jpg", "--text", "a"], "image's id"),
        (["--all", "--clear"], "image's id"),
        (["42", "--text", "a"], "no indexed image has id 42"),
        (["1", "--text", " "], "text"),
    ):
        failed = runner.invoke(main, ["describe", *arguments, *where])
        assert failed.exit_code != 0 and message in failed.output, (arguments, failed.output)
    assert indexed.image(1).caption is None
