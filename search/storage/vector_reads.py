"""Reading stored vectors by the index generation that wrote them.

Each embedding row records the generation its transaction committed (see
``models.NEXT_INDEX_GENERATION``). A published index of generation G holds every row written at or
before G, so the rows it lacks are those written after G, and the rows of G or before that are
gone (removed, or rewritten with a newer generation) show which of its vectors are stale.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sqlalchemy import func, select

from pixsift.search.records import EmbeddingMatrix, ImageIdArray
from pixsift.search.storage.models import Embedding
from pixsift.search.storage.rows import EMBEDDING_DTYPE
from pixsift.search.storage.store import LibraryStore


class StoredVectors:
    """The library's stored vectors, as the vector index's readers and writers need them."""

    def __init__(self, store: LibraryStore) -> None:
        self.store = store

    def generation(self) -> int:
        return self.store.index_generation()

    def all(self, model_id: str) -> tuple[ImageIdArray, EmbeddingMatrix]:
        """Every stored vector of ``model_id`` (float32), ordered by image id."""
        return self.store.all_embeddings(model_id)

    def written_after(self, model_id: str, generation: int) -> tuple[ImageIdArray, np.ndarray]:
        """Ids (ascending) and float16 vectors of the rows written after ``generation``."""
        statement = (
            select(Embedding.image_id, Embedding.vector)
            .where(Embedding.model_id == model_id, Embedding.generation > generation)
            .order_by(Embedding.image_id)
        )
        with self.store.session() as session:
            rows = session.execute(statement).all()
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, 0), dtype=np.float16)
        half = np.frombuffer(b"".join(row[1] for row in rows), dtype=EMBEDDING_DTYPE)
        return ids, half.reshape(len(rows), -1)

    def sample(self, model_id: str, rows: int) -> EmbeddingMatrix:
        """About ``rows`` stored vectors of ``model_id`` (float32), every k-th image id: a
        bounded, deterministic sample for statistics that need not read a large library whole."""
        count = self.count_through(model_id, 2**31 - 1)  # every generation (an INTEGER)
        if count <= rows:
            return self.all(model_id)[1]
        step = -(-count // rows)
        statement = (
            select(Embedding.vector)
            .where(Embedding.model_id == model_id, Embedding.image_id % step == 0)
            .order_by(Embedding.image_id)
        )
        with self.store.session() as session:
            found = session.scalars(statement).all()
        half = np.frombuffer(b"".join(found), dtype=EMBEDDING_DTYPE).reshape(len(found), -1)
        return half.astype(np.float32)

    def chunks_through(
        self, model_id: str, generation: int, rows: int = 100_000
    ) -> Iterator[tuple[ImageIdArray, np.ndarray]]:
        """The rows written at or before ``generation``, ``rows`` at a time (ids ascending,
        float16 vectors): a staged index build streams a library larger than memory."""
        last = -1
        while True:
            statement = (
                select(Embedding.image_id, Embedding.vector)
                .where(
                    Embedding.model_id == model_id,
                    Embedding.generation <= generation,
                    Embedding.image_id > last,
                )
                .order_by(Embedding.image_id)
                .limit(rows)
            )
            with self.store.session() as session:
                found = session.execute(statement).all()
            if not found:
                return
            ids = np.fromiter((row[0] for row in found), dtype=np.int64, count=len(found))
            half = np.frombuffer(b"".join(row[1] for row in found), dtype=EMBEDDING_DTYPE)
            yield ids, half.reshape(len(found), -1)
            last = int(ids[-1])

    def count_through(self, model_id: str, generation: int) -> int:
        """How many rows were written at or before ``generation`` and are still stored."""
        statement = (
            select(func.count())
            .select_from(Embedding)
            .where(Embedding.model_id == model_id, Embedding.generation <= generation)
        )
        with self.store.session() as session:
            return int(session.scalar(statement) or 0)

    def ids_through(self, model_id: str, generation: int) -> ImageIdArray:
        """Ids (ascending) of the rows written at or before ``generation`` still stored."""
        statement = (
            select(Embedding.image_id)
            .where(Embedding.model_id == model_id, Embedding.generation <= generation)
            .order_by(Embedding.image_id)
        )
        with self.store.session() as session:
            return np.fromiter(session.scalars(statement), dtype=np.int64)
