"""A library's precision: a new library on a CPU is embedded by int8 towers, the library records
it, later runs keep it, and a run that would mix fp32 and int8 vectors is refused before it
writes anything."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_pictures
from PIL import Image
from sqlalchemy import delete

from pixsift.cli.main import main
from pixsift.search.errors import InvalidInputError, ModelMismatchError
from pixsift.search.library import Library
from pixsift.search.library_model import INT8_AUTO_AGREEMENT, STATE_IMAGE_PRECISION
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.model.loading import load_embedder
from pixsift.search.model.spec import Runtime
from pixsift.search.storage.models import LibraryState


def _index(folder: Path, cli_args: list[str], *options: str) -> str:
    result = CliRunner().invoke(
        main, [*options, "index", str(folder), "--workers", "1", "--no-progress", *cli_args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def _precision(directory: Path) -> str | None:
    with Library.open(directory) as library:
        return library.store.get_state(STATE_IMAGE_PRECISION)


def _stored(directory: Path) -> dict[str, np.ndarray]:
    with Library.open(directory) as library:
        ids, vectors = library.store.all_embeddings(library.store.model_id() or "")
        records = library.images([int(i) for i in ids])
        return {
            Path(records[int(i)].absolute_path).name: vector
            for i, vector in zip(ids, vectors, strict=True)
        }


def test_a_new_library_on_a_cpu_is_embedded_by_int8_towers_and_keeps_them(
    tmp_path: Path, cli_args: list[str], tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSIFT_QUANTIZE", "auto")  # the default users get
    folder = tmp_path / "pictures"
    write_pictures(folder, 3)
    _index(folder, cli_args, "--backend", "auto")
    library_directory = tmp_path / "library"
    assert _precision(library_directory) == "int8"

    # The stored vectors are the int8 towers' (not the fp32 ones', which differ at this size).
    # Compared as the indexer embedded them, the three in one batch: int8 activations are
    # quantized per batch, so another grouping moves a vector as far as fp32 does (~4e-3).
    int8 = load_embedder(tiny_spec, Runtime(backend="onnx", quantize="int8", threads=1))
    fp32 = load_embedder(tiny_spec, Runtime(backend="onnx", threads=1))
    stored = _stored(library_directory)
    pictures = sorted(folder.iterdir())
    with Library.open(library_directory) as library:  # its searches run the same towers
        assert library.embedder.image_precision == "int8"
    opened = [Image.open(path).convert("RGB") for path in pictures]
    expected, other = int8.embed_images(opened), fp32.embed_images(opened)
    got = np.stack([stored[path.name] for path in pictures])
    assert np.abs(got - expected).max() < 1e-4
    assert np.abs(got - other).max() > 1e-3  # the two towers are told apart at this tolerance

    # A later run with the default keeps int8; one that asks for fp32 is refused, unwritten.
    write_pictures(folder, 1, first_seed=50, suffix=".jpg")
    assert "added 1" in _index(folder, cli_args)
    write_pictures(folder, 1, first_seed=60, suffix=".jpg")
    monkeypatch.setenv("PIXSIFT_QUANTIZE", "fp32")
    refused = CliRunner().invoke(
        main, ["index", str(folder), "--workers", "1", "--no-progress", *cli_args]
    )
    assert refused.exit_code != 0
    assert "int8 towers" in refused.output and "--quantize int8" in refused.output
    assert "Traceback" not in refused.output
    assert len(_stored(library_directory)) == 4 and _precision(library_directory) == "int8"


def test_a_library_made_before_precision_was_recorded_stays_fp32(
    tmp_path: Path, cli_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "pictures"
    write_pictures(folder, 2)
    _index(folder, cli_args)  # fp32 (the tests' pin), as every library was built before
    library_directory = tmp_path / "library"
    with Library.open(library_directory) as library, library.store.session() as session:
        session.execute(delete(LibraryState).where(LibraryState.key == STATE_IMAGE_PRECISION))
    before = _stored(library_directory)

    monkeypatch.setenv("PIXSIFT_QUANTIZE", "auto")
    with Library.open(library_directory) as library:
        assert library.runtime().quantize is None
    write_pictures(folder, 1, first_seed=70, suffix=".jpg")
    assert "added 1" in _index(folder, cli_args)
    after = _stored(library_directory)
    assert all(np.array_equal(after[name], vector) for name, vector in before.items())
    assert _precision(library_directory) is None  # nothing claimed about what it cannot know


def _chosen(library: Library) -> tuple[str, str | None]:
    runtime = library.runtime()
    return runtime.backend, runtime.quantize


def test_the_runtime_follows_the_recorded_precision_and_an_explicit_ask(
    library: Library, tiny_embedder: OpenClipEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXSIFT_QUANTIZE", "auto")
    monkeypatch.setenv("PIXSIFT_BACKEND", "auto")
    assert _chosen(library) == ("auto", "int8")  # a new library: int8 asked for
    assert library.runtime().int8_floor == INT8_AUTO_AGREEMENT
    library.claim_model(tiny_embedder)  # torch: fp32 weights, recorded as such
    assert library.store.get_state(STATE_IMAGE_PRECISION) == "fp32"
    assert library.runtime().quantize is None

    library.store.set_state(STATE_IMAGE_PRECISION, "int8")
    # An int8 library runs its int8 ONNX towers even where "auto" would pick torch on a GPU.
    assert _chosen(library) == ("onnx", "int8")
    monkeypatch.setenv("PIXSIFT_QUANTIZE", "fp32")  # a search may ask for another
    assert library.runtime().quantize is None
    with pytest.raises(ModelMismatchError, match="--quantize int8"):
        library.claim_model(tiny_embedder)  # but an indexing run may not write fp32 vectors
    monkeypatch.setenv("PIXSIFT_QUANTIZE", "int4")
    with pytest.raises(InvalidInputError, match="auto, fp32 or int8"):
        library.runtime()


def test_a_precision_the_cli_does_not_know_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--quantize", "int4", "stats", "--library", str(tmp_path)])
    assert result.exit_code == 2 and "'int4' is not one of 'auto', 'fp32', 'int8'" in result.output


def test_auto_keeps_fp32_for_a_model_whose_int8_towers_stray_from_it(
    tmp_path: Path,
    cli_args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The default's guard: int8 only where the int8 image tower agrees with fp32 (the tiny
    model's does to ~0.9999: here the floor is set above any agreement)."""
    monkeypatch.setenv("PIXSIFT_QUANTIZE", "auto")
    monkeypatch.setattr("pixsift.search.library_model.INT8_AUTO_AGREEMENT", 1.01)
    folder = tmp_path / "pictures"
    write_pictures(folder, 2)
    with caplog.at_level("INFO"):
        _index(folder, cli_args, "--backend", "onnx")
    assert _precision(tmp_path / "library") == "fp32"
    assert "embedding with the fp32 towers" in caplog.text
    # Asked for explicitly, int8 is int8 whatever the agreement.
    monkeypatch.setenv("PIXSIFT_QUANTIZE", "int8")
    explicit = tmp_path / "explicit"
    _index(folder, [*cli_args[2:], "--library", str(explicit)], "--backend", "onnx")
    assert _precision(explicit) == "int8"


