"""PIXSIFT_QUERY_TOWER: by default ("auto") text queries run an int8 copy of the exported text
tower, made beside it at export; the image tower stays fp32, query vectors stay close to fp32
ones and rank a small library's pictures nearly alike; without the onnx package to make the copy,
"auto" runs fp32 and "int8" says what to install; a wrong value is one line."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import make_picture

from pixsift.search.errors import InvalidInputError
from pixsift.search.model.loading import load_embedder
from pixsift.search.model.ort import OnnxEmbedder
from pixsift.search.model.query_tower import INT8_TEXT_FILE, int8_text_tower
from pixsift.search.model.spec import ModelSpec, Runtime

TEXTS = [f"a photo of a {c} {t} number {i}" for i, (c, t) in enumerate(
    (c, t) for c in ("red", "green", "blue", "dark", "bright") for t in ("dog", "house", "car", "sky")
)]  # fmt: skip


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    """Context managers the test enters, left when it ends."""
    with ExitStack() as opened:
        yield opened


@contextmanager
def without_int8_copy(directory: Path) -> Iterator[None]:
    """Towers exported before the copy was made; the shared cache gets its copy back after."""
    copy, aside = directory / INT8_TEXT_FILE, directory / f"{INT8_TEXT_FILE}.aside"
    copy.replace(aside)
    try:
        yield
    finally:
        aside.replace(copy)


def towers(spec: ModelSpec, monkeypatch: pytest.MonkeyPatch, value: str) -> OnnxEmbedder:
    monkeypatch.setenv("PIXSIFT_QUERY_TOWER", value)
    embedder = load_embedder(spec, Runtime(backend="onnx", threads=1))
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


def test_int8_query_tower_is_made_once_and_ranks_like_fp32(
    private_cache_directory: Path, tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    fp32 = towers(tiny_spec, monkeypatch, "fp32")
    int8 = towers(tiny_spec, monkeypatch, "int8")
    exact, quick = fp32.embed_texts(TEXTS), int8.embed_texts(TEXTS)
    assert (int8.directory / INT8_TEXT_FILE).is_file()
    # Another tower ran (not fp32 again), and its vectors stay close to fp32's.
    assert np.abs(exact - quick).max() > 1e-4
    assert np.sum(exact * quick, axis=1).min() >= 0.99
    pictures = [make_picture(seed) for seed in range(60)]
    images = fp32.embed_images(pictures)
    assert np.array_equal(int8.embed_images(pictures[:4]), images[:4])  # images stay fp32
    overlaps = [
        len(set(np.argsort(-(images @ e))[:10]) & set(np.argsort(-(images @ q))[:10])) / 10
        for e, q in zip(exact, quick, strict=True)
    ]
    assert float(np.mean(overlaps)) >= 0.9, overlaps


def test_a_wrong_query_tower_is_one_line(
    tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InvalidInputError, match="PIXSIFT_QUERY_TOWER must be auto, fp32 or int8"):
        towers(tiny_spec, monkeypatch, "fp8")


def test_text_queries_run_the_int8_copy_made_at_export_by_default(
    private_cache_directory: Path, tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIXSIFT_QUERY_TOWER", raising=False)
    default = load_embedder(tiny_spec, Runtime(backend="onnx", threads=1))
    assert isinstance(default, OnnxEmbedder)
    assert (default.directory / INT8_TEXT_FILE).is_file()  # made by the export, before any query
    made = (default.directory / INT8_TEXT_FILE).stat().st_mtime_ns
    quick = default.embed_texts(TEXTS)
    assert (default.directory / INT8_TEXT_FILE).stat().st_mtime_ns == made
    np.testing.assert_allclose(quick, towers(tiny_spec, monkeypatch, "int8").embed_texts(TEXTS))
    assert np.abs(quick - towers(tiny_spec, monkeypatch, "fp32").embed_texts(TEXTS)).max() > 1e-4


def _no_onnx_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "onnx" else real_find_spec(name, *args),
    )


def _read_only_cache_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime.quantization

    def read_only(_source: str, staging: str, **_options: object) -> None:
        raise PermissionError(13, "Permission denied", staging)

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", read_only)


@pytest.mark.parametrize(
    ("cannot_make_the_copy", "what_int8_says"),
    [
        (_no_onnx_package, "pip install onnx"),
        (_read_only_cache_folder, "cannot write the int8 text tower"),
    ],
    ids=["no-onnx-package", "read-only-cache-folder"],
)
def test_where_the_int8_copy_cannot_be_made_auto_runs_fp32_and_int8_says_why(
    private_cache_directory: Path,
    tiny_spec: ModelSpec,
    monkeypatch: pytest.MonkeyPatch,
    stack: ExitStack,
    cannot_make_the_copy: Callable[[pytest.MonkeyPatch], None],
    what_int8_says: str,
) -> None:
    exact = towers(tiny_spec, monkeypatch, "fp32")
    stack.enter_context(without_int8_copy(exact.directory))  # towers exported before the copy
    cannot_make_the_copy(monkeypatch)
    auto = towers(tiny_spec, monkeypatch, "auto")
    np.testing.assert_array_equal(auto.embed_texts(TEXTS), exact.embed_texts(TEXTS))
    with pytest.raises(InvalidInputError, match=what_int8_says):
        towers(tiny_spec, monkeypatch, "int8").embed_texts(TEXTS)
    assert not (exact.directory / INT8_TEXT_FILE).exists()


def test_making_int8_weights_prints_no_advice_a_user_cannot_act_on(
    private_cache_directory: Path,
    tiny_spec: ModelSpec,
    monkeypatch: pytest.MonkeyPatch,
    stack: ExitStack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ONNX Runtime's quantizer advises pre-processing on the root logger: on a first `pixsift
    index` that was a line per tower on the user's terminal."""
    directory = towers(tiny_spec, monkeypatch, "fp32").directory
    stack.enter_context(without_int8_copy(directory))
    with caplog.at_level("INFO"):
        made = int8_text_tower(directory)
    assert made.is_file() and made.stat().st_size > 0
    assert "pre-processing" not in caplog.text
    assert logging.getLogger().filters == []  # the filter goes with the quantization


