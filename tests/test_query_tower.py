"""PIXSIFT_QUERY_TOWER=int8: text queries run an int8 copy of the exported text tower, made once
beside it; the image tower stays fp32, query vectors stay close to fp32 ones and rank a small
library's pictures nearly alike; a wrong value is one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_picture

from pixsift.search.errors import InvalidInputError
from pixsift.search.model.loading import load_embedder
from pixsift.search.model.ort import OnnxEmbedder
from pixsift.search.model.query_tower import INT8_TEXT_FILE
from pixsift.search.model.spec import ModelSpec, Runtime

TEXTS = [f"a photo of a {c} {t} number {i}" for i, (c, t) in enumerate(
    (c, t) for c in ("red", "green", "blue", "dark", "bright") for t in ("dog", "house", "car", "sky")
)]  # fmt: skip


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
    with pytest.raises(InvalidInputError, match="PIXSIFT_QUERY_TOWER must be fp32 or int8"):
        towers(tiny_spec, monkeypatch, "fp8")
