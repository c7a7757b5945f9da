"""Filters that cost what they select: every search strategy (exact scan of a small selection,
FAISS bitmap selector, post-filtering a deeper candidate list, no filter at all when the filter
keeps everything) returns exactly what brute force over the selected images returns, falls back
rather than losing results, covers unpublished vectors, and the cached selection follows the
store's generation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np
import pytest
from sqlalchemy import case, update

import pixsift.search.vectors.index as index_module
from benchmarks.vectors import structured_vectors
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.filters import filter_selection, filtered_image_ids, selection_cache
from pixsift.search.query.request import QueryTerm, SearchFilters, SearchRequest
from pixsift.search.storage.models import Image
from pixsift.search.storage.writes import STATE_INDEX_GENERATION
from pixsift.search.vectors.index import VectorIndex
from pixsift.search.vectors.selection import Selection

COUNT = 3000
DIMENSION = 32
#: Small enough that 3000 images exercise every strategy (the default is 20,000).
SCAN_LIMIT = 100


def set_widths(library: Library, factor: int = 37) -> None:
    """Widths 1..100 spread over the ids, so ``min_width``/``max_width`` pick known shares.
    Widths are written directly, so the generation is bumped as any indexing write does."""
    with library.store.session() as session:
        session.execute(update(Image).values(width=(Image.id * factor) % 100 + 1))
        session.execute(
            update(Image).values(description=case((Image.id % 2 == 1, "odd"), else_="even"))
        )
    library.store.set_state(STATE_INDEX_GENERATION, str(library.store.index_generation() + 1))


def probe_every_list(library: Library) -> None:
    """nprobe = nlist: the IVF index then answers exactly, so results compare one for one."""
    published = library.vector_index().published
    nlist = faiss.extract_index_ivf(published.faiss_index).nlist
    published.sidecar = replace(published.sidecar, search_params={"nprobe": nlist})


@pytest.fixture
def strategies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The strategies the published index used, in order."""
    used: list[str] = []
    approximate, exact = VectorIndex.approximate_search, VectorIndex._exact_scan

    def spy_approximate(self, queries, k, selector, params, rerank_factor=None, **options):
        faiss_selector = selector.faiss_selector if selector is not None else None
        if options.get("post_filter") is not None:
            used.append("post-filter")
        elif isinstance(faiss_selector, faiss.IDSelectorBitmap):
            used.append("selector")
        else:
            used.append("unfiltered")
        return approximate(self, queries, k, selector, params, rerank_factor, **options)

    def spy_exact(self, queries, k, allowed_ids):
        used.append("exact scan")
        return exact(self, queries, k, allowed_ids)

    monkeypatch.setattr(VectorIndex, "approximate_search", spy_approximate)
    monkeypatch.setattr(VectorIndex, "_exact_scan", spy_exact)
    monkeypatch.setattr(index_module, "EXACT_SCAN_LIMIT", SCAN_LIMIT)
    return used


@pytest.fixture
def ivf_library(tmp_path: Path) -> Library:
    vectors = np.concatenate(list(structured_vectors(COUNT, DIMENSION, seed=5, clusters=30)))
    library = Library.open(tmp_path / "library")
    library.import_vectors(vectors, model_id="m", publish=False)
    library.rebuild_index(index_type="IVF16,Flat")
    set_widths(library)
    probe_every_list(library)
    yield library
    library.close()


def brute_force(library: Library, query: np.ndarray, filters: SearchFilters, k: int) -> list[int]:
    allowed = filtered_image_ids(library.store.engine, filters)
    ids, vectors = library.store.all_embeddings("m")
    keep = np.isin(ids, allowed)
    ids, vectors = ids[keep], vectors[keep]
    return ids[np.argsort(-(vectors @ query.ravel()), kind="stable")[:k]].tolist()


def found(library: Library, image_id: int, filters: SearchFilters, k: int) -> list[int]:
    request = SearchRequest(
        (QueryTerm(image_id=image_id),), mode="semantic", k=k, filters=filters, weaker=True
    )
    return [hit.image.id for hit in library.find(request).hits]


def check(library: Library, filters: SearchFilters, k: int, queries=(1, 777, 2500)) -> None:
    for image_id in queries:
        query = library.stored_embedding(image_id)
        expected = brute_force(library, query, filters, k)
        assert found(library, image_id, filters, k) == expected, (filters, image_id)


