"""What the indexer and the query engine need from a model, importable without torch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

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