def test_where_the_int8_towers_cannot_be_written_auto_embeds_fp32_and_int8_says_why(
    tmp_path: Path,
    cli_args: list[str],
    tiny_spec: ModelSpec,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read-only cache folder (as the query tower's int8 copy, test_query_tower.py): the
    default goes on at fp32, an explicit int8 is one line, and nothing is written either way."""
    import onnxruntime.quantization

    def read_only(_source: str, target: str, **_options: object) -> None:
        raise PermissionError(13, "Permission denied", target)

    load_embedder(tiny_spec, Runtime(backend="onnx", threads=1))  # the fp32 towers exist
    int8_folders = list((Path(os.environ["PIXSIFT_CACHE_DIR"]) / "onnx").glob("*-int8"))
    for folder in int8_folders:  # made by another test: moved aside, put back after
        folder.rename(folder.with_name(folder.name + ".aside"))
    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", read_only)
    try:
        folder = tmp_path / "pictures"
        write_pictures(folder, 2)
        monkeypatch.setenv("PIXSIFT_QUANTIZE", "int8")
        refused = CliRunner().invoke(
            main, ["index", str(folder), "--workers", "1", "--no-progress", *cli_args]
        )
        assert refused.exit_code != 0 and "cannot write the int8 towers" in refused.output
        assert "Traceback" not in refused.output and _stored(tmp_path / "library") == {}
        monkeypatch.setenv("PIXSIFT_QUANTIZE", "auto")
        assert "added 2" in _index(folder, cli_args, "--backend", "onnx")
        assert _precision(tmp_path / "library") == "fp32"
    finally:
        for folder in int8_folders:
            folder.with_name(folder.name + ".aside").rename(folder)