CASES = [
    # (filter, share of the library, the strategy the published index takes)
    (SearchFilters(min_width=1), 1.0, ["unfiltered"]),
    (SearchFilters(min_width=31), 0.7, ["post-filter"]),
    (SearchFilters(max_width=20), 0.2, ["selector"]),
    (SearchFilters(max_width=1), 0.01, ["exact scan"]),
    (SearchFilters(path="bulk-1234.jpg"), 1 / COUNT, ["exact scan"]),
]


@pytest.mark.parametrize(("filters", "share", "expected_strategies"), CASES)
def test_each_strategy_returns_brute_force_over_the_selection(
    ivf_library: Library, strategies: list[str], filters, share, expected_strategies
) -> None:
    selected = len(filtered_image_ids(ivf_library.store.engine, filters))
    assert selected == pytest.approx(share * COUNT, rel=0.1, abs=1)
    for k in (10, 40):
        check(ivf_library, filters, k)
    assert set(strategies) == set(expected_strategies)


def test_a_filter_matching_none_returns_nothing(ivf_library: Library, strategies) -> None:
    assert found(ivf_library, 5, SearchFilters(min_width=101), 10) == []
    assert strategies == []


def test_post_filtering_falls_back_when_too_few_candidates_survive(
    ivf_library: Library, strategies: list[str]
) -> None:
    """A broad filter that keeps only images far from the query: the deepened candidate list
    holds none of them, so the search falls back to the selector and still fills the page."""
    query = ivf_library.stored_embedding(42)
    ids, vectors = ivf_library.store.all_embeddings("m")
    nearest_first = ids[np.argsort(-(vectors @ query.ravel()), kind="stable")]
    with ivf_library.store.session() as session:
        session.execute(update(Image).values(width=2))
        near = nearest_first[: int(0.4 * COUNT)].tolist()
        session.execute(update(Image).where(Image.id.in_(near)).values(width=1))
    ivf_library.store.set_state(
        STATE_INDEX_GENERATION, str(ivf_library.store.index_generation() + 1)
    )
    filters = SearchFilters(min_width=2)
    check(ivf_library, filters, 10, queries=(42,))
    assert strategies == ["post-filter", "selector"]


