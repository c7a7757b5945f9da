"""Tags from the outside: the JSON API (checked against its OpenAPI document), the page (forms
to add and remove, tags on results) and the CLI (list, add, remove, recompute)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from test_tags import LABELS, planted
from test_web import assert_error, openapi_check

from pixsift.cli.main import main
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.tags.labels import label_cache_path
from pixsift.search.tags.service import LibraryTags
from pixsift.search.tags.vocabulary import Vocabulary, default_vocabulary
from pixsift.web import create_app


@pytest.fixture
def tagged_library(tmp_path: Path, tiny_embedder: OpenClipEmbedder) -> Library:
    """A library of planted vectors whose first five images are dogs, tagged with a small
    vocabulary; the label embeddings of the shipped vocabulary are planted too (in the cache
    folder the CLI test names), with "dog" where the small vocabulary has it."""
    library = Library.open(tmp_path / "library", embedder=tiny_embedder)
    labels, images = planted(tiny_embedder.dimension)
    ids = library.import_vectors(images, model_id=tiny_embedder.model_id)
    shipped = default_vocabulary()
    full = np.random.default_rng(1).normal(size=(len(shipped.labels), tiny_embedder.dimension))
    full[shipped.labels.index("dog")] = labels[0] * 10
    path = label_cache_path(tmp_path / "cli-cache", tiny_embedder.model_id, shipped)
    path.parent.mkdir(parents=True)
    np.save(path, (full / np.linalg.norm(full, axis=1, keepdims=True)).astype(np.float32))
    small = Vocabulary(LABELS)
    path = label_cache_path(tmp_path / "cache", tiny_embedder.model_id, small)
    path.parent.mkdir(parents=True)
    np.save(path, labels)
    LibraryTags(library, vocabulary=small, cache_directory=tmp_path / "cache").recompute()
    library.test_ids = ids  # type: ignore[attr-defined]
    yield library
    library.close()


@pytest.fixture
def app(tagged_library: Library) -> Flask:
    return create_app({"TESTING": True, "LIBRARY": tagged_library, "PAGE_SIZE": 50})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_api_lists_adds_and_removes_tags(client: FlaskClient, tagged_library: Library) -> None:
    first = tagged_library.test_ids[0]  # type: ignore[attr-defined]
    path = "/api/images/{image_id}/tags"
    body = openapi_check(client, client.get(f"/api/images/{first}/tags"), path)
    assert {"tag": "dog", "source": "auto"} in body["tags"]
    added = client.post(f"/api/images/{first}/tags", json={"tags": ["Red Kite", "beach"]})
    assert added.status_code == 200, added.get_json()
    body = openapi_check(client, added, path, "post")
    assert {"tag": "red kite", "source": "manual"} in body["tags"]
    removed = client.delete(f"/api/images/{first}/tags?tags=dog")
    body = openapi_check(client, removed, path, "delete")
    assert "dog" not in {row["tag"] for row in body["tags"]}
    counts = openapi_check(client, client.get("/api/tags"), "/api/tags")
    by_tag = {row["tag"]: row for row in counts["tags"]}
    assert by_tag["dog"]["images"] == 4 and by_tag["red kite"]["manual"] == 1
    # The image record (results, detail) carries the tags; the tag filter finds them.
    record = client.get(f"/api/images/{first}").get_json()
    assert "red kite" in record["tags"] and "dog" not in record["tags"]
    found = client.get("/api/search?q=anything&mode=semantic&tag=red+kite").get_json()
    assert [hit["id"] for hit in found["results"]] == [first]
    assert "red kite" in found["results"][0]["tags"]


def test_api_refuses_bad_tag_edits(client: FlaskClient) -> None:
    assert_error(client.post("/api/images/1/tags", json={"tags": []}), 400)
    assert_error(client.post("/api/images/1/tags", json={"tags": ["  "]}), 400)
    assert_error(client.post("/api/images/1/tags", json={"tags": "dog"}), 400)
    assert_error(client.post("/api/images/999999/tags", json={"tags": ["dog"]}), 404)
    assert_error(client.delete("/api/images/1/tags"), 400)
    assert_error(client.get("/api/images/999999/tags"), 404)


def test_openapi_documents_the_tag_operations(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"get", "post", "delete"} <= set(paths["/api/images/{image_id}/tags"])
    assert "get" in paths["/api/tags"]
    names = {parameter["name"] for parameter in paths["/api/search"]["get"]["parameters"]}
    assert "tag" in names


def test_page_shows_tags_and_edits_them(client: FlaskClient, tagged_library: Library) -> None:
    first = tagged_library.test_ids[0]  # type: ignore[attr-defined]
    page = client.get(f"/images/{first}").get_data(as_text=True)
    assert ">dog</a>" in page
    response = client.post(f"/images/{first}/tags", data={"tags": "Birthday, picnic"})
    assert response.status_code == 303
    page = client.get(f"/images/{first}").get_data(as_text=True)
    assert ">birthday</a>" in page and ">picnic</a>" in page
    client.post(f"/images/{first}/tags/remove", data={"tags": "dog"})
    page = client.get(f"/images/{first}").get_data(as_text=True)
    assert ">dog</a>" not in page
    results = client.get("/?q=anything&mode=semantic&tag=picnic").get_data(as_text=True)
    assert 'class="tags">birthday, picnic<' in results


def test_cli_lists_edits_and_recomputes(tagged_library: Library, tiny_spec: ModelSpec) -> None:
    runner = CliRunner()
    where = ["--library", str(tagged_library.directory)]
    first = tagged_library.test_ids[0]  # type: ignore[attr-defined]
    listed = runner.invoke(main, ["tags", *where])
    assert listed.exit_code == 0, listed.output
    assert listed.output.split("\n")[0].split() == ["5", "dog"]
    added = runner.invoke(main, ["tags", "add", str(first), "Sea View", *where])
    assert added.exit_code == 0 and "sea view" in added.output
    removed = runner.invoke(main, ["tags", "remove", str(first), "dog", *where])
    assert removed.exit_code == 0 and "dog" not in removed.output
    # recompute with the shipped vocabulary (planted "dog"): the removal and the manual tag stay.
    os_env = {
        "PIXSIFT_MODEL": tiny_spec.model_name,
        "PIXSIFT_PRETRAINED": tiny_spec.pretrained,
        "PIXSIFT_CACHE_DIR": str(tagged_library.directory.parent / "cli-cache"),
    }
    again = runner.invoke(main, ["tags", "recompute", *where], env=os_env)
    assert again.exit_code == 0, again.output
    one = runner.invoke(main, ["tags", "--image", str(first), *where])
    assert "sea view\tmanual" in one.output and "dog" not in one.output
    other = runner.invoke(main, ["tags", "--image", str(tagged_library.test_ids[1]), *where])  # type: ignore[attr-defined]
    assert "dog\tauto" in other.output
    bad = runner.invoke(main, ["tags", "add", "999999", "x", *where])
    assert bad.exit_code == 1 and "no indexed image" in bad.output
    assert "Traceback" not in bad.output


def test_only_admins_edit_tags_once_accounts_are_in_use(
    client: FlaskClient, tagged_library: Library
) -> None:
    from pixsift.search.accounts import Accounts

    first = tagged_library.test_ids[0]  # type: ignore[attr-defined]
    keys = Accounts(tagged_library.store)
    viewer = keys.create_key("reader", "viewer").token
    admin = keys.create_key("owner", "admin").token
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    as_admin = {"Authorization": f"Bearer {admin}"}
    assert client.get(f"/api/images/{first}/tags", headers=as_viewer).status_code == 200
    refused = client.post(f"/api/images/{first}/tags", json={"tags": ["x"]}, headers=as_viewer)
    assert_error(refused, 403)
    assert_error(client.delete(f"/api/images/{first}/tags?tags=dog", headers=as_viewer), 403)
    added = client.post(f"/api/images/{first}/tags", json={"tags": ["x"]}, headers=as_admin)
    assert added.status_code == 200
    # Without a key, a cookie caller's write needs a session and a CSRF token first.
    anonymous = client.post(f"/api/images/{first}/tags", json={"tags": ["y"]})
    assert anonymous.status_code in (400, 401)
    tags = client.get(f"/api/images/{first}/tags", headers=as_admin).get_json()["tags"]
    assert {"tag": "x", "source": "manual"} in tags and "y" not in {t["tag"] for t in tags}
