"""What the query path needs from a library. :class:`search.library.Library` provides it; the
query modules never import the facade, so the two cannot form an import cycle, and tests can
pass a smaller stand-in."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pixsift.search.records import EmbeddingMatrix, ImageRecord
from pixsift.search.storage.store import LibraryStore
from pixsift.search.vectors.index import SearchableVectors


class SearchContext(Protocol):
    store: LibraryStore

    def vector_index(self) -> SearchableVectors: ...

    def query_embedding(
        self,
        *,
        text: str | None = None,
        image: Path | str | None = None,
        image_id: int | None = None,
    ) -> EmbeddingMatrix: ...

    def embedding_sample(self, count: int) -> EmbeddingMatrix: ...

    def sigmoid_scale(self) -> tuple[float, float] | None: ...

    def images(self, image_ids: Sequence[int]) -> dict[int, ImageRecord]: ...
