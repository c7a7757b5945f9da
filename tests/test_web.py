"""The web app through Flask's test client: the JSON API (checked against its own OpenAPI
document), the image routes, the search page, the error shape for every bad input, and a live
index. The library is indexed once per module with the tiny random-weights model."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DatabaseFactory, make_picture, write_pictures
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jsonschema import Draft202012Validator
from markupsafe import escape
from PIL import Image

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import MAX_RESULTS
from pixsift.web import create_app
from pixsift.web.results import encode_cursor

OPTIONS = IndexingOptions(batch_size=8, workers=1, show_progress=False)
PAGE_SIZE = 5
PICTURE_COUNT = 24
HOSTILE_NAME = "<img src=x onerror=alert(1)>.png"
# A folder "<script>alert(1)<" holding "script>.png": the relative path reads as a script tag.
HOSTILE_PATH = "<script>alert(1)</script>.png"


def index_folders(library: Library, embedder: OpenClipEmbedder, *folders: Path) -> None:
    Indexer(library, embedder, OPTIONS).index(list(folders))


@pytest.fixture(scope="module")
def picture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("web-pictures")
    write_pictures(folder, PICTURE_COUNT)
    write_pictures(folder / "nested <b>dir</b>", 3, first_seed=500, suffix=".jpg")
    make_picture(900).save(folder / HOSTILE_NAME)
    (folder / "<script>alert(1)<").mkdir()
    make_picture(901).save(folder / HOSTILE_PATH)
    return folder


@pytest.fixture(scope="module")
def indexed_library(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    picture_root: Path,
    new_database_url: DatabaseFactory,
) -> Iterator[Library]:
    library = Library.open(
        tmp_path_factory.mktemp("web-library"),
        database_url=new_database_url(),
        embedder=tiny_embedder,
    )
    index_folders(library, tiny_embedder, picture_root)
    yield library
    library.close()


@pytest.fixture
def app(indexed_library: Library) -> Flask:
    return create_app({"TESTING": True, "LIBRARY": indexed_library, "PAGE_SIZE": PAGE_SIZE})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


# OpenAPI checking ------------------------------------------------------------------------------


def openapi_check(client: FlaskClient, response: Any, path: str, method: str = "get") -> Any:
    """Validate a JSON response against the schema the app's own OpenAPI document gives it."""
    document = client.get("/api/openapi.json").get_json()
    responses = document["paths"][path][method]["responses"]
    described = responses.get(str(response.status_code), responses.get("default"))
    assert described is not None, f"{response.status_code} not documented for {method} {path}"
    schema = described["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    body = response.get_json()
    validator.validate(body)
    return body


def image_id_by_name(library: Library, name: str) -> int:
    for hit in library.search(image=None, image_id=None, text="anything", k=MAX_RESULTS):
        if Path(hit.image.relative_path).name == name:
            return hit.id
    raise AssertionError(f"{name} is not indexed")


def png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    make_picture(seed).save(buffer, "PNG")
    return buffer.getvalue()


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body


# Searching by text ------------------------------------------------------------------------------


def test_text_search_returns_a_page_matching_the_openapi_document(
    client: FlaskClient, indexed_library: Library
) -> None:
    response = client.get("/api/search?q=a+red+bicycle")
    body = openapi_check(client, response, "/api/search")
    assert response.status_code == 200
    assert len(body["results"]) == PAGE_SIZE
    assert body["query"] | {"mode": "hybrid", "filters": {}} == {
        "type": "text",
        "q": "a red bicycle",
        "image_id": None,
        "k": PAGE_SIZE,
        "offset": 0,
        **{
            k: body["query"][k]
            for k in (
                "order",
                "min_score",
                "collapse",
                "weaker",
                "match_probability",
                "exclude",
                "terms",
            )
        },
        "mode": "hybrid",
        "filters": {},
    }
    scores = [result["score"] for result in body["results"]]
    assert scores == sorted(scores, reverse=True)
    first = body["results"][0]
    record = indexed_library.image(first["id"])
    assert first["path"] == record.relative_path
    assert first["root"] == record.root_path
    assert not Path(first["path"]).is_absolute()
    assert first["thumbnail_url"].startswith(f"/images/{first['id']}/thumbnail")
    assert first["image_url"].startswith(f"/images/{first['id']}/original")
    assert first["similar_url"] == f"/api/images/{first['id']}/similar"
    assert body["next_cursor"] and body["next"].startswith("/api/search?")


def test_pages_follow_cursors_to_the_same_ranking_as_one_big_page(client: FlaskClient) -> None:
    everything = client.get("/api/search?q=shapes&k=100").get_json()
    total = PICTURE_COUNT + 5
    assert len(everything["results"]) == total
    assert everything["next_cursor"] is None and everything["next"] is None
    seen: list[int] = []
    url: str | None = "/api/search?q=shapes&k=7"
    while url:
        body = openapi_check(client, client.get(url), "/api/search")
        seen += [result["id"] for result in body["results"]]
        url = body["next"]
    assert seen == [result["id"] for result in everything["results"]]


def test_post_json_equals_get(client: FlaskClient) -> None:
    by_get = client.get("/api/search?q=sunset&k=4").get_json()
    response = client.post("/api/search", json={"q": "sunset", "k": 4})
    by_post = openapi_check(client, response, "/api/search", "post")
    assert [r["id"] for r in by_post["results"]] == [r["id"] for r in by_get["results"]]
    cursor = by_post["next_cursor"]
    page_two = client.post("/api/search", json={"q": "sunset", "k": 4, "cursor": cursor})
    assert page_two.get_json()["query"]["offset"] == 4


def test_results_stop_at_max_results(client: FlaskClient) -> None:
    from pixsift.web.results import SearchQuery
    from pixsift.web.schemas import SearchParams

    fingerprint = SearchQuery(params=SearchParams(q="x"), k=5).fingerprint
    near_end = encode_cursor(MAX_RESULTS - 5, fingerprint)
    body = client.get(f"/api/search?q=x&k=5&cursor={near_end}").get_json()
    assert body["results"] == [] and body["next_cursor"] is None
    past_end = encode_cursor(MAX_RESULTS, fingerprint)
    assert_error(client.get(f"/api/search?q=x&cursor={past_end}"), 400, "invalid_input")


# Searching by an indexed image and by an uploaded image ----------------------------------------


def test_more_like_this_finds_the_image_itself_first(
    client: FlaskClient, indexed_library: Library
) -> None:
    image_id = image_id_by_name(indexed_library, "picture-0003.png")
    path = f"/api/images/{image_id}/similar"
    body = openapi_check(client, client.get(path), "/api/images/{image_id}/similar")
    assert body["results"][0]["id"] == image_id
    assert body["results"][0]["score"] == pytest.approx(1.0, abs=1e-3)
    assert body["next"].startswith(path + "?")
    second = client.get(body["next"]).get_json()
    assert second["query"]["offset"] == PAGE_SIZE
    by_param = client.get(f"/api/search?image_id={image_id}").get_json()
    assert [r["id"] for r in by_param["results"]] == [r["id"] for r in body["results"]]
    by_json = client.post("/api/search", json={"image_id": image_id}).get_json()
    assert by_json["results"] == body["results"]


def test_upload_search_finds_the_same_picture(
    client: FlaskClient, indexed_library: Library, picture_root: Path
) -> None:
    image_id = image_id_by_name(indexed_library, "picture-0005.png")
    data = (picture_root / "picture-0005.png").read_bytes()
    response = client.post(
        "/api/search",
        data={"image": (io.BytesIO(data), "example.png"), "k": "3"},
        content_type="multipart/form-data",
    )
    body = openapi_check(client, response, "/api/search", "post")
    assert body["query"]["type"] == "image"
    assert body["results"][0]["id"] == image_id
    assert body["results"][0]["score"] == pytest.approx(1.0, abs=1e-3)
    # An upload has no GET "next": send the image again with the cursor.
    assert body["next"] is None and body["next_cursor"]
    again = client.post(
        "/api/search",
        data={"image": (io.BytesIO(data), "example.png"), "k": "3", "cursor": body["next_cursor"]},
        content_type="multipart/form-data",
    ).get_json()
    assert again["query"]["offset"] == 3
    assert {r["id"] for r in again["results"]}.isdisjoint(r["id"] for r in body["results"])


# Bad input: always a 4xx with one error shape --------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/api/search", 400, "invalid_input"),
        ("/api/search?q=", 400, "invalid_input"),
        ("/api/search?q=%20%20%20", 400, "invalid_input"),
        ("/api/search?q=" + "x" * 1001, 400, "invalid_input"),
        ("/api/search?q=cat&k=0", 400, "invalid_input"),
        ("/api/search?q=cat&k=101", 400, "invalid_input"),
        ("/api/search?q=cat&k=-3", 400, "invalid_input"),
        ("/api/search?q=cat&k=ten", 400, "invalid_input"),
        ("/api/search?q=cat&k=1e3", 400, "invalid_input"),
        ("/api/search?q=cat&k=99999999999999999999999", 400, "invalid_input"),
        ("/api/search?q=cat&cursor=garbage", 400, "invalid_input"),
        ("/api/search?q=cat&cursor=%00%ff", 400, "invalid_input"),
        ("/api/search?q=cat&cursor=W10", 400, "invalid_input"),  # base64 of "[]"
        ("/api/search?q=cat&cursor=" + "A" * 500, 400, "invalid_input"),
        ("/api/search?q=cat&image_id=1", 400, "invalid_input"),
        ("/api/search?image_id=abc", 400, "invalid_input"),
        ("/api/search?image_id=0", 400, "invalid_input"),
        ("/api/search?image_id=987654", 404, "not_found"),
        ("/api/images/987654", 404, "not_found"),
        ("/api/images/987654/similar", 404, "not_found"),
        ("/api/images/abc", 404, "not_found"),
        ("/api/images/-1/similar", 404, "not_found"),
        ("/api/images/1/similar?k=0", 400, "invalid_input"),
        ("/api/no-such-endpoint", 404, "not_found"),
    ],
)
def test_bad_get_requests_get_the_error_shape(
    client: FlaskClient, url: str, status: int, code: str
) -> None:
    assert_error(client.get(url), status, code)


