"""ONNX Runtime towers: exported once from torch, checked against it, cached, and used without
building the torch model again; refused (torch kept) when they disagree."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import TINY_MODEL_NAME, make_picture, write_tiny_checkpoint

import pixsift.search.model.checkpoints as checkpoints
import pixsift.search.model.export as export_module
import pixsift.search.model.loading as loading
from pixsift.search.errors import InvalidInputError
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.model.export import TowerExportRejectedError
from pixsift.search.model.loading import load_embedder, runtime_from_settings
from pixsift.search.model.ort import OnnxEmbedder
from pixsift.search.model.spec import ModelSpec, Runtime

TEXTS = ["", "a", "a photo of a dog", "a red bicycle leaning on a wall next to a green door"]


@pytest.fixture(scope="module")
def cache_dir(private_cache_directory: Path) -> Path:
    return private_cache_directory


@pytest.fixture(scope="module")
def onnx_embedder(cache_dir: Path, tiny_spec: ModelSpec) -> OnnxEmbedder:
    embedder = load_embedder(tiny_spec, Runtime(backend="onnx", threads=1))
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


def cosines(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.sum(first * second, axis=1)


def test_onnx_towers_give_torchs_vectors(
    onnx_embedder: OnnxEmbedder, tiny_embedder: OpenClipEmbedder
) -> None:
    assert onnx_embedder.model_id == tiny_embedder.model_id
    assert onnx_embedder.dimension == tiny_embedder.dimension
    pictures = [make_picture(seed, size=(40 + seed * 7, 30 + seed * 5)) for seed in range(5)]
    image_cosines = cosines(
        onnx_embedder.embed_images(pictures), tiny_embedder.embed_images(pictures)
    )
    exact = tiny_embedder.embed_texts_full_context(TEXTS)
    text_cosines = cosines(onnx_embedder.embed_texts(TEXTS), exact)  # the fp32 tower (conftest)
    assert image_cosines.min() >= 0.99999
    assert text_cosines.min() >= 0.99999
    # Users' text queries run the int8 copy by default (search.model.query_tower): close, and
    # not the same tower.
    default = OnnxEmbedder(
        onnx_embedder.directory,
        onnx_embedder.info,
        onnx_embedder.preprocess,
        onnx_embedder.tokenizer,
        threads=1,
        query_tower="auto",
    )
    assert 0.99 <= cosines(default.embed_texts(TEXTS), exact).min() < 0.99999
    # One text alone runs over fewer tokens than in a batch with longer ones: same vector.
    alone = onnx_embedder.embed_texts(["a photo of a cat"])
    batched = onnx_embedder.embed_texts(["a photo of a cat", TEXTS[-1]])[:1]
    assert cosines(alone, batched).min() >= 0.99999
    assert onnx_embedder.info.agreement["image"] >= 0.99999


def test_cached_towers_load_without_building_the_torch_model(
    onnx_embedder: OnnxEmbedder, tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_torch_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the torch model was built although the towers are cached")

    monkeypatch.setattr(OpenClipEmbedder, "load", no_torch_model)
    again = load_embedder(tiny_spec, Runtime(backend="onnx"))
    assert isinstance(again, OnnxEmbedder)
    np.testing.assert_allclose(
        again.embed_texts(["cat"]), onnx_embedder.embed_texts(["cat"]), atol=1e-6
    )


def test_towers_that_disagree_with_torch_are_refused(
    cache_dir: Path, tiny_model_config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Other weights (another hash): nothing cached for them yet.
    other = write_tiny_checkpoint(tmp_path / "other.pt", seed=1)
    spec = ModelSpec(model_name=TINY_MODEL_NAME, pretrained=str(other))
    monkeypatch.setattr(export_module, "AGREEMENT_THRESHOLD", 1.5)  # nothing can agree
    with pytest.raises(TowerExportRejectedError):
        load_embedder(spec, Runtime(backend="onnx"))
    assert isinstance(load_embedder(spec, Runtime(backend="auto")), OpenClipEmbedder)


def test_int8_towers_are_made_from_the_fp32_ones_without_torch_and_record_their_agreement(
    onnx_embedder: OnnxEmbedder, tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    int8_directory = onnx_embedder.directory.with_name(onnx_embedder.directory.name + "-int8")
    shutil.rmtree(int8_directory, ignore_errors=True)  # another test's

    def no_export(*_args: object) -> None:
        raise AssertionError("the int8 towers were exported from torch again")

    monkeypatch.setattr(loading, "_export", no_export)
    monkeypatch.setattr(loading, "_export_in_child", no_export)
    embedder = load_embedder(tiny_spec, Runtime(backend="onnx", quantize="int8", threads=1))
    assert isinstance(embedder, OnnxEmbedder) and embedder.directory == int8_directory
    assert embedder.info.quantize == "int8" and embedder.image_precision == "int8"
    for tower in ("image.onnx", "text.onnx"):  # int8 weights, multiplied as integers
        operators = {node.op_type for node in onnx.load(str(int8_directory / tower)).graph.node}
        assert {"MatMulInteger", "DynamicQuantizeMatMul"} & operators, operators
        # The weights in a file of their own, which ONNX Runtime maps instead of copying.
        weights = int8_directory / f"{tower}.data"
        assert weights.stat().st_size > 4 * (int8_directory / tower).stat().st_size
    # Only the tokenizer's files are copied from the fp32 towers' folder, not their weights.
    assert sorted(path.name for path in int8_directory.iterdir()) == [
        "clip-bpe-merges.txt", "image.onnx", "image.onnx.data", "text.onnx", "text.onnx.data",
        "towers.json",
    ]  # fmt: skip
    pixels = np.random.default_rng(3).standard_normal((3, 3, 32, 32)).astype(np.float32)
    quick, exact = embedder.embed_pixel_batch(pixels), onnx_embedder.embed_pixel_batch(pixels)
    cosines = np.sum(quick * exact, axis=1)
    assert cosines.min() > 0.99 and np.abs(quick - exact).max() > 1e-5  # close, not the same
    assert 0.99 < embedder.info.agreement["image"] < 1.0
    assert 0.99 < embedder.info.agreement["text"] <= 1.0001
    # Once made, they load alone (a CLI search of an int8 library reads nothing of fp32's).
    fp32_directory = onnx_embedder.directory
    aside = fp32_directory.with_name(fp32_directory.name + ".aside")
    fp32_directory.rename(aside)
    try:
        again = load_embedder(tiny_spec, Runtime(backend="onnx", quantize="int8", threads=1))
        assert isinstance(again, OnnxEmbedder) and again.directory == int8_directory
    finally:
        aside.rename(fp32_directory)


def test_a_checkpoints_hash_is_remembered_until_the_file_changes(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = tmp_path / "weights.pt"
    checkpoint.write_bytes(tiny_checkpoint.read_bytes())
    first = checkpoints.checkpoint_digest(checkpoint, tmp_path / "cache")

    def no_hashing(path: Path) -> str:
        raise AssertionError("hashed again although the file did not change")

    with monkeypatch.context() as patch:
        patch.setattr(checkpoints, "_file_digest", no_hashing)
        assert checkpoints.checkpoint_digest(checkpoint, tmp_path / "cache") == first
    checkpoint.write_bytes(checkpoint.read_bytes() + b"changed")
    assert checkpoints.checkpoint_digest(checkpoint, tmp_path / "cache") != first


def test_a_backend_named_in_the_environment_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSIFT_BACKEND", "tensorflow")
    with pytest.raises(InvalidInputError, match="backend must be one of"):
        runtime_from_settings()
    monkeypatch.setenv("PIXSIFT_BACKEND", "auto")
    monkeypatch.setenv("PIXSIFT_QUANTIZE", "int4")
    with pytest.raises(InvalidInputError, match="quantize"):
        runtime_from_settings()
    monkeypatch.setenv("PIXSIFT_QUANTIZE", "int8")
    assert runtime_from_settings() == Runtime(backend="auto", quantize="int8")


@pytest.mark.parametrize(
    ("value", "level"),
    [("disable", "ORT_DISABLE_ALL"), ("basic", "ORT_ENABLE_BASIC"), ("all", "ORT_ENABLE_ALL")],
)
def test_graph_optimisations_follow_the_environment_and_give_the_same_vectors(
    onnx_embedder: OnnxEmbedder,
    tiny_spec: ModelSpec,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    level: str,
) -> None:
    """CI runs the float tests with ONNX Runtime's graph rewrites off (another CPU, other
    kernels): a session opens with the level asked for and its vectors agree with the default."""
    import onnxruntime

    monkeypatch.setenv("PIXSIFT_ORT_GRAPH_OPTIMIZATION", value)
    embedder = load_embedder(tiny_spec, Runtime(backend="onnx", threads=1))
    assert isinstance(embedder, OnnxEmbedder)
    pictures = [make_picture(seed) for seed in range(3)]
    vectors = embedder.embed_images(pictures)
    options = embedder._session("image").get_session_options()
    assert options.graph_optimization_level == getattr(onnxruntime.GraphOptimizationLevel, level)
    assert cosines(vectors, onnx_embedder.embed_images(pictures)).min() >= 0.99999


def test_an_unknown_graph_optimisation_level_is_one_line(
    tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSIFT_ORT_GRAPH_OPTIMIZATION", "fastest")
    embedder = load_embedder(tiny_spec, Runtime(backend="onnx", threads=1))
    with pytest.raises(InvalidInputError, match="PIXSIFT_ORT_GRAPH_OPTIMIZATION must be one of"):
        embedder.embed_texts(["a dog"])


def test_quick_start_sessions_skip_prepacking_and_spinning_with_the_same_vectors(
    onnx_embedder: OnnxEmbedder, tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI search opens its sessions for one query (start_quickly): no weight pre-packing, no
    spinning threads; the towers compute the same vectors."""
    import pixsift.search.model.loading as loading_module
    from pixsift.search.model.session_options import QUICK_START_SESSION_CONFIG

    monkeypatch.setattr(loading_module, "_quick_start", False)
    default = load_embedder(tiny_spec, Runtime(backend="onnx", threads=1))
    loading_module.start_quickly()
    quick = load_embedder(tiny_spec, Runtime(backend="onnx", threads=1))
    assert isinstance(quick, OnnxEmbedder) and quick.quick_start
    assert isinstance(default, OnnxEmbedder) and not default.quick_start
    pictures = [make_picture(seed) for seed in range(3)]
    assert cosines(quick.embed_texts(TEXTS), default.embed_texts(TEXTS)).min() >= 0.99999
    assert cosines(quick.embed_images(pictures), default.embed_images(pictures)).min() >= (0.99999)
    for tower in ("text", "image"):
        options = quick._session(tower).get_session_options()
        for key, value in QUICK_START_SESSION_CONFIG.items():
            assert options.get_session_config_entry(key) == value
    default_options = default._session("text").get_session_options()
    with pytest.raises(RuntimeError, match="does not have configuration"):
        default_options.get_session_config_entry("session.disable_prepacking")
