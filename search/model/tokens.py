"""Text-side helpers that need no torch, shared by the torch and ONNX Runtime towers: where the
real tokens end, and the cache of recent query texts."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from pixsift.search.records import EmbeddingMatrix

#: How many recent query texts keep their embedding (a query box re-sends the same words often).
TEXT_CACHE_SIZE = 1024


def real_token_length(tokens: np.ndarray, pool_type: str, eos_id: int | None) -> int:
    if pool_type == "argmax":  # CLIP's end-of-text token has the largest id
        ends = tokens.argmax(axis=-1)
    else:
        ends = (tokens == eos_id).astype(np.int32).argmax(axis=-1)
    return int(ends.max()) + 1


class TextEmbeddingCache:
    """The embeddings of recent texts, least recently used dropped first; safe across threads
    (server workers run several). Hands out copies, so callers may change what they get."""

    def __init__(self, size: int = TEXT_CACHE_SIZE) -> None:
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(
        self, texts: Sequence[str], compute: Callable[[list[str]], EmbeddingMatrix], dimension: int
    ) -> EmbeddingMatrix:
        """One row per text: cached rows, and ``compute`` of the missing texts in one batch."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, dimension), dtype=np.float32)
        rows: list[np.ndarray | None] = [self._get(text) for text in texts]
        missing = [index for index, row in enumerate(rows) if row is None]
        if missing:
            computed = compute([texts[index] for index in missing])
            for index, vector in zip(missing, computed, strict=True):
                rows[index] = vector
                self._put(texts[index], vector)
        return np.stack(rows).astype(np.float32, copy=False)

    def _get(self, text: str) -> np.ndarray | None:
        with self._lock:
            vector = self._vectors.get(text)
            if vector is None:
                return None
            self._vectors.move_to_end(text)
            return vector.copy()

    def _put(self, text: str, vector: np.ndarray) -> None:
        with self._lock:
            self._vectors[text] = vector.copy()
            self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