def test_cursor_of_another_query_is_refused(client: FlaskClient) -> None:
    cursor = client.get("/api/search?q=cats&k=2").get_json()["next_cursor"]
    body = assert_error(client.get(f"/api/search?q=dogs&k=2&cursor={cursor}"), 400)
    assert "another query" in body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_json"),
        (b"[1, 2]", "application/json", 400, "invalid_json"),
        (b'{"q": "cat", "colour": "red"}', "application/json", 400, "invalid_json"),
        (b'{"q": 5}', "application/json", 400, "invalid_input"),
        (b'{"q": ""}', "application/json", 400, "invalid_input"),
        (b'{"q": "cat", "k": true}', "application/json", 400, "invalid_input"),
        (b'{"q": "cat", "k": 2.5}', "application/json", 400, "invalid_input"),
        (b'{"q": "cat", "cursor": 12}', "application/json", 400, "invalid_input"),
        (b"{}", "application/json", 400, "invalid_input"),
        (b"q=cat", "text/plain", 415, "unsupported_media_type"),
        (b"<q>cat</q>", "application/xml", 415, "unsupported_media_type"),
    ],
)
def test_bad_post_bodies_get_the_error_shape(
    client: FlaskClient, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = client.post("/api/search", data=body, content_type=content_type)
    assert_error(response, status, code)
    openapi_check(client, response, "/api/search", "post")


def test_method_not_allowed_is_json_under_api(client: FlaskClient) -> None:
    response = client.delete("/api/search")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def upload(client: FlaskClient, data: bytes, name: str = "x.png", **fields: str) -> Any:
    return client.post(
        "/api/search",
        data={"image": (io.BytesIO(data), name), **fields},
        content_type="multipart/form-data",
    )


def test_upload_that_is_not_an_image(client: FlaskClient) -> None:
    assert_error(upload(client, b"hello, world"), 400, "invalid_image")
    assert_error(upload(client, b"<svg onload=alert(1)>", "x.svg"), 400, "invalid_image")
    assert_error(upload(client, b"%!PS-Adobe-3.0 EPSF-3.0\n", "x.eps"), 400, "invalid_image")
    assert_error(upload(client, png_bytes(1)[:60]), 400, "invalid_image")  # truncated
    assert_error(upload(client, b""), 400)


def test_upload_and_image_id_together_is_refused(client: FlaskClient) -> None:
    assert_error(upload(client, png_bytes(1), image_id="1"), 400, "invalid_input")


def test_upload_with_a_garbage_cursor(client: FlaskClient) -> None:
    assert_error(upload(client, png_bytes(1), cursor="nonsense"), 400, "invalid_input")


def test_upload_over_the_size_limit_is_413(indexed_library: Library) -> None:
    app = create_app({"TESTING": True, "LIBRARY": indexed_library, "MAX_CONTENT_LENGTH": 50_000})
    client = app.test_client()
    response = upload(client, b"\x89PNG" + b"\0" * 100_000)
    assert_error(response, 413, "request_entity_too_large")
    openapi_check(client, response, "/api/search", "post")


def test_decompression_bomb_upload_is_413(client: FlaskClient) -> None:
    buffer = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buffer, "PNG")  # 144 megapixels in a few kilobytes
    assert len(buffer.getvalue()) < 100_000
    body = assert_error(upload(client, buffer.getvalue()), 413, "request_entity_too_large")
    assert "decompression bomb" in body["error"]["message"]


