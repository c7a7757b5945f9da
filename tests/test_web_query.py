"""Query power through the web: filters, modes, weighted terms, CSV export, near-duplicates and
the error shape for bad options. Indexed once per module with the tiny random-weights model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DatabaseFactory, make_picture, write_pictures
from flask import Flask
from flask.testing import FlaskClient
from test_web import assert_error, index_folders, openapi_check

from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.web import create_app

PAGE_SIZE = 4


@pytest.fixture(scope="module")
def query_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("query-pictures")
    write_pictures(folder, 16)
    write_pictures(folder / "trips", 7, first_seed=300, suffix=".jpg")
    make_picture(600).save(folder / "zebrafinch.png")
    make_picture(601).save(folder / "=cmd.png")
    twin = make_picture(700, size=(320, 240))
    twin.save(folder / "twin-a.png")
    twin.save(folder / "twin-b.jpg", quality=60)
    twin.resize((280, 210)).save(folder / "twin-c.png")
    return folder


@pytest.fixture(scope="module")
def library(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    query_root: Path,
    new_database_url: DatabaseFactory,
) -> Iterator[Library]:
    library = Library.open(
        tmp_path_factory.mktemp("query-library"),
        database_url=new_database_url(),
        embedder=tiny_embedder,
    )
    index_folders(library, tiny_embedder, query_root)
    yield library
    library.close()


@pytest.fixture
def app(library: Library) -> Flask:
    return create_app({"TESTING": True, "LIBRARY": library, "PAGE_SIZE": PAGE_SIZE})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def ids(body: dict) -> list[int]:
    return [result["id"] for result in body["results"]]


def test_filtered_query_fills_k_with_matching_images(client: FlaskClient) -> None:
    response = client.get("/api/search?q=shapes&folder=trips&format=JPEG&k=5")
    body = openapi_check(client, response, "/api/search")
    assert len(body["results"]) == 5
    assert all(r["path"].startswith("trips/") and r["format"] == "JPEG" for r in body["results"])
    assert body["query"]["filters"] == {"folder": "trips", "format": ["JPEG"]}
    first = body["results"][0]
    assert first["similarity"] is not None and first["date_source"] in ("taken", "file")


def test_pagination_with_a_filter_has_no_repeats(client: FlaskClient) -> None:
    seen: list[int] = []
    url: str | None = "/api/search?q=boats&folder=trips&k=2&mode=semantic"
    while url:
        body = openapi_check(client, client.get(url), "/api/search")
        assert "folder=trips" in (body["next"] or "folder=trips")
        seen += ids(body)
        url = body["next"]
    assert len(seen) == 7 == len(set(seen))


def test_negative_image_term_moves_that_image_down(client: FlaskClient) -> None:
    plain = client.post("/api/search", json={"q": "a photo", "k": 40, "mode": "semantic"})
    ranking = ids(plain.get_json())
    target = ranking[0]
    terms = [{"image_id": target, "weight": -1}]
    response = client.post(
        "/api/search", json={"q": "a photo", "k": 40, "mode": "semantic", "terms": terms}
    )
    body = openapi_check(client, response, "/api/search", "post")
    assert body["query"]["type"] == "combined"
    assert ids(body).index(target) > ranking.index(target)


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_word_in_a_file_name_is_found(client: FlaskClient, mode: str) -> None:
    body = client.get(f"/api/search?q=zebrafinch&mode={mode}").get_json()
    assert body["results"][0]["name"] == "zebrafinch.png"
    assert body["query"]["mode"] == mode


def test_csv_export_neutralises_formulas(client: FlaskClient) -> None:
    response = client.get("/api/search.csv?q=cmd&k=50&mode=keyword")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="pixsift-results.csv"' in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert "'=cmd.png" in text
    assert ",=cmd.png" not in text


def test_duplicates_endpoint_and_page(client: FlaskClient) -> None:
    response = client.get("/api/duplicates?threshold=0.999")
    body = openapi_check(client, response, "/api/duplicates")
    groups = [sorted(image["name"] for image in group["images"]) for group in body["groups"]]
    assert ["twin-a.png", "twin-b.jpg", "twin-c.png"] in groups
    html = client.get("/duplicates?threshold=0.999").get_data(as_text=True)
    assert "twin-b.jpg" in html and "Near-duplicates" in html


def test_page_keeps_options_and_offers_a_csv_link(client: FlaskClient) -> None:
    html = client.get("/?q=shapes&folder=trips&mode=semantic&collapse=true").get_data(as_text=True)
    assert "Download results (CSV)" in html and "/api/search.csv?" in html
    assert 'name="exclude"' in html and 'value="trips"' in html
    assert html.count('class="card" data-id=') == PAGE_SIZE


def test_upload_with_text_is_combined(client: FlaskClient, query_root: Path) -> None:
    import io

    data = (query_root / "picture-0003.png").read_bytes()
    response = client.post(
        "/api/search",
        data={"image": (io.BytesIO(data), "x.png"), "q": "at night", "mode": "semantic"},
        content_type="multipart/form-data",
    )
    body = openapi_check(client, response, "/api/search", "post")
    assert body["query"]["type"] == "combined" and len(body["results"]) == PAGE_SIZE


@pytest.mark.parametrize(
    "url",
    [
        "/api/search?q=cat&mode=fuzzy",
        "/api/search?q=cat&order=size",
        "/api/search?q=cat&orientation=diagonal",
        "/api/search?q=cat&min_score=2",
        "/api/search?q=cat&min_score=nan",
        "/api/search?q=cat&after=yesterday",
        "/api/search?q=cat&before=2024-13-45",
        "/api/search?q=cat&gps_box=1,2,3",
        "/api/search?q=cat&gps_box=10,0,5,0",
        "/api/search?q=cat&has_gps=maybe",
        "/api/search?q=cat&min_width=-1",
        "/api/search?q=cat&min_width=10&max_width=5",
        "/api/search?q=cat&min_megapixels=abc",
        "/api/search.csv?q=cat&mode=fuzzy",
        "/api/duplicates?threshold=0",
        "/api/duplicates?threshold=1.5",
        "/api/duplicates?threshold=x",
    ],
)
def test_bad_options_get_the_error_shape(client: FlaskClient, url: str) -> None:
    assert_error(client.get(url), 400, "invalid_input")


@pytest.mark.parametrize(
    "body",
    [
        {"q": "cat", "terms": "dog"},
        {"q": "cat", "terms": [{"text": "dog", "image_id": 1}]},
        {"q": "cat", "terms": [{"text": "dog", "weight": 0}]},
        {"q": "cat", "terms": [{"text": "dog", "weight": "x"}]},
        {"terms": [{"text": "dog", "weight": -1}]},
        {"q": "cat", "format": [1]},
        {"q": "cat", "collapse": "sometimes"},
    ],
)
def test_bad_json_options_get_the_error_shape(client: FlaskClient, body: dict) -> None:
    assert_error(client.post("/api/search", json=body), 400, "invalid_input")


def test_cursor_is_tied_to_the_filters(client: FlaskClient) -> None:
    cursor = client.get("/api/search?q=cats&k=2&folder=trips").get_json()["next_cursor"]
    assert_error(client.get(f"/api/search?q=cats&k=2&cursor={cursor}"), 400, "invalid_input")
