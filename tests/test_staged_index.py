"""A library larger than the index's memory budget: the automatic index moves to compressed
(PQ) codes with exact re-ranking from a memory-mapped float16 store, built in stages (streamed,
trained once on a sample, filled in shards and merged), tuned to the recall target."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.vectors import structured_vectors
from pixsift.search.errors import InvalidInputError
from pixsift.search.library import Library
from pixsift.search.vectors.build import BuildRequest
from pixsift.search.vectors.index import exact_top_k
from pixsift.search.vectors.staged import build_staged_index
from pixsift.search.vectors.tune import DEFAULT_RECALL_TARGET

COUNT = 24_000


@pytest.fixture
def vectors(library: Library) -> np.ndarray:
    return np.concatenate(list(structured_vectors(COUNT, library.embedder.dimension, seed=5)))


def recall_at_10(index, vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> float:
    _, exact = exact_top_k(queries, 10, ids, vectors.astype(np.float16))
    _, found = index.search(queries, 10)
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found, strict=True)]))


def test_over_budget_the_index_is_compressed_staged_and_memory_mapped(
    library: Library, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSIFT_INDEX_MEMORY_BUDGET", "1M")  # 24k x 64 x 4 bytes = 6 MB
    ids = np.asarray(library.import_vectors(vectors, publish=False))
    index = library.rebuild_index(index_type="auto", model_prompts=False)
    sidecar = index.sidecar
    assert sidecar.index_type.startswith("IVF") and sidecar.index_type.endswith(",PQ16x4fsr")
    assert set(sidecar.stage_seconds) >= {"store", "train", "add", "tune"}
    assert sidecar.tuned_recall >= DEFAULT_RECALL_TARGET
    # The staged store was renamed into place: no copy, no temporary file left behind.
    names = sorted(path.name for path in library.index_directory.iterdir())
    assert not [name for name in names if name.startswith(".")]
    published = library.vector_index().published
    assert isinstance(published.exact_vectors, np.memmap)  # readers map it, read-only
    assert not published.exact_vectors.flags.writeable
    np.testing.assert_array_equal(published.exact_vectors, vectors.astype(np.float16))
    held_out = np.concatenate(list(structured_vectors(200, vectors.shape[1], seed=5)))[:200]
    assert recall_at_10(published, vectors, ids, held_out) >= DEFAULT_RECALL_TARGET


def test_within_budget_the_index_keeps_scalar_codes(
    library: Library, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSIFT_INDEX_MEMORY_BUDGET", "1G")
    library.import_vectors(vectors, publish=False)
    index = library.rebuild_index(index_type="auto", model_prompts=False)
    assert index.sidecar.index_type.endswith(",SQ8") and "store" not in index.sidecar.stage_seconds


def test_shards_merged_give_the_same_index_as_one(tmp_path, vectors: np.ndarray) -> None:
    ids = np.arange(1, COUNT + 1, dtype=np.int64)

    def chunks():
        for start in range(0, COUNT, 5_000):
            yield ids[start : start + 5_000], vectors[start : start + 5_000].astype(np.float16)

    request = BuildRequest("m", 1, "IVF64,PQ8x4fsr")
    built = [
        build_staged_index(
            chunks(),
            count=COUNT,
            dimension=vectors.shape[1],
            directory=tmp_path / str(shards),
            request=request,
            shards=shards,
        )
        for shards in (1, 3)
    ]
    assert [index.count for index in built] == [COUNT, COUNT]
    queries = vectors[:50]
    one, three = (index.search(queries, 10) for index in built)
    np.testing.assert_array_equal(one[1], three[1])
    np.testing.assert_allclose(one[0], three[0], atol=1e-6)


def test_a_bad_memory_budget_is_a_clear_error(
    library: Library, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    library.import_vectors(vectors[:100], publish=False)
    monkeypatch.setenv("PIXSIFT_INDEX_MEMORY_BUDGET", "lots")
    with pytest.raises(InvalidInputError, match="PIXSIFT_INDEX_MEMORY_BUDGET"):
        library.rebuild_index()


def test_a_deep_candidate_list_re_ranks_what_the_page_needs_not_the_whole_depth(
    library: Library, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hybrid search asks for 1,000 candidates to fuse and shows a page: the re-rank factor
    (tuned for the top 10) multiplies the page, not the depth (128,000 float16 rows read per
    query at 10M), and the page keeps the tuned recall; every score is still an exact cosine."""
    from pixsift.search.vectors import index as index_module

    monkeypatch.setenv("PIXSIFT_INDEX_MEMORY_BUDGET", "1M")
    ids = np.asarray(library.import_vectors(vectors, publish=False))
    library.rebuild_index(index_type="auto", model_prompts=False)
    published = library.vector_index().published
    factor = published.sidecar.rerank_factor
    assert factor > 1
    pool_sizes: list[int] = []
    real_rank_exactly = index_module.rank_exactly

    def counting(queries, k, candidate_ids, candidate_vectors):
        pool_sizes.append(len(candidate_ids))
        return real_rank_exactly(queries, k, candidate_ids, candidate_vectors)

    monkeypatch.setattr(index_module, "rank_exactly", counting)
    queries = np.concatenate(list(structured_vectors(200, vectors.shape[1], seed=5)))[:50]
    depth, page = 300, 11
    # Through the library's live index, as a search runs it (published index + tail).
    scores, found = library.vector_index().search(queries, depth, enough=page)
    assert found.shape == (50, depth) and (found[:, :page] >= 0).all()
    assert max(pool_sizes) <= max(depth, page * factor) < depth * factor
    _, exact = exact_top_k(queries, 10, ids, vectors.astype(np.float16))
    recall = np.mean([len(set(a) & set(b[:10])) / 10 for a, b in zip(exact, found, strict=True)])
    assert recall >= DEFAULT_RECALL_TARGET
    stored = {
        int(i): v for i, v in zip(ids, vectors.astype(np.float16).astype(np.float32), strict=True)
    }
    cosines = np.array(
        [[stored[int(i)] @ q for i in row] for row, q in zip(found, queries, strict=True)]
    )
    np.testing.assert_allclose(scores, cosines, atol=1e-3)
