"""Places: GPS positions named offline at index time (city, region, country), kept in the
image's record, found by the place filter and by keyword search, hidden with GPS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import DatabaseFactory
from exif_samples import write_photo

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.places import Place, places_of
from pixsift.search.query.request import QueryTerm, SearchFilters, SearchRequest
from pixsift.search.visibility import Visibility, visible_record

#: Positions on four continents and at sea, with the place a person would name.
KNOWN = {
    (38.7107, -9.1365): Place("Lisbon", "Lisbon", "Portugal"),
    (48.8584, 2.2945): Place("Paris", "Île-de-France", "France"),
    (40.7580, -73.9855): Place("New York City", "New York", "United States"),
    (35.6586, 139.7454): Place("Tokyo", "Tokyo", "Japan"),
    (-33.8568, 151.2153): Place("Sydney", "New South Wales", "Australia"),
    (-1.2921, 36.8219): Place("Nairobi", "Nairobi County", "Kenya"),
    (-22.9519, -43.2105): Place("Rio de Janeiro", "Rio de Janeiro", "Brazil"),
}


def test_positions_on_several_continents_get_the_place_a_person_names() -> None:
    positions = [*KNOWN, (0.0, -30.0)]
    found = places_of(positions)
    assert dict(zip(KNOWN, found[:-1], strict=True)) == KNOWN
    assert found[-1] is None  # mid-Atlantic: no town near enough, no wrong name


def placed_library(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: OpenClipEmbedder,
    database_url: str,
    name: str,
) -> Library:
    """Three photos taken in Lisbon, three in Tokyo and one without GPS, indexed."""
    root = tmp_path_factory.mktemp(name) / "Trips"
    spots = {"lisbon": (38.7107, -9.1365), "tokyo": (35.6586, 139.7454)}
    for number in range(6):
        where = spots["lisbon"] if number < 3 else spots["tokyo"]
        write_photo(root / f"trip-{number}.jpg", number, taken=datetime(2019, 6, 1), position=where)
    write_photo(root / "no-gps.jpg", 9, taken=datetime(2019, 6, 2))
    library = Library.open(
        tmp_path_factory.mktemp(f"{name}-library"), database_url=database_url, embedder=embedder
    )
    Indexer(library, embedder, IndexingOptions(batch_size=4, show_progress=False)).index([root])
    return library


@pytest.fixture(scope="module")
def placed(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    new_database_url: DatabaseFactory,
) -> Iterator[Library]:
    library = placed_library(tmp_path_factory, tiny_embedder, new_database_url(), "places")
    yield library
    library.close()


def names(library: Library, request: SearchRequest) -> list[str]:
    return sorted(hit.image.name for hit in library.find(request).hits)


def test_indexing_names_the_place_in_the_record(placed: Library) -> None:
    records = {r.name: r for r in placed.images(range(1, 50)).values()}
    lisbon, tokyo, nowhere = records["trip-0.jpg"], records["trip-4.jpg"], records["no-gps.jpg"]
    assert (lisbon.place_city, lisbon.place_region, lisbon.place_country) == (
        "Lisbon", "Lisbon", "Portugal",
    )  # fmt: skip
    assert (tokyo.place_city, tokyo.place_country) == ("Tokyo", "Japan")
    assert nowhere.place_city is None and nowhere.place_country is None
    hidden = visible_record(lisbon, Visibility(server_paths=False, gps=False))
    assert hidden.place_city is None and hidden.gps_latitude is None


def test_the_place_filter_matches_city_region_or_country(placed: Library) -> None:
    def filtered(place: str) -> list[str]:
        request = SearchRequest(
            (QueryTerm(text="a photo"),), filters=SearchFilters(place=place), k=20
        )
        return names(placed, request)

    assert filtered("lisbon") == ["trip-0.jpg", "trip-1.jpg", "trip-2.jpg"]
    assert filtered("  JAPAN ") == ["trip-3.jpg", "trip-4.jpg", "trip-5.jpg"]
    assert filtered("Atlantis") == []


def test_keyword_search_finds_place_names(placed: Library) -> None:
    # The words as written (interpret=False): matched by the keyword index, not read as a filter.
    request = SearchRequest((QueryTerm(text="tokyo"),), mode="keyword", k=20, interpret=False)
    assert names(placed, request) == ["trip-3.jpg", "trip-4.jpg", "trip-5.jpg"]
    request = SearchRequest(
        (QueryTerm(text="photos from portugal"),), mode="keyword", k=20, interpret=False
    )
    assert names(placed, request) == ["trip-0.jpg", "trip-1.jpg", "trip-2.jpg"]


def test_api_and_cli_show_and_filter_places(
    placed: Library, tiny_spec: ModelSpec, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from pixsift.cli.main import main
    from pixsift.web import create_app

    client = create_app({"TESTING": True, "LIBRARY": placed}).test_client()
    answer = client.get("/api/search?q=a+photo&place=Portugal&k=20").get_json()
    assert {hit["place_city"] for hit in answer["results"]} == {"Lisbon"}
    assert len(answer["results"]) == 3
    page = client.get(answer["results"][0]["page_url"])
    assert 'id="place"' in page.text and ">Lisbon</a>, <a" in page.text and "Portugal" in page.text
    url = placed.store.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        main,
        ["search", "a photo", "--place", "tokyo", "--json", "--library", str(placed.directory),
         "--database-url", url, "--model", tiny_spec.model_name,
         "--pretrained", tiny_spec.pretrained],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count('"place_country": "Japan"') == 3


def test_a_caller_who_may_not_see_locations_cannot_search_by_them(placed: Library) -> None:
    """Hidden GPS must not be learnt by searching: for such a caller, location filters are
    refused and place names match neither as a reading of the text nor as keywords."""
    from pixsift.search.accounts import Accounts
    from pixsift.search.errors import PermissionDeniedError
    from pixsift.web import create_app

    for located in (SearchFilters(place="Japan"), SearchFilters(has_gps=True),
                    SearchFilters(gps_box="35,139,36,140")):  # fmt: skip
        request = SearchRequest((QueryTerm(text="a photo"),), filters=located, k=20)
        with pytest.raises(PermissionDeniedError, match="location"):
            placed.find(request, places=False)
        assert names(placed, request)  # whoever may see locations still filters by them
    words = SearchRequest((QueryTerm(text="tokyo"),), mode="keyword", k=20, interpret=False)
    assert placed.find(words, places=False).hits == []
    assert len(placed.find(words).hits) == 3
    read = SearchRequest((QueryTerm(text="a photo in Tokyo 2019"),), k=20)
    blind = placed.find(read, places=False)
    assert [part.kind for part in blind.interpretation.parts] == ["date"]
    assert "place" in [part.kind for part in placed.find(read).interpretation.parts]

    accounts = Accounts(placed.store)
    viewer = {"Authorization": f"Bearer {accounts.create_key('vera', 'viewer').token}"}
    admin = {"Authorization": f"Bearer {accounts.create_key('ann', 'admin').token}"}
    client = create_app({"TESTING": True, "LIBRARY": placed, "SECRET_KEY": "k" * 40}).test_client()
    try:
        refused = client.get("/api/search?q=a+photo&place=Japan", headers=viewer)
        assert refused.status_code == 403
        assert "location" in refused.get_json()["error"]["message"]
        assert client.get("/api/search?q=a+photo&place=Japan", headers=admin).status_code == 200
        smart = {
            "name": "where",
            "search": {"terms": [{"text": "a photo"}], "filters": {"place": "Japan"}},
        }
        assert client.post("/api/albums", json=smart, headers=viewer).status_code == 403
        shown = client.get("/api/search?q=tokyo&mode=keyword&interpret=false", headers=viewer)
        assert shown.status_code == 200 and shown.get_json()["results"] == []
    finally:
        for key in accounts.api_keys():
            accounts.revoke_key(key.id)
        accounts.open_desktop()
