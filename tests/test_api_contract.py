"""The one contract at the edges: hostile values refused with a 4xx in the error shape (never a
500), the OpenAPI document saying what the server does, the CLI's filter options made from the
same model, and glob filters with character classes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DatabaseFactory, make_picture
from flask import Flask
from flask.testing import FlaskClient
from test_web import assert_error, index_folders

from pixsift.cli.main import main
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.query.filters import filtered_image_ids
from pixsift.search.query.request import QueryTerm, SearchFilters, SearchRequest
from pixsift.web import create_app


@pytest.fixture(scope="module")
def library(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    new_database_url: DatabaseFactory,
) -> Iterator[Library]:
    folder = tmp_path_factory.mktemp("contract-pictures")
    for seed, name in enumerate(["[+]1.png", "+1.png", "x-ray.png", "apple.png", "a%b_c.png"]):
        make_picture(seed).save(folder / name)
    library = Library.open(
        tmp_path_factory.mktemp("contract-library"),
        database_url=new_database_url(),
        embedder=tiny_embedder,
    )
    index_folders(library, tiny_embedder, folder)
    yield library
    library.close()


@pytest.fixture
def app(library: Library) -> Flask:
    return create_app({"TESTING": True, "LIBRARY": library, "PAGE_SIZE": 10})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.mark.parametrize(
    "url",
    [
        "/api/search?q=cat&after=0001-01-01",
        "/api/search?q=cat&before=3000-01-01",
        "/api/search?q=cat&before=2024-02-30",
        "/api/search?q=cat&min_megapixels=1e300",
        "/api/search?q=cat&max_megapixels=1.07e308",
        "/api/search?q=cat&max_megapixels=",
        "/api/search?q=cat&min_width=9223372036854775808",
        "/api/search?q=cat&min_size=9223372036854775808",
        "/api/search?q=cat&after=2024-06-01T00:00:00%2B00:00&before=2024-01-01",
        "/api/search?image_id=9223372036854775808",
        "/api/search?image_id=abc",
        "/api/search?q=cat&gps_box=1e3,0,0,0",
        "/api/search?q=cat&format=JP%20EG",
        "/api/search?q=cat&folder=a&folder=b",
    ],
)
def test_hostile_query_values_are_400s(client: FlaskClient, url: str) -> None:
    assert_error(client.get(url), 400, "invalid_input")


def test_aware_and_naive_dates_mix(client: FlaskClient) -> None:
    response = client.get("/api/search?q=cat&after=2024-01-01T00:00:00%2B00:00&before=2024-12-31")
    assert response.status_code == 200
    assert response.get_json()["query"]["filters"] == {
        "after": "2024-01-01T00:00:00",
        "before": "2024-12-31T23:59:59.999999",
    }


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"image_id": 9223372036854775808}', "invalid_input"),
        (b'{"q": "cat", "terms": [{"image_id": 9223372036854775808}]}', "invalid_input"),
        (b'{"q": "\\ud800"}', "invalid_input"),
        (b'{"q": "cat", "k": "5"}', "invalid_input"),
        (b'{"q": "cat", "min_width": 1e300}', "invalid_input"),
        (b'{"q": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "request_entity_too_large"),
        (b'{"q": "cat", "terms": ' + b"[" * 20 + b"]" * 20 + b"}", "invalid_json"),
        (b'{"q": "c\xff"}', "invalid_json"),
    ],
)
def test_hostile_json_bodies_are_4xx(client: FlaskClient, body: bytes, code: str) -> None:
    response = client.post("/api/search", data=body, content_type="application/json")
    assert response.status_code in (400, 413)
    assert_error(response, response.status_code, code)


def test_ids_past_int64_in_paths_are_json_404s(client: FlaskClient) -> None:
    for path in ("/api/images/9223372036854775808", "/api/images/9223372036854775808/similar",
                 "/images/9223372036854775808/original", "/images/99999/thumbnail"):  # fmt: skip
        assert_error(client.get(path), 404, "not_found")


def test_untrusted_host_is_a_4xx_on_every_path(library: Library) -> None:
    client = create_app({"LIBRARY": library, "TRUSTED_HOSTS": ["localhost"]}).test_client()
    for path in ("/", "/nowhere", "/duplicates", "/images/1", "/static/app.js"):
        response = client.get(path, headers={"Host": "rebound.example"})
        assert response.status_code == 400 and response.mimetype == "text/html", path
    assert_error(client.get("/api/stats", headers={"Host": "rebound.example"}), 400)


def test_glob_character_classes_match(library: Library) -> None:
    def names(pattern: str) -> set[str]:
        ids = filtered_image_ids(library.store.engine, SearchFilters(path=pattern)).tolist()
        return {Path(record.relative_path).name for record in library.images(ids).values()}

    assert names("[+]1.png") == {"+1.png"}
    assert names("[[]+]1.png") == {"[+]1.png"}
    assert names("[!x]*") == {"[+]1.png", "+1.png", "apple.png", "a%b_c.png"}
    assert names("a%b_c.*") == {"a%b_c.png"}  # LIKE's wildcards are literal in a glob
    assert names("a?b?c.png") == {"a%b_c.png"}


def test_openapi_document_says_what_the_server_does(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    parameters = {p["name"]: p for p in document["paths"]["/api/search"]["get"]["parameters"]}
    assert parameters["q"]["schema"]["minLength"] == 1
    assert parameters["gps_box"]["schema"]["pattern"]
    assert parameters["max_megapixels"]["schema"] == {
        "type": "number", "minimum": 0, "maximum": 1e6,
    } | {k: v for k, v in parameters["max_megapixels"]["schema"].items() if k not in ("type", "minimum", "maximum")}  # fmt: skip
    assert parameters["image_id"]["schema"]["type"] == "integer"
    assert parameters["image_id"]["schema"]["maximum"] == 2**63 - 1
    hit = document["components"]["schemas"]["HitOut"]["properties"]["score"]
    assert "fused" in hit["description"] and "cosine" in hit["description"]
    for path in ("/images/{image_id}/original", "/images/{image_id}/thumbnail"):
        answer = document["paths"][path]["get"]["responses"]["404"]
        assert "application/json" in answer["content"]
    assert_error(client.get("/api/search?q=cat&image_id=x"), 400)


def test_page_date_pickers_are_bounded(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert 'min="1900-01-01"' in html and 'max="2200-12-31"' in html
    response = client.get("/?q=cat&after=0001-01-01")
    assert response.status_code == 400 and response.mimetype == "text/html"


def test_cli_filter_options_come_from_the_model(library: Library, tiny_spec: ModelSpec) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["search", "--help"])
    for name in SearchFilters.model_fields:
        assert "--" + name.replace("_", "-") in result.output
    url = library.store.engine.url.render_as_string(hide_password=False)
    base = ["search", "x", "--library", str(library.directory), "--database-url", url, "--model", tiny_spec.model_name,
            "--pretrained", tiny_spec.pretrained]  # fmt: skip
    for bad in (["--after", "0001-01-01"], ["--before", "3000-01-01"], ["--like", str(2**63)],
                ["--min-width", "10", "--max-width", "5"], ["--gps-box", "1,2,3"]):  # fmt: skip
        result = runner.invoke(main, base + bad)
        assert result.exit_code == 1, (bad, result.output)
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    result = runner.invoke(main, [*base, "--path", "[+]1.png", "--json"])
    assert result.exit_code == 0, result.output
    assert [Path(hit["relative_path"]).name for hit in json.loads(result.stdout)] == ["+1.png"]


def test_library_requests_refuse_what_the_store_cannot_hold() -> None:
    from pixsift.search.errors import InvalidInputError

    with pytest.raises(InvalidInputError):
        SearchRequest((QueryTerm(image_id=2**63),))
    with pytest.raises(InvalidInputError):
        SearchRequest((QueryTerm(text="cat"),), k=10**6)
