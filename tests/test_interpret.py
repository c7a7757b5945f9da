"""Queries that understand where and when: the words read as place and date filters, shown as an
interpretation that can be undone, and the searches they run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import pytest
from conftest import DatabaseFactory
from exif_samples import write_photo

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.interpret import interpret
from pixsift.search.query.request import QueryTerm, SearchFilters, SearchRequest
from pixsift.web import create_app

KNOWN = {"lisbon": "Lisbon", "portugal": "Portugal", "new york city": "New York City"}
TODAY = date(2026, 12, 5)


def read(text: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    reading = interpret(text, KNOWN, TODAY)
    parts = [(p.kind, p.words, {k: str(v) for k, v in p.filters.items()}) for p in reading.parts]
    return reading.text, parts


def whole(first: str, last: str) -> dict[str, str]:
    return {"after": f"{first} 00:00:00", "before": f"{last} 23:59:59.999999"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("beach in Lisbon 2019", ("beach", [
            ("place", "in Lisbon", {"place": "Lisbon"}),
            ("date", "2019", whole("2019-01-01", "2019-12-31"))])),
        ("snow last winter", ("snow", [
            ("date", "last winter", whole("2025-12-01", "2026-02-28"))])),
        ("birthday in March", ("birthday", [("month", "in March", {"month": "3"})])),
        ("sunset in new york city summer 2021", ("sunset", [
            ("place", "in new york city", {"place": "New York City"}),
            ("date", "summer 2021", whole("2021-06-01", "2021-08-31"))])),
        ("kids at the beach last year", ("kids at the beach", [
            ("date", "last year", whole("2025-01-01", "2025-12-31"))])),
        ("fireworks February 2024", ("fireworks", [
            ("date", "February 2024", whole("2024-02-01", "2024-02-29"))])),
        # Not dates or places: "may" alone is a word, Atlantis is not a place of this library.
        ("may flowers in Atlantis", ("may flowers in Atlantis", [])),
        ("IMG_2019 scan", ("IMG_2019 scan", [])),
    ],
)  # fmt: skip
def test_where_and_when_are_read_from_the_words(
    text: str, expected: tuple[str, list[tuple[str, str, dict[str, str]]]]
) -> None:
    assert read(text) == expected


def test_last_winter_in_january_is_the_winter_before() -> None:
    reading = interpret("snow last winter", {}, date(2026, 1, 15))
    assert reading.parts[0].filters["after"] == datetime(2024, 12, 1)
    reading = interpret("snow this winter", {}, date(2026, 1, 15))
    assert reading.parts[0].filters["after"] == datetime(2025, 12, 1)


@pytest.fixture(scope="module")
def trips(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    new_database_url: DatabaseFactory,
) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("when-where") / "Trips"
    lisbon, paris = (38.7107, -9.1365), (48.8584, 2.2945)
    photos = [
        ("lisbon-2019-a.jpg", datetime(2019, 7, 1, 12), lisbon),
        ("lisbon-2019-b.jpg", datetime(2019, 3, 9, 12), lisbon),
        ("lisbon-2021.jpg", datetime(2021, 7, 1, 12), lisbon),
        ("paris-2019.jpg", datetime(2019, 7, 2, 12), paris),
        ("paris-2020-march.jpg", datetime(2020, 3, 14, 12), paris),
    ]
    for seed, (name, taken, position) in enumerate(photos):
        write_photo(root / name, seed, taken=taken, position=position)
    library = Library.open(
        tmp_path_factory.mktemp("when-where-library"),
        database_url=new_database_url(),
        embedder=tiny_embedder,
    )
    Indexer(library, tiny_embedder, IndexingOptions(batch_size=4, show_progress=False)).index(
        [root]
    )
    yield library
    library.close()


def test_a_search_applies_its_interpretation_and_can_undo_it(trips: Library) -> None:
    def run(text: str, **options: object) -> tuple[list[str], object]:
        page = trips.find(SearchRequest((QueryTerm(text=text),), k=20, **options))
        return sorted(hit.image.name for hit in page.hits), page.interpretation

    names, reading = run("beach in Lisbon 2019")
    assert names == ["lisbon-2019-a.jpg", "lisbon-2019-b.jpg"]
    assert reading.text == "beach" and [p.kind for p in reading.parts] == ["place", "date"]
    names, reading = run("anything in March")
    assert names == ["lisbon-2019-b.jpg", "paris-2020-march.jpg"]
    literal, reading = run("beach in Lisbon 2019", interpret=False)
    assert len(literal) == 5 and reading is None
    # A filter the request sets itself wins: its words stay in the text.
    page = trips.find(
        SearchRequest(
            (QueryTerm(text="beach in Lisbon 2019"),), filters=SearchFilters(place="Paris"), k=20
        )
    )
    assert sorted(hit.image.name for hit in page.hits) == ["paris-2019.jpg"]
    assert page.interpretation.text == "beach in Lisbon"


def test_the_api_returns_the_interpretation(trips: Library) -> None:
    client = create_app({"TESTING": True, "LIBRARY": trips}).test_client()
    answer = client.get("/api/search?q=sunset+in+Paris+2020&k=20").get_json()
    assert [hit["name"] for hit in answer["results"]] == ["paris-2020-march.jpg"]
    assert answer["interpretation"]["text"] == "sunset"
    assert answer["interpretation"]["parts"][0] == {
        "kind": "place", "words": "in Paris", "filters": {"place": "Paris"},
    }  # fmt: skip
    undone = client.get("/api/search?q=sunset+in+Paris+2020&k=20&interpret=false").get_json()
    assert undone["interpretation"] is None and len(undone["results"]) == 5
    page = client.get("/?q=sunset+in+Paris+2020")
    assert 'class="chip interpreted"' in page.text and "interpret=false" in page.text
