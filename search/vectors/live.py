"""What a search reads: the last published index, plus the vectors written since, scanned exactly.

Readers (server workers, CLI searches) never build, write or delete index files: this module
reads the published sidecar and loads the files it names, memory-mapped, and nothing else (it
imports no function that writes). Every stored vector carries the index generation that wrote
it, so the vectors a published index (at generation G) lacks are exactly those written after G;
the published copies of images changed or removed since are hidden from its answers. Until a
writer publishes again, those few vectors are scanned exactly; if nothing was ever published,
every vector is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from pixsift.search.errors import IndexMismatchError, ModelMismatchError
from pixsift.search.records import EmbeddingMatrix, ImageIdArray
from pixsift.search.vectors.index import VectorIndex, empty_result, exact_top_k, merge_top_k
from pixsift.search.vectors.persist import load_vector_index
from pixsift.search.vectors.selection import Selection, as_selection
from pixsift.search.vectors.sidecar import SIDECAR_NAME, IndexSidecar, read_sidecar

log = logging.getLogger(__name__)

#: Past this many unpublished vectors a reader says so: each search scans them all.
UNPUBLISHED_WARNING_COUNT = 200_000
#: Times a reader re-reads the sidecar when a publisher replaces the files it was about to load.
LOAD_ATTEMPTS = 3


class VectorSource(Protocol):
    """The stored vectors, as the database gives them (see search.storage.vector_reads)."""

    def generation(self) -> int: ...

    def all(self, model_id: str) -> tuple[ImageIdArray, np.ndarray]: ...

    def written_after(self, model_id: str, generation: int) -> tuple[ImageIdArray, np.ndarray]: ...

    def count_through(self, model_id: str, generation: int) -> int: ...

    def chunks_through(
        self, model_id: str, generation: int, rows: int = ...
    ) -> Iterator[tuple[ImageIdArray, np.ndarray]]: ...

    def ids_through(self, model_id: str, generation: int) -> ImageIdArray: ...


@dataclass
class LiveIndex:
    """The published index (if any) with the unpublished vectors beside it; answers like a
    :class:`VectorIndex` does (``search(queries, k, allowed_ids=...)``, a :class:`Selection`)."""

    published: VectorIndex | None
    #: Vectors written after the published generation (ids ascending) and their vectors.
    tail_ids: ImageIdArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tail_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float16))
    #: Ids whose published vectors are no longer current (removed, or rewritten: see the tail).
    hidden_ids: ImageIdArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def sidecar(self) -> IndexSidecar | None:
        return self.published.sidecar if self.published is not None else None

    @property
    def count(self) -> int:
        published = self.published.count if self.published is not None else 0
        return published - len(self.hidden_ids) + len(self.tail_ids)

    @property
    def unpublished_count(self) -> int:
        return len(self.tail_ids)

    @property
    def dimension(self) -> int | None:
        if self.published is not None:
            return self.published.sidecar.dimension
        return int(self.tail_vectors.shape[1]) if len(self.tail_ids) else None

    def search(
        self,
        queries: EmbeddingMatrix,
        k: int,
        allowed_ids: Selection | ImageIdArray | None = None,
        *,
        enough: int | None = None,
    ) -> tuple[EmbeddingMatrix, ImageIdArray]:
        """Top-``k`` (scores, ids) per query row among ``allowed_ids`` when given: the published
        index's answers without its hidden ids, merged with an exact scan of the tail."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        dimension = self.dimension
        if dimension is None or k <= 0:
            return empty_result(len(queries))
        if queries.ndim != 2 or queries.shape[1] != dimension:
            raise IndexMismatchError(
                f"query vectors have shape {queries.shape}, the index holds "
                f"{dimension}-dimensional vectors"
            )
        allowed = as_selection(allowed_ids)
        if allowed is not None and allowed.covers_all:
            allowed = None
        if allowed is not None and allowed.count == 0:
            return empty_result(len(queries))
        parts = []
        if self.published is not None:
            parts.append(self._search_published(self.published, queries, k, allowed, enough))
        if len(self.tail_ids):
            tail_ids, tail_vectors = self.tail_ids, self.tail_vectors
            if allowed is not None:
                keep = allowed.contains(tail_ids)
                tail_ids, tail_vectors = tail_ids[keep], tail_vectors[keep]
            parts.append(exact_top_k(queries, k, tail_ids, tail_vectors))
        return parts[0] if len(parts) == 1 else merge_top_k(parts, k)

    def _search_published(
        self,
        published: VectorIndex,
        queries: np.ndarray,
        k: int,
        allowed: Selection | None,
        enough: int | None,
    ) -> tuple[EmbeddingMatrix, ImageIdArray]:
        if allowed is None:
            hidden = self.hidden_ids if len(self.hidden_ids) else None
            return published.search(queries, k, excluded_ids=hidden, enough=enough)
        # The published index answers for the ids it holds current vectors of: the selection
        # less the hidden ids and the tail's (scanned beside it), so that its count is what the
        # published index can return and its strategies judge "enough results" by that.
        elsewhere = np.concatenate([self.hidden_ids, self.tail_ids])
        return published.search(queries, k, allowed.without(elsewhere), enough=enough)


class PublishedIndexReader:
    """Loads what the writers published in ``directory`` (reloading when they publish again)
    and combines it with the vectors the database holds beyond it."""

    def __init__(self, directory: Path, source: VectorSource) -> None:
        self.directory = directory
        self.source = source
        self._loaded: tuple[tuple[int, int, int], VectorIndex | None] | None = None

    def published_stamp(self) -> tuple[int, int, int] | None:
        """Identifies the published sidecar (it is replaced, never rewritten, on publishing)."""
        try:
            status = os.stat(self.directory / SIDECAR_NAME)
        except FileNotFoundError:
            return None
        return (status.st_ino, status.st_mtime_ns, status.st_size)

    def live_index(self, model_id: str) -> LiveIndex:
        """The published index with every vector written since: call after reading the store's
        generation, so that the view covers at least that generation."""
        published = self.published(model_id)
        generation = published.sidecar.generation if published is not None else -1
        tail_ids, tail_vectors = self.source.written_after(model_id, generation)
        hidden = np.zeros(0, dtype=np.int64)
        if published is not None:
            through = self.source.count_through(model_id, generation)
            if through != published.count:
                present = self.source.ids_through(model_id, generation)
                hidden = np.setdiff1d(published.ids(), present, assume_unique=True)
        if len(tail_ids) > UNPUBLISHED_WARNING_COUNT:
            log.warning(
                "%d vectors are not in the published index; each search scans them exactly "
                "until the indexer publishes (or run: pixsift rebuild-index)",
                len(tail_ids),
            )
        # float32 once here rather than per search: the tail is small while writers publish.
        return LiveIndex(published, tail_ids, tail_vectors.astype(np.float32), hidden)

    def published(self, model_id: str) -> VectorIndex | None:
        """The published index, loaded once per publication; None if there is none usable."""
        for _attempt in range(LOAD_ATTEMPTS):
            stamp = self.published_stamp()
            if stamp is None:
                return None
            if self._loaded is not None and self._loaded[0] == stamp:
                return self._loaded[1]
            try:
                index: VectorIndex | None = load_vector_index(
                    self.directory, expected_model_id=model_id, sidecar=read_sidecar(self.directory)
                )
            except (IndexMismatchError, ModelMismatchError) as error:
                if self.published_stamp() != stamp:
                    continue  # A writer published meanwhile: read its sidecar.
                log.warning("ignoring the published index (%s); scanning vectors exactly", error)
                index = None
            self._loaded = (stamp, index)
            return index
        return None
