"""Start-up that costs nothing when nothing needs the model: a CLI search with cached towers
imports neither torch nor open_clip, an unchanged folder is re-indexed without loading the model,
and ONNX Runtime is the default backend on a CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import pixsift.search.model.loading as loading_module
from pixsift.cli.main import main
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.ort import OnnxEmbedder
from pixsift.search.model.spec import ModelSpec, Runtime

HEAVY = ("torch", "torchvision", "open_clip")
PROBE = """
import json, sys
from pixsift.cli.main import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, tiny_spec: ModelSpec) -> tuple[Path, Path]:
    from conftest import write_pictures

    root = tmp_path_factory.mktemp("startup")
    folder, library = root / "pictures", root / "library"
    write_pictures(folder, 6)
    model = ["--model", tiny_spec.model_name, "--pretrained", tiny_spec.pretrained]
    arguments = ["index", str(folder), "--library", str(library), "--workers", "1", *model]
    result = CliRunner().invoke(main, [*arguments, "--no-progress"])
    assert result.exit_code == 0, result.output
    return folder, library


def run_cli(*arguments: str) -> tuple[str, list[str]]:
    """Run pixsift in a fresh interpreter: its output and the heavy modules it imported."""
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout, json.loads(completed.stderr.strip().splitlines()[-1])


def test_the_default_backend_is_onnx_runtime_on_a_cpu(
    indexed: tuple[Path, Path], tiny_spec: ModelSpec
) -> None:
    assert Runtime().backend == "auto"
    assert isinstance(loading_module.load_embedder(tiny_spec), OnnxEmbedder)


def test_a_cli_search_imports_neither_torch_nor_open_clip(indexed: tuple[Path, Path]) -> None:
    folder, library = indexed
    output, heavy = run_cli("search", "a dog", "--library", str(library), "-k", "2")
    assert len(output.strip().splitlines()) == 2 and heavy == []
    example = folder / "picture-0003.png"
    output, heavy = run_cli("search", "--image", str(example), "--library", str(library))
    assert output.splitlines()[0].split()[1] == str(example) and heavy == []


def test_an_unchanged_folder_is_reindexed_without_loading_the_model(
    indexed: tuple[Path, Path], tiny_spec: ModelSpec
) -> None:
    folder, library_directory = indexed

    def no_model() -> OnnxEmbedder:
        raise AssertionError("the model was loaded although nothing needed embedding")

    with Library.open(library_directory) as library:
        stamp = library.store.index_generation()
        indexer = Indexer(
            library,
            None,
            IndexingOptions(workers=1, show_progress=False),
            model_spec=tiny_spec,
            embedder_loader=no_model,
        )
        summary = indexer.index([folder])
        assert summary.unchanged == 6 and summary.processed == 0
        assert library.store.index_generation() == stamp
    output, heavy = run_cli("index", str(folder), "--library", str(library_directory))
    assert "unchanged 6" in output and " in 0.0 s" not in output and heavy == []


def test_onnx_sessions_follow_the_thread_budget(
    tiny_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading_module, "_thread_budget", None)
    loading_module.set_thread_budget(1)
    embedder = loading_module.load_embedder(tiny_spec, loading_module.runtime_from_settings())
    assert isinstance(embedder, OnnxEmbedder) and embedder.threads == 1


def test_a_server_worker_and_a_one_query_command_cap_numpys_blas_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Small products on a busy machine: one BLAS thread took 30 us, two took 8 ms."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    monkeypatch.setattr(loading_module, "_thread_budget", None)
    monkeypatch.setattr(loading_module, "_quick_start", False)
    with threadpool_limits(limits=2, user_api="blas"):  # put back as it was afterwards
        if blas_threads() != {2}:
            pytest.skip("OpenBLAS runs one thread on this machine whatever it is asked")
        loading_module.set_thread_budget(1)  # a worker's share on 2 cores
        assert blas_threads() == {1}
        threadpool_limits(limits=2, user_api="blas")
        loading_module.start_quickly()  # `pixsift search`
        assert blas_threads() == {1}


def test_the_console_script_collects_garbage_again_except_for_a_one_shot_search() -> None:
    """run() turns the cyclic collector off for the imports; every command but a search (one
    query, then the process ends) gets it back before it runs."""
    import gc

    from pixsift.cli.main import ONE_SHOT_COMMANDS, LazyGroup

    group = LazyGroup()
    was_enabled = gc.isenabled()
    try:
        for name, stays_off in (("search", True), ("stats", False), ("index", False)):
            gc.disable()
            assert group.get_command(None, name) is not None  # type: ignore[arg-type]
            assert gc.isenabled() is not stays_off, name
        assert {"search"} == ONE_SHOT_COMMANDS
    finally:
        if was_enabled:
            gc.enable()