def test_the_int8_copy_keeps_its_weights_in_a_mapped_file_and_computes_the_quantizers_vectors(
    private_cache_directory: Path, tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Weights inside the graph file are copied one by one when a session opens (~0.1 s of a
    one-query CLI search for ViT-B-32); in a file of their own they are mapped. The saved graph
    is rewritten ahead ("extended" level): it must still compute what the quantizer made."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    directory = towers(tiny_spec, monkeypatch, "fp32").directory
    copy = int8_text_tower(directory)
    weights = copy.with_name(f"{INT8_TEXT_FILE}.data")
    assert weights.stat().st_size > 4 * copy.stat().st_size
    plain = tmp_path / "plain.onnx"
    quantize_dynamic(str(directory / "text.onnx"), str(plain), weight_type=QuantType.QInt8)
    tokens = np.array([[49406, 320, 1929, 539, 320, 736, 1615, 49407]], dtype=np.int64)
    vectors = [
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            None, {"tokens": tokens}
        )[0]
        for path in (copy, plain)
    ]
    np.testing.assert_allclose(vectors[0], vectors[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("level", "products"), [("all", "DynamicQuantizeMatMul"), ("disable", "MatMulInteger")]
)
def test_the_int8_copy_is_rewritten_ahead_only_as_far_as_sessions_may_rewrite(
    private_cache_directory: Path, tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch,
    stack: ExitStack, level: str, products: str,
) -> None:  # fmt: skip
    """Saved pre-optimised to the "extended" level by default (the quantizer's integer products
    fused); CI's plain-kernel run (PIXSIFT_ORT_GRAPH_OPTIMIZATION=disable) keeps the graph as the
    quantizer wrote it, else its float checks would run rewritten kernels after all."""
    import onnx

    directory = towers(tiny_spec, monkeypatch, "fp32").directory
    stack.enter_context(without_int8_copy(directory))
    monkeypatch.setenv("PIXSIFT_ORT_GRAPH_OPTIMIZATION", level)
    copy = int8_text_tower(directory)
    operators = {node.op_type for node in onnx.load(str(copy), load_external_data=False).graph.node}
    assert products in operators, operators
