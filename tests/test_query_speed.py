"""What the query path reads, not how fast: a keyword half that cannot match never ranks the
full-text table, a filtered keyword half reads a bounded list, every query's stages are timed,
and a path glob selects exactly what fnmatch would."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import DatabaseFactory, make_picture
from sqlalchemy import event

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.filters import filtered_image_ids
from pixsift.search.query.keywords import KeywordMatcher, parse_keyword_query
from pixsift.search.query.request import QueryTerm, SearchFilters, SearchRequest
from pixsift.search.query.timing import collect_stages

NAMES = [f"{folder}/shot-{index:02d}.png" for index in range(10) for folder in ("a", "b")]
NAMES += ["a/zebra-crossing.png", "b/[odd] name?.png", "b/50%_off.png"]


@pytest.fixture(scope="module")
def speed_library(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    new_database_url: DatabaseFactory,
) -> Iterator[Library]:
    folder = tmp_path_factory.mktemp("speed") / "photos"
    for index, name in enumerate(NAMES):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        make_picture(index).save(folder / name)
    library = Library.open(
        tmp_path_factory.mktemp("speed-library"),
        database_url=new_database_url(),
        embedder=tiny_embedder,
    )
    Indexer(library, tiny_embedder, IndexingOptions(workers=1, show_progress=False)).index([folder])
    yield library
    library.close()


@contextmanager
def statements(library: Library) -> Iterator[list[str]]:
    """Every SQL statement the block sends to the library's database."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _many) -> None:
        seen.append(statement)

    engine = library.store.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def ranks_full_text(seen: list[str]) -> bool:
    """Whether a statement ranked keyword matches (FTS5 MATCH or a PostgreSQL ts_rank)."""
    return any("MATCH" in s or "ts_rank" in s for s in seen)


def ids(library: Library, request: SearchRequest) -> list[int]:
    return [hit.id for hit in library.find(request).hits]


def test_a_keyword_half_that_cannot_match_skips_the_full_text_table(
    speed_library: Library,
) -> None:
    if speed_library.store.engine.dialect.name != "sqlite":
        pytest.skip("the vocabulary look-up is SQLite's (PostgreSQL's GIN index is per word)")
    text = "qqqnothing zzzabsent"
    with statements(speed_library) as seen:
        hybrid = ids(speed_library, SearchRequest((QueryTerm(text=text),), mode="hybrid", k=5))
    assert not ranks_full_text(seen)
    semantic = ids(speed_library, SearchRequest((QueryTerm(text=text),), mode="semantic", k=5))
    assert hybrid == semantic and len(hybrid) == 5
    with statements(speed_library) as seen:
        assert ids(speed_library, SearchRequest((QueryTerm(text='"zebra qqqnothing"'),))) == []
    assert not ranks_full_text(seen)


def test_a_word_the_index_holds_is_still_ranked(speed_library: Library) -> None:
    with statements(speed_library) as seen:
        hits = speed_library.find(
            SearchRequest((QueryTerm(text="zebra qqqnothing"),), mode="hybrid", k=3)
        ).hits
    assert ranks_full_text(seen)
    assert hits[0].image.relative_path == "a/zebra-crossing.png"


def test_a_word_in_most_of_the_library_is_left_out_of_hybrid_only(speed_library: Library) -> None:
    if speed_library.store.engine.dialect.name != "sqlite":
        pytest.skip("document frequencies come from SQLite's vocabulary table")
    matcher = KeywordMatcher(speed_library.store.engine)
    query = parse_keyword_query("png zebra")  # every file is a .png
    assert set(matcher.ranked_ids(query, 100)) == set(
        filtered_image_ids(speed_library.store.engine, SearchFilters()).tolist()
    )
    half = len(NAMES) // 2
    assert len(matcher.ranked_ids(query, 100, common_above=half)) == 1
    assert matcher.ranked_ids(parse_keyword_query("png"), 100, common_above=half) == []


def test_a_filtered_keyword_half_reads_a_bounded_list(speed_library: Library) -> None:
    limits: list[object] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if "MATCH" in statement or "ts_rank" in statement:
            limits.append(parameters)

    engine = speed_library.store.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        request = SearchRequest(
            (QueryTerm(text="shot"),), mode="keyword", filters=SearchFilters(folder="b"), k=50
        )
        hits = speed_library.find(request).hits
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert sorted(hit.image.relative_path for hit in hits) == sorted(
        name for name in NAMES if name.startswith("b/shot")
    )
    assert limits and all(-1 not in _values(parameters) for parameters in limits)


def _values(parameters: object) -> list[object]:
    if isinstance(parameters, dict):
        return list(parameters.values())
    return list(parameters) if isinstance(parameters, (list, tuple)) else [parameters]


def test_every_query_stage_is_timed_and_logged(
    speed_library: Library, caplog: pytest.LogCaptureFixture
) -> None:
    request = SearchRequest((QueryTerm(text="zebra"),), mode="hybrid", k=3)
    with collect_stages() as times:
        speed_library.find(request)
    assert {"parse", "tower", "keyword", "vector_search", "rerank", "records"} <= set(times.ms)
    assert all(value >= 0 for value in times.ms.values())
    with caplog.at_level(logging.DEBUG, logger="pixsift.search.query.timing"):
        speed_library.find(request)
    assert any("tower=" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "pattern",
    ["a/*", "*/shot-0[0-4].png", "*[!0-9].png", "b/[[]odd] name[?].png", "*50%_off*", "?/*"],
)
def test_a_path_glob_selects_what_fnmatch_selects(speed_library: Library, pattern: str) -> None:
    engine = speed_library.store.engine
    every = speed_library.images(filtered_image_ids(engine, SearchFilters()).tolist())
    expected = {
        i for i, record in every.items() if fnmatch.fnmatchcase(record.relative_path, pattern)
    }
    assert expected, pattern
    assert set(filtered_image_ids(engine, SearchFilters(path=pattern)).tolist()) == expected


def test_a_worker_warms_up_with_real_searches_before_taking_requests(
    speed_library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pixsift.web import create_app
    from pixsift.web.state import web_state

    searched: list[SearchRequest] = []
    original = Library.find

    def spy(self: Library, request: SearchRequest):
        searched.append(request)
        return original(self, request)

    monkeypatch.setattr(Library, "find", spy)
    app = create_app({"TESTING": True, "LIBRARY": speed_library})
    with app.app_context():
        web_state().warm_up()
    texts = [term.text for request in searched for term in request.terms]
    assert len(set(texts)) >= 2  # two distinct texts: the tower runs twice, not once + cache
    assert all(request.mode == "hybrid" for request in searched)


def test_a_served_worker_hides_its_warmed_objects_from_the_garbage_collector(
    speed_library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After its warm-up a `pixsift serve` worker freezes what is alive, so no request pays a
    full collection walking the whole warmed process (~55 ms at 1M images)."""
    import gc
    from types import SimpleNamespace

    from pixsift.cli import serve
    from pixsift.web import create_app
    from pixsift.web.state import WebState

    events: list[str] = []
    monkeypatch.setattr(WebState, "warm_up", lambda self: events.append("warm"))
    monkeypatch.setattr(gc, "freeze", lambda: events.append("freeze"))
    app = create_app({"TESTING": True, "LIBRARY": speed_library})
    serve._post_worker_init(SimpleNamespace(wsgi=app, log=logging.getLogger("test")))
    assert events == ["warm", "freeze"]
