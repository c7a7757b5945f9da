"""The FAISS index: ids are database ids, results are exact cosine rankings, files are checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pixsift.search.errors import IndexMismatchError, ModelMismatchError
from pixsift.search.model.embedder import l2_normalise
from pixsift.search.vectors.build import build_flat_index
from pixsift.search.vectors.persist import load_vector_index
from pixsift.search.vectors.persist import publish_vector_index as save_vector_index
from pixsift.search.vectors.sidecar import SIDECAR_NAME, read_sidecar


def random_unit_vectors(count: int, dimension: int, seed: int) -> np.ndarray:
    return l2_normalise(np.random.default_rng(seed).standard_normal((count, dimension)))


def test_ids_round_trip_through_save_and_load(tmp_path: Path) -> None:
    ids = np.array([7, 3, 1000, 42, 5], dtype=np.int64)
    vectors = random_unit_vectors(len(ids), 16, seed=1)
    save_vector_index(tmp_path, build_flat_index(ids, vectors, model_id="m", generation=3))
    loaded = load_vector_index(tmp_path, expected_model_id="m")
    for image_id, vector in zip(ids, vectors, strict=True):
        scores, found = loaded.search(vector.reshape(1, -1), k=1)
        assert found[0, 0] == image_id
        assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(loaded.reconstruct(int(image_id))[0], vector, atol=1e-6)
    assert loaded.sidecar.count == 5 and loaded.sidecar.generation == 3


def test_results_equal_brute_force_cosine_ranking() -> None:
    ids = np.arange(10, 510, dtype=np.int64)
    vectors = random_unit_vectors(len(ids), 32, seed=2)
    query = random_unit_vectors(1, 32, seed=3)
    scores, found = build_flat_index(ids, vectors, model_id="m", generation=1).search(query, k=20)
    expected_scores = vectors @ query[0]
    expected_order = np.argsort(-expected_scores)[:20]
    np.testing.assert_array_equal(found[0], ids[expected_order])
    np.testing.assert_allclose(scores[0], expected_scores[expected_order], atol=1e-5)


def test_sidecar_records_model_dimension_metric_count(tmp_path: Path) -> None:
    index = build_flat_index(np.arange(4), random_unit_vectors(4, 8, 0), model_id="m", generation=9)
    save_vector_index(tmp_path, index)
    fields = json.loads((tmp_path / SIDECAR_NAME).read_text())
    assert fields["model_id"] == "m"
    assert fields["dimension"] == 8
    assert fields["metric"] == "inner_product"
    assert fields["count"] == 4
    assert fields["generation"] == 9


def test_loading_with_another_model_is_an_error(tmp_path: Path) -> None:
    save_vector_index(
        tmp_path,
        build_flat_index(np.arange(3), random_unit_vectors(3, 8, 0), model_id="a", generation=1),
    )
    with pytest.raises(ModelMismatchError):
        load_vector_index(tmp_path, expected_model_id="b")


def test_a_sidecar_that_disagrees_with_the_file_is_an_error(tmp_path: Path) -> None:
    save_vector_index(
        tmp_path,
        build_flat_index(np.arange(3), random_unit_vectors(3, 8, 0), model_id="a", generation=1),
    )
    fields = json.loads((tmp_path / SIDECAR_NAME).read_text())
    fields["count"] = 4
    (tmp_path / SIDECAR_NAME).write_text(json.dumps(fields))
    with pytest.raises(IndexMismatchError):
        load_vector_index(tmp_path, expected_model_id="a")


def test_publishing_a_new_generation_deletes_only_older_unnamed_files(tmp_path: Path) -> None:
    newer = tmp_path / "index-9-abc.faiss"  # e.g. another library's future; never ours to delete
    tmp_path.mkdir(exist_ok=True)
    newer.write_bytes(b"")
    loaded = []
    for generation in (1, 2):
        index = build_flat_index(
            np.arange(3), random_unit_vectors(3, 8, generation), model_id="a", generation=generation
        )
        published = save_vector_index(tmp_path, index)
        loaded.append(load_vector_index(tmp_path, expected_model_id="a"))
    names = sorted(path.name for path in tmp_path.glob("*.faiss"))
    assert names == sorted([published.sidecar.index_file, newer.name])
    assert published.sidecar.index_file.startswith("index-2-")
    assert read_sidecar(tmp_path).generation == 2
    # A reader that loaded generation 1 before it was deleted still searches it.
    _, found = loaded[0].search(random_unit_vectors(1, 8, 1), k=3)
    assert sorted(found[0].tolist()) == [0, 1, 2]


def test_republishing_one_generation_never_overwrites_the_published_files(tmp_path: Path) -> None:
    vectors = random_unit_vectors(3, 8, 0)
    first = save_vector_index(
        tmp_path, build_flat_index(np.arange(3), vectors, model_id="a", generation=4)
    )
    first_name = first.sidecar.index_file
    first_bytes = (tmp_path / first_name).read_bytes()
    second = save_vector_index(
        tmp_path, build_flat_index(np.arange(3), vectors, model_id="a", generation=4)
    )
    assert second.sidecar.index_file != first_name
    assert not (tmp_path / first_name).exists() and first_bytes  # replaced by name, not in place


def test_allowed_ids_filter_inside_the_search() -> None:
    ids = np.arange(1000, dtype=np.int64)
    vectors = random_unit_vectors(1000, 16, seed=5)
    index = build_flat_index(ids, vectors, model_id="m", generation=1)
    allowed = np.array([3, 500, 777, 901, 13], dtype=np.int64)
    query = random_unit_vectors(1, 16, seed=6)
    _scores, found = index.search(query, k=3, allowed_ids=allowed)
    expected = allowed[np.argsort(-(vectors[allowed] @ query[0]))][:3]
    np.testing.assert_array_equal(found[0], expected)