def test_the_selector_falls_back_to_an_exact_scan_when_probes_find_too_few(
    ivf_library: Library, strategies: list[str]
) -> None:
    published = ivf_library.vector_index().published
    published.sidecar = replace(published.sidecar, search_params={"nprobe": 1})
    # One image in five, none of them near image 42's neighbourhood: the one probed list holds
    # too few of them.
    query = ivf_library.stored_embedding(42)
    ids, vectors = ivf_library.store.all_embeddings("m")
    farthest = ids[np.argsort(vectors @ query.ravel(), kind="stable")[: COUNT // 5]].tolist()
    with ivf_library.store.session() as session:
        session.execute(update(Image).values(width=1))
        session.execute(update(Image).where(Image.id.in_(farthest)).values(width=2))
    ivf_library.store.set_state(
        STATE_INDEX_GENERATION, str(ivf_library.store.index_generation() + 1)
    )
    check(ivf_library, SearchFilters(min_width=2), 10, queries=(42,))
    assert strategies == ["selector", "exact scan"]


def test_unpublished_and_removed_vectors_follow_the_same_selection(
    ivf_library: Library, strategies: list[str]
) -> None:
    extra = np.concatenate(list(structured_vectors(300, DIMENSION, seed=6, clusters=30)))
    new_ids = ivf_library.import_vectors(extra, model_id="m", publish=False)
    ivf_library.store.remove_images(list(range(1, 400, 3)))
    set_widths(ivf_library, factor=41)
    live = ivf_library.vector_index()
    assert live.unpublished_count == 300 and len(live.hidden_ids) > 0
    for filters, _share, _ in CASES:
        check(ivf_library, filters, 20, queries=(new_ids[7], 2, 1500))
    assert {"post-filter", "selector", "exact scan"} <= set(strategies)


def test_hybrid_keyword_mode_keeps_filters_and_required_phrases(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder, strategies: list[str]
) -> None:
    vectors = np.concatenate(
        list(structured_vectors(COUNT, tiny_embedder.dimension, seed=8, clusters=30))
    )
    library = Library.open(tmp_path / "library", embedder=tiny_embedder)
    library.import_vectors(vectors, model_id=tiny_embedder.model_id, publish=False)
    library.rebuild_index(index_type="IVF16,Flat")
    set_widths(library)
    probe_every_list(library)
    text = 'a photo "odd"'
    filters = SearchFilters(min_width=61)  # 40 %; with "odd", 20 %
    allowed = set(filtered_image_ids(library.store.engine, filters).tolist())
    allowed = {image_id for image_id in allowed if image_id % 2 == 1}
    query = library.query_embedding(text=text)
    ids, stored = library.store.all_embeddings(tiny_embedder.model_id)
    keep = np.isin(ids, sorted(allowed))
    expected = ids[keep][np.argsort(-(stored[keep] @ query.ravel()), kind="stable")[:25]]
    for mode in ("semantic", "hybrid"):
        request = SearchRequest(
            (QueryTerm(text=text),), mode=mode, k=25, filters=filters, weaker=True
        )
        hits = [hit.image.id for hit in library.find(request).hits]
        assert len(hits) == 25 and set(hits) <= allowed
        if mode == "semantic":
            assert hits == expected.tolist()
    assert "selector" in strategies
    library.close()


def test_the_cached_selection_follows_the_store_generation(
    ivf_library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pixsift.search.query.filters as filters_module

    reads: list[SearchFilters] = []

    def counting(engine, filters):
        reads.append(filters)
        return filter_selection(engine, filters)

    monkeypatch.setattr(filters_module, "filter_selection", counting)
    filters = SearchFilters(max_width=10)
    first = found(ivf_library, 42, filters, 10)
    assert found(ivf_library, 42, filters, 10) == first
    assert found(ivf_library, 43, filters, 10) and len(reads) == 1  # read once, then cached
    # New images that match the filter and sit right on the query appear at once.
    query = ivf_library.stored_embedding(42)
    new_ids = ivf_library.import_vectors(np.repeat(query, 3, axis=0), model_id="m", publish=False)
    with ivf_library.store.session() as session:
        session.execute(update(Image).where(Image.id.in_(new_ids)).values(width=5))
    ivf_library.store.set_state(
        STATE_INDEX_GENERATION, str(ivf_library.store.index_generation() + 1)
    )
    after = found(ivf_library, 42, filters, 10)
    assert set(new_ids) <= set(after[:4]) and len(reads) == 2
    assert len(selection_cache(ivf_library.store.engine)) == 1  # the older generation is gone


def test_a_filter_keeping_everything_is_recognised(ivf_library: Library) -> None:
    _generation, everything = filter_selection(ivf_library.store.engine, SearchFilters(min_width=1))
    _generation, most = filter_selection(ivf_library.store.engine, SearchFilters(min_width=2))
    assert everything.covers_all and everything.count == COUNT
    assert not most.covers_all and most.count == COUNT - COUNT // 100


def test_selection_agrees_with_set_operations() -> None:
    rng = np.random.default_rng(11)
    ids = rng.choice(5000, 700, replace=False)
    other = rng.choice(6000, 900, replace=False)
    removed = rng.choice(5000, 300, replace=False)
    probe = np.concatenate([rng.integers(-5, 7000, 2000), [0, 4999, 5000, 7999, 8000]])
    selection = Selection.of_ids(ids)
    assert selection.ids().tolist() == sorted(ids.tolist()) and selection.count == 700
    assert selection.contains(probe).tolist() == np.isin(probe, ids).tolist()
    both = selection.intersect(Selection.of_ids(other))
    assert both.ids().tolist() == np.intersect1d(ids, other).tolist()
    less = selection.without(removed)
    assert less.ids().tolist() == np.setdiff1d(ids, removed).tolist()
    assert less.count == len(np.setdiff1d(ids, removed))
    faiss_selector = selection.faiss_selector()
    members = [bool(faiss_selector.is_member(int(i))) for i in range(0, 8000, 7)]
    assert members == np.isin(np.arange(0, 8000, 7), ids).tolist()
    assert Selection.of_ids(ids, total=700).covers_all and not selection.covers_all
    with pytest.raises(ValueError):
        Selection.of_ids(np.array([3, -1]))


def test_a_deep_candidate_list_settles_for_a_full_page(
    ivf_library: Library, strategies: list[str]
) -> None:
    """Date order ranks a deep candidate list; a broad filter with one probed list cannot fill
    all of it, and need not: the page (and one more) is enough, so no exact scan of 70 % of the
    library happens behind a ten-result page."""
    published = ivf_library.vector_index().published
    published.sidecar = replace(published.sidecar, search_params={"nprobe": 1})
    filters = SearchFilters(min_width=31)
    term = QueryTerm(image_id=42)
    request = SearchRequest(
        (term,), mode="semantic", k=10, order="date", filters=filters, weaker=True
    )
    hits = ivf_library.find(request).hits
    allowed = set(filtered_image_ids(ivf_library.store.engine, filters).tolist())
    assert len(hits) == 10 and {hit.image.id for hit in hits} <= allowed
    assert strategies == ["post-filter"]
