"""Search parameters tuned for the queries users send: held-out images and text-like queries
reach the recall target; the exact answers are computed once per build; the reached recall per
query kind is kept in the sidecar and shown by ``pixsift stats`` and the API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks.vectors import structured_vectors
from pixsift.cli.main import main
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.vectors import tune
from pixsift.search.vectors.build import build_index
from pixsift.search.vectors.persist import load_vector_index, publish_vector_index
from pixsift.search.vectors.sidecar import read_sidecar
from pixsift.search.vectors.text_like import synthetic_text_queries, tuning_prompts
from pixsift.web.app import create_app

COUNT = 10_000
DIMENSION = 64
INDEX_TYPE = "IVF64,Flat"
TARGET = 0.95


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored (ids, vectors) and held-out image queries (not in the index)."""
    vectors = np.concatenate(list(structured_vectors(COUNT + 200, DIMENSION, seed=5)))
    ids = np.arange(1, COUNT + 1, dtype=np.int64)
    return ids, vectors[200:], vectors[:200]


def best_match(queries: np.ndarray, stored: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    scores = queries @ stored.T
    if exclude_self:
        scores[scores > 0.9999] = -1
    return scores.max(axis=1)


def test_synthetic_text_queries_score_like_texts_against_images() -> None:
    # At CLIP's dimension: a text's best image match is near cosine 0.3, an image's near 0.9.
    stored = np.concatenate(list(structured_vectors(6000, 512, seed=11)))
    images, others = stored[:5000], stored[5000:5200]
    texts = synthetic_text_queries(images, 200, seed=3)
    assert texts.shape == (200, 512) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    text_best = best_match(texts, images)
    image_best = best_match(others, images)
    assert 0.2 <= float(np.median(text_best)) <= 0.4
    assert float(np.percentile(text_best, 90)) < 0.5
    assert float(np.median(image_best)) > 0.6
    # Seeded: the same queries every build.
    np.testing.assert_array_equal(texts, synthetic_text_queries(images, 200, seed=3))


def test_tuning_reaches_the_target_for_text_where_image_only_tuning_does_not(data) -> None:
    ids, vectors, held_out_images = data
    prompts = synthetic_text_queries(vectors, 200, seed=21)  # stands in for prompt embeddings
    index = build_index(
        ids,
        vectors,
        model_id="m",
        generation=1,
        index_type=INDEX_TYPE,
        text_queries=lambda: prompts,
    )
    held_out_texts = synthetic_text_queries(vectors, 200, seed=99)
    image_only = tune.tune_search_parameters(index, [tune.image_queries(index)], TARGET)
    # The old way: tuned on images alone, text queries fall well short of the target.
    assert tune.measure_recall(index, image_only.search_params, query_vectors=held_out_texts) < 0.9
    sidecar = index.sidecar
    assert set(sidecar.recall_by_kind) == {"images", "text"}
    assert min(sidecar.recall_by_kind.values()) >= TARGET + tune.RECALL_MARGIN
    assert sidecar.tuned_recall == min(sidecar.recall_by_kind.values())
    for held_out in (held_out_texts, held_out_images):
        assert tune.measure_recall(index, query_vectors=held_out) >= TARGET
    assert sidecar.search_params["nprobe"] > image_only.search_params["nprobe"]


def test_without_prompt_embeddings_synthetic_text_queries_are_tuned_on(data) -> None:
    ids, vectors, _ = data
    index = build_index(
        ids, vectors, model_id="m", generation=1, index_type=INDEX_TYPE, text_queries=lambda: None
    )
    assert set(index.sidecar.recall_by_kind) == {"images", "text-synthetic"}
    held_out_texts = synthetic_text_queries(vectors, 200, seed=99)
    assert tune.measure_recall(index, query_vectors=held_out_texts) >= TARGET


def test_the_cheapest_value_that_clears_the_target_by_the_margin_is_chosen(data) -> None:
    ids, vectors, _ = data
    index = build_index(ids, vectors, model_id="m", generation=1, index_type=INDEX_TYPE)
    kinds = tune.tuning_query_kinds(index)
    at_target = tune.tune_search_parameters(index, kinds, 0.9, margin=0.0)
    with_margin = tune.tune_search_parameters(index, kinds, 0.9, margin=0.09)
    assert at_target.worst_recall >= 0.9 and with_margin.worst_recall >= 0.99
    chosen = with_margin.search_params["nprobe"]
    assert chosen > at_target.search_params["nprobe"]
    cheaper = tune.IVF_PROBES[tune.IVF_PROBES.index(chosen) - 1]
    judge = tune._RecallJudge(index, kinds, tune.TUNING_K)
    assert min(judge.recall({"nprobe": cheaper}, 1).values()) < 0.99


def test_synthetic_text_queries_lie_outside_the_image_cone() -> None:
    # CLIP's images share a large common component (the axis of their cone); texts lie in a
    # cone of their own (the modality gap), so they score low against that axis.
    rng = np.random.default_rng(12)
    axis = rng.standard_normal(128).astype(np.float32)
    axis /= np.linalg.norm(axis)
    spread = np.concatenate(list(structured_vectors(3000, 128, seed=13)))
    images = 0.8 * axis + 0.6 * spread
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    texts = synthetic_text_queries(images, 200, seed=14)
    assert float(np.median(images @ axis)) > 0.7
    assert float(np.median(np.abs(texts @ axis))) < 0.1
    assert 0.2 <= float(np.median(best_match(texts, images))) <= 0.5


def test_exact_answers_are_computed_once_per_build(data, monkeypatch: pytest.MonkeyPatch) -> None:
    ids, vectors, _ = data
    calls = {"exact": 0, "candidates": 0}
    exact, judge = tune.exact_answers, tune._RecallJudge.recall

    def counting_exact(*args, **kwargs):
        calls["exact"] += 1
        return exact(*args, **kwargs)

    def counting_judge(self, *args, **kwargs):
        calls["candidates"] += 1
        return judge(self, *args, **kwargs)

    monkeypatch.setattr(tune, "exact_answers", counting_exact)
    monkeypatch.setattr(tune._RecallJudge, "recall", counting_judge)
    # Lossy codes and a target only re-ranking more can reach: several nprobe values and
    # re-rank factors are tried, all against the one exact pass.
    index = build_index(
        ids[:3000],
        vectors[:3000],
        model_id="m",
        generation=1,
        index_type="IVF16,SQ4",
        recall_target=0.97,
    )
    assert index.sidecar.rerank_factor > 4  # it escalated
    assert calls["exact"] == 1
    assert calls["candidates"] >= 4


def test_exact_answers_match_brute_force(data) -> None:
    ids, vectors, queries = data
    half = vectors.astype(np.float16)
    scores = queries @ half.astype(np.float32).T
    expected = ids[np.argsort(-scores, axis=1, kind="stable")[:, :11]]
    floor = np.sort(scores, axis=1)[:, -40]  # a lower bound on each 11th best
    floor[::3] = -np.inf  # rows without a bound are ranked in full
    for bound in (None, floor):
        found = tune.exact_answers(queries, 11, ids, half, bound)
        np.testing.assert_array_equal(np.sort(found, axis=1), np.sort(expected, axis=1))


def test_sidecar_round_trips_the_recall_per_kind(data, tmp_path: Path) -> None:
    ids, vectors, _ = data
    index = build_index(ids, vectors, model_id="m", generation=4, index_type=INDEX_TYPE)
    publish_vector_index(tmp_path, index)
    fields = json.loads((tmp_path / "index.json").read_text())
    assert fields["recall_by_kind"] == index.sidecar.recall_by_kind
    assert fields["recall_target"] == TARGET
    assert {"train", "add", "tune"} <= set(fields["stage_seconds"])
    loaded = load_vector_index(tmp_path, expected_model_id="m")
    assert read_sidecar(tmp_path) == loaded.sidecar == index.sidecar
    assert loaded.sidecar.recall_by_kind["text-synthetic"] >= TARGET


def test_rebuild_tunes_on_the_models_prompts_and_stats_show_the_recall(
    tmp_path: Path, tiny_spec: ModelSpec, tiny_embedder: OpenClipEmbedder
) -> None:
    vectors = np.concatenate(
        list(structured_vectors(3000, tiny_embedder.dimension, seed=8, clusters=30))
    )
    directory = tmp_path / "library"
    with Library.open(directory, embedder=tiny_embedder) as library:
        library.claim_model(tiny_embedder, tiny_spec)  # what `pixsift rebuild-index` loads
        library.import_vectors(vectors, model_id=tiny_embedder.model_id, publish=False)
        library.rebuild_index(index_type="IVF16,Flat")
        recall = library.stats().index_recall
        assert set(recall) == {"images", "text"} and min(recall.values()) >= TARGET
        client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
        assert client.get("/api/stats").get_json()["index_recall"] == recall
    assert len(tuning_prompts()) == len(set(tuning_prompts())) >= 200

    runner = CliRunner()
    rebuilt = runner.invoke(main, ["rebuild-index", "--library", str(directory)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "recall@10 images" in rebuilt.output and "text-synthetic" not in rebuilt.output
    shown = runner.invoke(main, ["stats", "--library", str(directory)])
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.output.splitlines() if line.startswith("recall@10:"))
    assert f"images {recall['images']:.3f}" in line and f"text {recall['text']:.3f}" in line
    as_json = runner.invoke(main, ["stats", "--json", "--library", str(directory)])
    assert json.loads(as_json.output)["index_recall"] == recall


def test_a_rebuild_without_the_weights_falls_back_to_synthetic_text_queries(
    tmp_path: Path, tiny_spec: ModelSpec, tiny_embedder: OpenClipEmbedder
) -> None:
    vectors = np.concatenate(
        list(structured_vectors(3000, tiny_embedder.dimension, seed=8, clusters=30))
    )
    missing = ModelSpec(tiny_spec.model_name, str(tmp_path / "no-such-checkpoint.pt"))
    with Library.open(tmp_path / "library", model_spec=missing) as library:
        library.import_vectors(vectors, model_id=tiny_embedder.model_id, publish=False)
        index = library.rebuild_index(index_type="IVF16,Flat")
        assert set(index.sidecar.recall_by_kind) == {"images", "text-synthetic"}
        assert set(library.stats().index_recall) == {"images", "text-synthetic"}


def test_a_rebuild_can_tune_on_synthetic_queries_even_with_the_model_at_hand(
    tmp_path: Path, tiny_spec: ModelSpec, tiny_embedder: OpenClipEmbedder
) -> None:
    # Generated vectors are not the model's image embeddings: its texts say nothing about them.
    vectors = np.concatenate(
        list(structured_vectors(3000, tiny_embedder.dimension, seed=8, clusters=30))
    )
    with Library.open(tmp_path / "library", embedder=tiny_embedder) as library:
        library.claim_model(tiny_embedder, tiny_spec)
        library.import_vectors(vectors, model_id=tiny_embedder.model_id, publish=False)
        index = library.rebuild_index(index_type="IVF16,Flat", model_prompts=False)
        assert set(index.sidecar.recall_by_kind) == {"images", "text-synthetic"}
        assert min(index.sidecar.recall_by_kind.values()) >= TARGET


class CountingEmbedder:
    """The tiny model's text tower, counting the texts it embeds."""

    def __init__(self, embedder: OpenClipEmbedder) -> None:
        self.inner, self.model_id, self.dimension = embedder, embedder.model_id, embedder.dimension
        self.texts = 0

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed_texts(texts)


def test_a_writer_with_its_model_tunes_on_the_prompts_and_only_when_a_build_tunes(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder
) -> None:
    embedder = CountingEmbedder(tiny_embedder)
    small = np.concatenate(list(structured_vectors(500, embedder.dimension, seed=2)))
    large = np.concatenate(list(structured_vectors(20_500, embedder.dimension, seed=3)))
    with Library.open(tmp_path / "library", embedder=embedder) as library:  # type: ignore[arg-type]
        library.import_vectors(small, model_id=embedder.model_id)
        assert library.stats().index_type == "Flat" and embedder.texts == 0
        library.import_vectors(large, model_id=embedder.model_id)  # auto: now approximate
        recall = library.stats().index_recall
    assert embedder.texts == len(tuning_prompts())
    assert set(recall) == {"images", "text"} and min(recall.values()) >= TARGET