def test_unexpected_failure_is_a_json_500_without_details(
    client: FlaskClient, indexed_library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(indexed_library, "find", explode)
    response = client.get("/api/search?q=boom")
    body = assert_error(response, 500, "internal_error")
    assert "secret" not in body["error"]["message"]
    page = client.get("/?q=boom")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert b"secret" not in page.data and b"Something went wrong" in page.data


# Metadata, stats, health, OpenAPI ---------------------------------------------------------------


def test_image_metadata(client: FlaskClient, indexed_library: Library) -> None:
    image_id = image_id_by_name(indexed_library, "picture-0001.png")
    body = openapi_check(client, client.get(f"/api/images/{image_id}"), "/api/images/{image_id}")
    record = indexed_library.image(image_id)
    assert body["id"] == image_id
    assert body["path"] == "picture-0001.png"
    assert body["width"] == record.width and body["content_hash"] == record.content_hash


def test_stats_and_health(
    client: FlaskClient, indexed_library: Library, picture_root: Path
) -> None:
    stats = openapi_check(client, client.get("/api/stats"), "/api/stats")
    assert stats["image_count"] == PICTURE_COUNT + 5
    assert stats["roots"] == [str(picture_root.resolve())]
    assert stats["model"] and stats["last_indexed_at"]
    health = openapi_check(client, client.get("/api/health"), "/api/health")
    assert health == {"status": "ok"}


def test_openapi_document_describes_every_api_route(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("api.", "images.")):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method.lower()) in described, f"{method} {path} undocumented"
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


