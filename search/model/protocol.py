"""What the indexer and the query engine need from a model, importable without torch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import numpy as np
from PIL import Image

from pixsift.search.records import EmbeddingMatrix

#: One image -> 3 x H x W float32 (a torch tensor or a numpy array).
ImagePreprocess = Callable[[Image.Image], Any]


class Embedder(Protocol):
    """What the indexer and the query engine need from a model (tests pass fakes)."""

    model_id: str
    dimension: int
    preprocess: ImagePreprocess

    def embed_images(self, images: Sequence[Image.Image]) -> EmbeddingMatrix: ...

    def embed_pixel_batch(self, pixel_batch: np.ndarray) -> EmbeddingMatrix: ...

    def embed_texts(self, texts: Sequence[str]) -> EmbeddingMatrix: ...


Precision = Literal["fp32", "int8"]


def embedder_precision(embedder: Embedder) -> Precision:
    """The precision of ``embedder``'s image tower (``image_precision``, which the ONNX towers
    set). One that does not say (torch, an Immich export, a test's fake) runs fp32 weights."""
    return "int8" if getattr(embedder, "image_precision", "fp32") == "int8" else "fp32"
