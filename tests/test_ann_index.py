"""Approximate indexes: ids, filters, deletions, tuned sidecars, auto choice, memory-mapped loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.vectors import structured_vectors
from pixsift.search.library import Library
from pixsift.search.vectors.build import build_index, choose_index_type, update_index
from pixsift.search.vectors.index import EXACT_SCAN_LIMIT
from pixsift.search.vectors.persist import load_vector_index
from pixsift.search.vectors.persist import publish_vector_index as save_vector_index
from pixsift.search.vectors.sidecar import SIDECAR_NAME, IndexSidecar, read_sidecar

COUNT = 3000
DIMENSION = 32
INDEX_TYPES = ["Flat", "IVF32,Flat", "IVF32,SQ8", "IVF32,PQ8", "HNSW16"]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    vectors = np.concatenate(list(structured_vectors(COUNT, DIMENSION, seed=3, clusters=40)))
    ids = np.random.default_rng(4).choice(10 * COUNT, COUNT, replace=False).astype(np.int64)
    return ids, vectors


@pytest.fixture(scope="module", params=INDEX_TYPES)
def built(request: pytest.FixtureRequest, data: tuple[np.ndarray, np.ndarray]):
    ids, vectors = data
    return build_index(ids, vectors, model_id="m", generation=2, index_type=request.param)


def brute_force(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int):
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return ids[order], scores[order]


def test_ids_round_trip(built, data) -> None:
    ids, vectors = data
    for row in (0, 17, 2999):
        scores, found = built.search(vectors[row : row + 1], k=1)
        assert found[0, 0] == ids[row]
        assert scores[0, 0] == pytest.approx(1.0, abs=1e-3)
        np.testing.assert_allclose(built.reconstruct(int(ids[row]))[0], vectors[row], atol=1e-3)


def test_scores_are_exact_cosines(built, data) -> None:
    ids, vectors = data
    by_id = dict(zip(ids.tolist(), range(len(ids)), strict=True))
    scores, found = built.search(vectors[5:8], k=10)
    for row, query in enumerate(vectors[5:8]):
        for score, image_id in zip(scores[row], found[row], strict=True):
            assert score == pytest.approx(float(vectors[by_id[int(image_id)]] @ query), abs=2e-3)
        assert list(scores[row]) == sorted(scores[row], reverse=True)


def test_recall_against_exact_search(built, data) -> None:
    ids, vectors = data
    queries = vectors[:50]
    _, found = built.search(queries, k=10)
    hits = sum(
        len(np.intersect1d(found[row], brute_force(ids, vectors, query, 10)[0]))
        for row, query in enumerate(queries)
    )
    assert hits / 500 >= 0.9


def test_allowed_ids_give_the_exact_top_k_of_the_subset(built, data) -> None:
    ids, vectors = data
    rng = np.random.default_rng(7)
    subset = rng.choice(len(ids), 200, replace=False)
    allowed = ids[subset]
    assert len(allowed) < EXACT_SCAN_LIMIT
    for query in vectors[100:105]:
        scores, found = built.search(query.reshape(1, -1), k=10, allowed_ids=allowed)
        expected_ids, expected_scores = brute_force(ids[subset], vectors[subset], query, 10)
        np.testing.assert_array_equal(found[0], expected_ids)
        np.testing.assert_allclose(scores[0], expected_scores, atol=2e-3)


def test_allowed_ids_fewer_than_k_leave_empty_slots(built, data) -> None:
    ids, vectors = data
    _, found = built.search(vectors[:1], k=5, allowed_ids=ids[:3])
    assert set(found[0][found[0] >= 0]) <= set(ids[:3].tolist())
    assert len(found[0][found[0] >= 0]) == 3


def test_sidecar_records_type_and_tuned_parameters(built, tmp_path: Path) -> None:
    save_vector_index(tmp_path, built)
    fields = json.loads((tmp_path / SIDECAR_NAME).read_text())
    assert fields["index_type"] == built.sidecar.index_type
    if fields["index_type"].startswith("IVF"):
        assert fields["search_params"]["nprobe"] >= 1
        assert fields["tuned_recall"] >= 0.95
        assert fields["trained_count"] == COUNT
    elif fields["index_type"].startswith("HNSW"):
        assert fields["search_params"]["efSearch"] >= 16
    else:
        assert fields["search_params"] == {} and fields["recall_by_kind"] == {}
    if fields["search_params"]:
        # Tuned for held-out images and (no model here) synthetic text-like queries alike.
        assert set(fields["recall_by_kind"]) == {"images", "text-synthetic"}
        assert fields["tuned_recall"] == min(fields["recall_by_kind"].values())


def test_memory_mapped_load_gives_identical_results(built, data, tmp_path: Path) -> None:
    ids, vectors = data
    save_vector_index(tmp_path, built)
    loaded = load_vector_index(tmp_path, expected_model_id="m")
    assert loaded.sidecar == built.sidecar
    for allowed in (None, ids[::7]):
        expected = built.search(vectors[:20], k=10, allowed_ids=allowed)
        got = loaded.search(vectors[:20], k=10, allowed_ids=allowed)
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_allclose(got[0], expected[0], atol=1e-6)


def test_auto_choice_by_size() -> None:
    assert choose_index_type(1_000, 512) == "Flat"
    assert choose_index_type(19_999, 512) == "Flat"
    assert choose_index_type(1_000_000, 512).startswith("IVF1024,")
    assert choose_index_type(1_000_000, 512, memory_budget_bytes=100 << 20).endswith("PQ128x4fsr")
    ids = np.arange(50)
    small = build_index(ids, np.eye(50, 64, dtype=np.float32), model_id="m", generation=1)
    assert small.sidecar.index_type == "Flat" and small.sidecar.requested_type == "auto"


def test_old_sidecars_still_load(tmp_path: Path) -> None:
    old_fields = {
        "model_id": "m",
        "dimension": 8,
        "metric": "inner_product",
        "count": 0,
        "generation": 1,
        "index_type": "Flat",
        "index_file": "index-1.faiss",
        "format_version": 1,
    }
    (tmp_path / SIDECAR_NAME).write_text(json.dumps(old_fields))
    sidecar = read_sidecar(tmp_path)
    assert isinstance(sidecar, IndexSidecar)
    assert sidecar.requested_type == "auto" and sidecar.search_params == {}


def test_incremental_update_removes_deleted_and_adds_new(data) -> None:
    ids, vectors = data
    index = build_index(
        ids[:2000], vectors[:2000], model_id="m", generation=1, index_type="IVF32,SQ8"
    )
    deleted = ids[:100]
    changed_row = 500
    new_ids = np.concatenate([ids[100:2000], ids[2000:]])
    new_vectors = np.concatenate([vectors[100:2000], vectors[2000:]]).copy()
    new_vectors[changed_row - 100] = vectors[2999]  # an image re-indexed with new content
    updated = update_index(index, new_ids, new_vectors, generation=2)
    assert updated.sidecar.trained_count == 2000  # not retrained
    assert updated.count == len(new_ids) and updated.sidecar.generation == 2
    _, found = updated.search(vectors[:100], k=10)
    assert not np.isin(found, deleted).any()
    _, found = updated.search(vectors[2500:2501], k=1)
    assert found[0, 0] == ids[2500]
    # The re-indexed image now carries its new vector only.
    np.testing.assert_allclose(
        updated.reconstruct(int(ids[changed_row]))[0], vectors[2999], atol=1e-3
    )


def test_growth_beyond_four_times_retrains(data) -> None:
    ids, vectors = data
    index = build_index(ids[:600], vectors[:600], model_id="m", generation=1, index_type="IVF8,SQ8")
    grown = update_index(index, ids, vectors, generation=2)
    assert grown.sidecar.trained_count == COUNT


def test_library_never_returns_deleted_images(library: Library) -> None:
    vectors = np.concatenate(list(structured_vectors(25_000, library.embedder.dimension, seed=9)))
    image_ids = library.import_vectors(vectors)
    index = library.vector_index()
    assert index.sidecar.index_type.startswith("IVF") and index.count == 25_000
    library.store.remove_images(image_ids[:50])
    files_before = sorted(path.name for path in library.index_directory.iterdir())
    index = library.vector_index()  # a reader: hides the removed vectors, writes nothing
    assert index.count == 24_950 and index.published.count == 25_000
    _, found = index.search(vectors[:50], k=10)
    assert not np.isin(found, image_ids[:50]).any()
    hits = library.search(image_id=int(image_ids[60]), k=5)
    assert hits[0].image.id == image_ids[60]
    assert sorted(path.name for path in library.index_directory.iterdir()) == files_before
    published = library.publish_index()  # a writer: updates the trained index in place
    assert published.count == 24_950 and published.sidecar.trained_count == 25_000
    assert library.publish_index() is None  # already current
    index = library.vector_index()
    assert index.published.count == 24_950 and index.unpublished_count == 0
    _, found = index.search(vectors[:50], k=10)
    assert not np.isin(found, image_ids[:50]).any()
    rebuilt = library.rebuild_index(index_type="Flat")
    assert rebuilt.sidecar.index_type == "Flat" and rebuilt.count == 24_950
    assert library.rebuild_index().sidecar.index_type == "Flat"  # the request is remembered
    assert library.rebuild_index(index_type="auto").sidecar.index_type.startswith("IVF")
