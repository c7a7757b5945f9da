"""The first-run ONNX export runs in a child process: the user's process never builds the torch
model for it, prints one progress line as it starts and one when the towers are ready, and then
loads the published towers like any later run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pixsift.search.model.export as export_module
import pixsift.search.model.loading as loading
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.model.ort import OnnxEmbedder
from pixsift.search.model.spec import ModelSpec, Runtime


def not_here(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the export ran in the user's process")


def test_the_export_runs_in_a_child_and_its_towers_are_used(
    tiny_spec: ModelSpec,
    tiny_embedder: OpenClipEmbedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PIXSIFT_CACHE_DIR", str(tmp_path / "cache"))
    # The tests import torch, so the export would stay in-process; ask for the child anyway.
    monkeypatch.setattr(loading, "_export_in_child_process", lambda: True)
    monkeypatch.setattr(export_module, "export_towers", not_here)
    monkeypatch.setattr(loading, "_torch_embedder", not_here)
    embedder = loading.load_embedder(tiny_spec, Runtime(backend="onnx", threads=1))
    assert isinstance(embedder, OnnxEmbedder)
    assert embedder.directory.is_relative_to(tmp_path / "cache")
    expected = tiny_embedder.embed_texts(["a red ball"])
    got = embedder.embed_texts(["a red ball"])
    assert float(np.dot(expected[0], got[0])) > 0.999
    stderr = capfd.readouterr().err
    assert "preparing" in stderr and "in a child process" in stderr
    assert "peak memory" in stderr
    # A later run finds the towers: no child, no progress line.
    again = loading.load_embedder(tiny_spec, Runtime(backend="onnx", threads=1))
    assert isinstance(again, OnnxEmbedder)
    assert "preparing" not in capfd.readouterr().err