# Images: by id only, cached thumbnails, ETags --------------------------------------------------


def test_thumbnail_is_made_once_cached_and_revalidated(
    client: FlaskClient, indexed_library: Library
) -> None:
    image_id = image_id_by_name(indexed_library, "picture-0002.png")
    url = client.get(f"/api/images/{image_id}").get_json()["thumbnail_url"]
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype in ("image/webp", "image/jpeg")
    with Image.open(io.BytesIO(response.data)) as thumbnail:
        assert max(thumbnail.size) <= 256
    assert "immutable" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    # Made once, by pixsift index, and named by the picture's content (a copy shares it).
    digest = indexed_library.image(image_id).content_hash
    cached = list((indexed_library.directory / "thumbnails").rglob(f"{digest}-256.*"))
    assert len(cached) == 1 and cached[0].read_bytes() == response.data
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    without_version = client.get(f"/images/{image_id}/thumbnail")
    assert "no-cache" in without_version.headers["Cache-Control"]
    assert without_version.headers["ETag"] == etag


def test_original_is_served_by_id_with_etag(
    client: FlaskClient, indexed_library: Library, picture_root: Path
) -> None:
    image_id = image_id_by_name(indexed_library, "picture-0004.png")
    response = client.get(f"/images/{image_id}/original")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data == (picture_root / "picture-0004.png").read_bytes()
    record = indexed_library.image(image_id)
    assert response.headers["ETag"] == f'"{record.content_hash}"'
    assert (
        client.get(
            f"/images/{image_id}/original", headers={"If-None-Match": response.headers["ETag"]}
        ).status_code
        == 304
    )


