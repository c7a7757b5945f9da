"""ONNX Runtime towers: each model's image and text towers, exported once from torch
(search.model.export), cached, and run on the CPU without building the torch model again.

On a CPU, ONNX Runtime runs these towers faster than torch eager (docs/benchmarks.md). This
module imports neither torch nor open_clip: a search that finds its towers cached needs neither.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pixsift.search.model.query_tower import query_text_tower, query_tower_choice
from pixsift.search.model.session_options import (
    QUICK_START_SESSION_CONFIG,
    graph_optimization_level,
)
from pixsift.search.model.spec import Quantization
from pixsift.search.model.tokens import TextEmbeddingCache, real_token_length
from pixsift.search.records import EmbeddingMatrix, l2_normalise

#: 3: the sidecar also carries a torch-free tokenizer and image preprocessing.
TOWERS_FORMAT = 3
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
    #: search.model.tokenizer settings of a torch-free tokenizer saved beside the towers (None:
    #: the model's tokenizer is neither plain CLIP BPE nor one tokenizers reproduces; open_clip's
    #: is used).
    tokenizer: dict[str, Any] | None = None
    #: The PixelPlan fields equal to the model's image transform (None: open_clip's is used).
    pixels: dict[str, Any] | None = None
    #: Patches per side of the image tower (None: towers exported before it was recorded).
    patch_grid: int | None = None
    #: [scale, bias] of a sigmoid-loss (SigLIP) model: P(match) = sigmoid(scale * cos + bias);
    #: None for a softmax CLIP (and towers exported before it was recorded).
    sigmoid_scale: list[float] | None = None
    format: int = TOWERS_FORMAT


def towers_directory(cache_root: Path, model_id: str, quantize: Quantization | None) -> Path:
    """Where ``model_id``'s towers live: one folder per model id (which names the checkpoint's
    hash for local files) and quantisation."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)
    return cache_root / "onnx" / (f"{slug}-{quantize}" if quantize else slug)


#: The texts exported towers are checked on against what they were made from (the model in
#: torch, or the fp32 towers for int8 ones).
PROBE_TEXTS = ("", "a photo", "a red bicycle leaning on a wall next to a green door")
_PROBE_IMAGES = 4


def tower_agreement(
    towers: OnnxEmbedder,
    reference_images: Callable[[np.ndarray], EmbeddingMatrix],
    reference_texts: Callable[[Sequence[str]], EmbeddingMatrix],
) -> dict[str, float]:
    """Each of ``towers``' smallest cosine to the reference's vectors on the same probes: four
    seeded pixel batches and :data:`PROBE_TEXTS` (a sidecar's ``agreement``)."""
    side = towers.info.image_size
    pixels = np.random.default_rng(0).standard_normal((_PROBE_IMAGES, 3, side, side))
    pixels = pixels.astype(np.float32)
    return {
        "image": _min_cosine(towers.embed_pixel_batch(pixels), reference_images(pixels)),
        "text": _min_cosine(towers.embed_texts(PROBE_TEXTS), reference_texts(PROBE_TEXTS)),
    }


def _min_cosine(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.min(np.sum(l2_normalise(first) * l2_normalise(second), axis=1)))


def publish_towers(staging: Path, directory: Path, info: TowersInfo) -> None:
    """Write ``info`` as the sidecar of the towers made in ``staging`` and put them in place as
    ``directory`` (a reader finds the old folder or the whole new one, never a half-made one)."""
    (staging / SIDECAR_NAME).write_text(json.dumps(asdict(info), indent=2))
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(staging, directory)


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


def session_threads(threads: int | None) -> int:
    """Threads for one session: ``threads``, else every core this process may run on."""
    if threads:
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxEmbedder:
    """The Embedder protocol over two ONNX Runtime sessions, each opened on first use: indexing
    never loads the text tower, a text search never loads the image tower."""

    def __init__(
        self,
        directory: Path,
        info: TowersInfo,
        preprocess: Callable[[Any], Any],
        tokenizer: Any,
        *,
        threads: int | None,
        quick_start: bool = False,
        query_tower: str | None = None,
    ) -> None:
        self.directory = directory
        self.threads = session_threads(threads)
        self.quick_start = quick_start
        self._sessions: dict[str, Any] = {}
        self._session_lock = threading.Lock()
        self.info = info
        self.model_id = info.model_id
        #: The image tower's weights, recorded by the library its vectors go into.
        self.image_precision = "int8" if info.quantize == "int8" else "fp32"
        self.dimension = info.dimension
        self.image_size = info.image_size
        self.patch_grid = info.patch_grid
        scale = info.sigmoid_scale
        self.sigmoid_scale = (float(scale[0]), float(scale[1])) if scale else None
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self._text_cache = TextEmbeddingCache()
        #: PIXSIFT_QUERY_TOWER as it was when these towers were loaded (search.model.query_tower),
        #: unless the caller names one (the export's check compares the fp32 towers with torch).
        self.query_tower = (
            (query_tower or query_tower_choice()) if info.quantize is None else "int8"
        )

    def embed_images(self, images: Sequence[Any]) -> EmbeddingMatrix:
        if not images:
            return np.zeros((0, self.dimension), dtype=np.float32)
        pixels = np.stack([np.asarray(self.preprocess(image)) for image in images])
        return self.embed_pixel_batch(pixels)

    def embed_pixel_batch(self, pixel_batch: np.ndarray) -> EmbeddingMatrix:
        pixels = np.ascontiguousarray(pixel_batch, dtype=np.float32)
        return l2_normalise(self._session("image").run(None, {"pixels": pixels})[0])

    def embed_texts(self, texts: Sequence[str]) -> EmbeddingMatrix:
        return self._text_cache.embed(texts, self._encode_texts, self.dimension)

    def _encode_texts(self, texts: list[str]) -> EmbeddingMatrix:
        tokens = np.asarray(self.tokenizer(texts), dtype=np.int64)
        if self.info.text_input == "real_tokens":
            tokens = tokens[
                :, : real_token_length(tokens, self.info.pool_type or "", self.info.eos_id)
            ]
        return l2_normalise(self._session("text").run(None, {"tokens": tokens})[0])

    def _session(self, tower: Literal["image", "text"]) -> Any:
        session = self._sessions.get(tower)
        if session is None:
            with self._session_lock:
                session = self._sessions.get(tower) or self._open(tower)
                self._sessions[tower] = session
        return session

    def _open(self, tower: str) -> Any:
        import onnxruntime

        path = self.directory / f"{tower}.onnx"
        if tower == "text" and self.info.quantize is None:
            path = query_text_tower(self.directory, self.query_tower)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = graph_optimization_level()
        if self.quick_start:
            for key, value in QUICK_START_SESSION_CONFIG.items():
                options.add_session_config_entry(key, value)
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
