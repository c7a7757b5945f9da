"""Caching of originals and thumbnails: a versioned URL (carrying the content hash, as the API
hands out) is cached for a year without revalidation; any other URL is revalidated by ETag."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_pictures
from flask.testing import FlaskClient

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.web import create_app

#: Each image route, and the field of /api/images/<id> that gives its versioned URL.
ROUTES = {"original": "image_url", "thumbnail": "thumbnail_url"}


@pytest.fixture(scope="module")
def one_picture_library(
    tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder
) -> Iterator[Library]:
    folder = tmp_path_factory.mktemp("cache-pictures")
    write_pictures(folder, 1)
    library = Library.open(tmp_path_factory.mktemp("cache-library"), embedder=tiny_embedder)
    Indexer(library, tiny_embedder, IndexingOptions(workers=1, show_progress=False)).index(
        [Path(folder)]
    )
    yield library
    library.close()


@pytest.fixture
def client(one_picture_library: Library) -> FlaskClient:
    return create_app({"TESTING": True, "LIBRARY": one_picture_library}).test_client()


@pytest.fixture
def image_id(one_picture_library: Library) -> int:
    return one_picture_library.search("anything", k=1)[0].id


def directives(header: str) -> set[str]:
    return {part.strip() for part in header.split(",")}


@pytest.mark.parametrize("route", ROUTES)
def test_versioned_urls_are_cached_for_a_year_without_revalidation(
    client: FlaskClient, image_id: int, route: str
) -> None:
    url = client.get(f"/api/images/{image_id}").get_json()[ROUTES[route]]
    assert url.startswith(f"/images/{image_id}/{route}?v=")
    response = client.get(url)
    assert response.status_code == 200
    assert directives(response.headers["Cache-Control"]) == {
        "public",
        "max-age=31536000",
        "immutable",
    }


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("query", ["", "?v=0123456789abcdef"])
def test_unversioned_or_stale_urls_revalidate_with_etag(
    client: FlaskClient, image_id: int, route: str, query: str
) -> None:
    response = client.get(f"/images/{image_id}/{route}{query}")
    assert response.status_code == 200
    assert directives(response.headers["Cache-Control"]) == {"no-cache"}
    etag = response.headers["ETag"]
    again = client.get(f"/images/{image_id}/{route}{query}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    assert directives(again.headers["Cache-Control"]) == {"no-cache"}