@pytest.mark.parametrize(
    "path",
    [
        "/images/..%2F..%2Fetc%2Fpasswd/original",
        "/images/../../etc/passwd/original",
        "/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd/thumbnail",
        "/images/abc/original",
        "/images/1.5/thumbnail",
        "/images/-1/original",
        "/images/0x1/original",
        "/images/987654/original",
        "/images/987654/thumbnail",
        "/images/1/original/../../../../etc/passwd",
        "/images//etc/passwd",
        "/static/../pyproject.toml",
        "/static/..%2F..%2Fpyproject.toml",
    ],
)
def test_image_routes_refuse_anything_but_an_indexed_id(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"root:" not in response.data and b"[project]" not in response.data


def test_changed_or_vanished_file_is_404_not_a_500(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    folder = tmp_path / "few"
    paths = write_pictures(folder, 2)
    with Library.open(tmp_path / "library", embedder=tiny_embedder) as library:
        index_folders(library, tiny_embedder, folder)
        client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
        ids = {Path(hit.path).name: hit.id for hit in library.search("x", k=10)}
        make_picture(77).save(paths[0])
        paths[1].unlink()
        for path in paths:
            for kind in ("original", "thumbnail"):
                response = client.get(f"/images/{ids[path.name]}/{kind}")
                assert response.status_code == 404
                assert b"pixsift index" in response.data


# The search page ---------------------------------------------------------------------------------


def test_home_page_has_a_search_box(client: FlaskClient) -> None:
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="q"' in html and 'type="file"' in html
    assert f"Search {PICTURE_COUNT + 5} pictures" in html
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_results_page_renders_lazy_thumbnails_and_links(client: FlaskClient) -> None:
    html = client.get("/?q=a+blue+square").get_data(as_text=True)
    assert html.count('loading="lazy"') >= PAGE_SIZE
    assert html.count("More like this") >= PAGE_SIZE
    assert "/?image_id=" in html
    assert 'id="more"' in html and 'data-next="/api/search?' in html
    assert 'value="a blue square"' in html
    json_ids = [r["id"] for r in client.get("/api/search?q=a+blue+square").get_json()["results"]]
    page_ids = [int(i) for i in re.findall(r'<li class="card" data-id="(\d+)"', html)]
    assert page_ids == json_ids  # the page and the API render the same data


def test_more_results_link_works_without_javascript(client: FlaskClient) -> None:
    html = client.get("/?q=boats").get_data(as_text=True)
    more = re.search(r'<a class="more" id="more" href="([^"]+)"', html).group(1)
    second = client.get(more.replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('class="card" data-id=') == PAGE_SIZE


def test_more_like_this_page(client: FlaskClient, indexed_library: Library) -> None:
    image_id = image_id_by_name(indexed_library, "picture-0006.png")
    html = client.get(f"/?image_id={image_id}").get_data(as_text=True)
    assert "Pictures like" in html and "picture-0006.png" in html
    assert re.findall(r'data-id="(\d+)"', html)[0] == str(image_id)


def test_upload_form_without_javascript(client: FlaskClient, picture_root: Path) -> None:
    data = (picture_root / "picture-0007.png").read_bytes()
    response = client.post(
        "/", data={"image": (io.BytesIO(data), "mine.png")}, content_type="multipart/form-data"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Pictures like your image" in html
    assert "picture-0007.png" in html


def test_image_page_shows_metadata(client: FlaskClient, indexed_library: Library) -> None:
    image_id = image_id_by_name(indexed_library, "picture-0008.png")
    html = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "picture-0008.png" in html and "96 \u00d7 72 PNG" in html
    assert f"/images/{image_id}/original" in html and "More like this" in html


def test_page_errors_are_html(client: FlaskClient) -> None:
    for url, status in [("/?q=cat&k=abc", 400), ("/images/987654", 404), ("/nowhere", 404)]:
        response = client.get(url)
        assert response.status_code == status and response.mimetype == "text/html"
        assert 'id="error"' in response.get_data(as_text=True)


def test_no_results_state(client: FlaskClient) -> None:
    from pixsift.web.results import SearchQuery
    from pixsift.web.schemas import SearchParams

    cursor = encode_cursor(
        PICTURE_COUNT + 5, SearchQuery(params=SearchParams(q="x"), k=5).fingerprint
    )
    html = client.get(f"/?q=x&cursor={cursor}").get_data(as_text=True)
    assert 'id="no-results"' in html


def test_empty_library_explains_how_to_index(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    with Library.open(tmp_path / "empty", embedder=tiny_embedder) as library:
        client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
        html = client.get("/").get_data(as_text=True)
        assert "pixsift index" in html and 'id="empty-library"' in html
        assert "pixsift index" in client.get("/?q=cats").get_data(as_text=True)
        body = client.get("/api/search?q=cats").get_json()
        assert body["results"] == [] and body["next_cursor"] is None
        assert client.get("/api/stats").get_json()["image_count"] == 0


# Hostile names are escaped everywhere -----------------------------------------------------------


def test_file_and_folder_names_with_html_are_escaped(
    client: FlaskClient, indexed_library: Library
) -> None:
    for name, path in [(HOSTILE_NAME, HOSTILE_NAME), ("script>.png", HOSTILE_PATH)]:
        image_id = image_id_by_name(indexed_library, name)
        pages = {
            "detail": client.get(f"/images/{image_id}").get_data(as_text=True),
            "like": client.get(f"/?image_id={image_id}").get_data(as_text=True),
            "results": client.get("/?q=x&k=100").get_data(as_text=True),
        }
        assert str(escape(path)) in pages["detail"]
        assert str(escape(name)) in pages["like"] and str(escape(name)) in pages["results"]
        for html in pages.values():
            assert "<script>alert" not in html and "<img src=x" not in html
            assert "<b>dir</b>" not in html
        body = client.get(f"/api/images/{image_id}").get_json()
        assert body["name"] == name and body["path"] == path  # JSON carries the real name
        response = client.get(f"/api/images/{image_id}")
        assert response.mimetype == "application/json"  # never sniffed as HTML:
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_query_text_is_escaped(client: FlaskClient) -> None:
    html = client.get("/?q=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E").get_data(as_text=True)
    assert "<img src=x onerror" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_javascript_never_writes_html() -> None:
    script = (Path(__file__).parent.parent / "web" / "static" / "app.js").read_text()
    assert "innerHTML" not in script and "outerHTML" not in script
    assert "insertAdjacentHTML" not in script and "document.write" not in script


# A live index: new pictures show up without a restart --------------------------------------------


def test_search_sees_pictures_indexed_after_the_app_started(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_pictures(first, 3)
    write_pictures(second, 2, first_seed=300)
    with Library.open(tmp_path / "library", embedder=tiny_embedder) as served:
        index_folders(served, tiny_embedder, first)
        client = create_app({"TESTING": True, "LIBRARY": served}).test_client()
        assert len(client.get("/api/search?q=x&k=50").get_json()["results"]) == 3
        # Another process indexes into the same library directory.
        with Library.open(tmp_path / "library", embedder=tiny_embedder) as other:
            index_folders(other, tiny_embedder, second)
        results = client.get("/api/search?q=x&k=50").get_json()["results"]
        assert len(results) == 5
        new_id = next(r["id"] for r in results if r["name"] == "picture-0300.png")
        assert client.get(f"/api/images/{new_id}/similar").get_json()["results"][0]["id"] == new_id
        assert client.get("/api/stats").get_json()["image_count"] == 5
        # And removals: a folder emptied and re-indexed disappears from results.
        shutil.rmtree(second)
        second.mkdir()
        with Library.open(tmp_path / "library", embedder=tiny_embedder) as other:
            index_folders(other, tiny_embedder, first, second)
        assert len(client.get("/api/search?q=x&k=50").get_json()["results"]) == 3


def test_trusted_hosts_refuse_a_foreign_host_header(indexed_library: Library) -> None:
    from pixsift.cli.serve import trusted_host_names

    hosts = trusted_host_names(None, "127.0.0.1")
    assert hosts == ["127.0.0.1", "localhost"]
    assert trusted_host_names(None, "0.0.0.0") is None
    assert trusted_host_names("a.example, b.example", "127.0.0.1") == ["a.example", "b.example"]
    client = create_app({"LIBRARY": indexed_library, "TRUSTED_HOSTS": hosts}).test_client()
    assert client.get("/api/health", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    assert client.get("/api/health", headers={"Host": "localhost:8000"}).status_code == 200
    assert_error(client.get("/api/health", headers={"Host": "rebound.example:8000"}), 400)


# The serve command -------------------------------------------------------------------------------


def test_serve_command_help_and_bad_options(runner: FlaskCliRunner) -> None:
    from pixsift.cli.serve import serve_command

    result = runner.invoke(serve_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--workers", "--dev", "--library", "--model"):
        assert option in result.output
    assert "127.0.0.1" in result.output
    assert runner.invoke(serve_command, ["--port", "0"]).exit_code == 2
    assert runner.invoke(serve_command, ["--workers", "many"]).exit_code == 2
