"""ONNX Runtime towers: each model's image and text towers, exported once from torch
(search.model.export), cached, and run on the CPU without building the torch model again.

On a CPU, ONNX Runtime runs these towers faster than torch eager (docs/benchmarks.md). This
module imports neither torch nor open_clip: a search that finds its towers cached needs neither.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from search.model.spec import Quantization
from search.model.tokens import TextEmbeddingCache, real_token_length
from search.records import EmbeddingMatrix, l2_normalise

TOWERS_FORMAT = 1
SIDECAR_NAME = "towers.json"
TOWER_FILES = ("image.onnx", "text.onnx")


@dataclass(frozen=True)
class TowersInfo:
    """The JSON sidecar of one exported pair of towers, checked on load."""

    model_id: str
    dimension: int
    image_size: int
    preprocess_cfg: dict[str, Any]
    #: "real_tokens": the text tower takes tokens cut after the last end-of-text token.
    text_input: Literal["real_tokens", "full_context"]
    pool_type: str | None
    eos_id: int | None
    quantize: str | None
    #: Smallest cosine between these towers' and torch's fp32 vectors on the probes.
    agreement: dict[str, float] = field(default_factory=dict)
    format: int = TOWERS_FORMAT


def towers_directory(cache_root: Path, model_id: str, quantize: Quantization | None) -> Path:
    """Where ``model_id``'s towers live: one folder per model id (which names the checkpoint's
    hash for local files) and quantisation."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)
    return cache_root / "onnx" / (f"{slug}-{quantize}" if quantize else slug)


def read_towers_info(directory: Path, model_id: str) -> TowersInfo | None:
    """The sidecar of towers exported for ``model_id``, or None where there are none usable."""
    try:
        raw = json.loads((directory / SIDECAR_NAME).read_text())
        info = TowersInfo(**raw)
    except (OSError, ValueError, TypeError):
        return None
    complete = (directory / "image.onnx").is_file() and (directory / "text.onnx").is_file()
    if info.format != TOWERS_FORMAT or info.model_id != model_id or not complete:
        return None
    return info


class OnnxEmbedder:
    """The Embedder protocol over two ONNX Runtime sessions."""

    def __init__(
        self,
        directory: Path,
        info: TowersInfo,
        preprocess: Callable[[Any], Any],
        tokenizer: Any,
        *,
        threads: int | None,
    ) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self._image = onnxruntime.InferenceSession(
            str(directory / "image.onnx"), options, providers=providers
        )
        self._text = onnxruntime.InferenceSession(
            str(directory / "text.onnx"), options, providers=providers
        )
        self.info = info
        self.model_id = info.model_id
        self.dimension = info.dimension
        self.image_size = info.image_size
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self._text_cache = TextEmbeddingCache()

    def embed_images(self, images: Sequence[Any]) -> EmbeddingMatrix:
        if not images:
            return np.zeros((0, self.dimension), dtype=np.float32)
        pixels = np.stack([np.asarray(self.preprocess(image)) for image in images])
        return self.embed_pixel_batch(pixels)

    def embed_pixel_batch(self, pixel_batch: np.ndarray) -> EmbeddingMatrix:
        pixels = np.ascontiguousarray(pixel_batch, dtype=np.float32)
        return l2_normalise(self._image.run(None, {"pixels": pixels})[0])

    def embed_texts(self, texts: Sequence[str]) -> EmbeddingMatrix:
        return self._text_cache.embed(texts, self._encode_texts, self.dimension)

    def _encode_texts(self, texts: list[str]) -> EmbeddingMatrix:
        tokens = np.asarray(self.tokenizer(texts), dtype=np.int64)
        if self.info.text_input == "real_tokens":
            tokens = tokens[
                :, : real_token_length(tokens, self.info.pool_type or "", self.info.eos_id)
            ]
        return l2_normalise(self._text.run(None, {"tokens": tokens})[0])
