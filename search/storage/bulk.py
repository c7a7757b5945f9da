"""Bulk import of image rows with their embeddings.

Embedding a million images takes a day on a CPU; measuring search at a million does not need
that. ``insert_vectors`` writes image rows and float16 embeddings with SQLAlchemy Core
executemany in large transactions (one generation bump at the end), so benchmarks and tools can
fill a library in about a minute per million.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, func, insert, select

from search.records import EmbeddingMatrix, ImageIdArray
from search.storage.models import Embedding, Image
from search.storage.rows import EMBEDDING_DTYPE, utc_now
from search.storage.store import LibraryStore
from search.storage.writes import STATE_INDEX_GENERATION

DEFAULT_CHUNK = 50_000


def insert_vectors(
    store: LibraryStore,
    vectors: EmbeddingMatrix,
    *,
    model_id: str,
    root_path: str = "/bulk",
    name_prefix: str = "bulk",
    chunk: int = DEFAULT_CHUNK,
) -> ImageIdArray:
    """Insert one image row and one embedding per row of ``vectors`` (L2-normalised float
    vectors) under a synthetic root; return the new image ids. The library's model is claimed
    as ``model_id`` if it has none (a mismatch raises). The index generation is bumped once."""
    claimed = store.claim_model(model_id)
    if claimed != model_id:
        raise ValueError(f"the library holds model {claimed}, not {model_id}")
    root_id = store.ensure_root(root_path.encode())
    engine: Engine = store.engine
    with engine.begin() as connection:
        first_id = int(connection.execute(select(func.max(Image.id))).scalar() or 0) + 1
    ids = np.arange(first_id, first_id + len(vectors), dtype=np.int64)
    now = utc_now()
    half = np.asarray(vectors, dtype=EMBEDDING_DTYPE)
    for start in range(0, len(vectors), chunk):
        stop = min(start + chunk, len(vectors))
        image_rows = [
            {
                "id": int(image_id),
                "root_id": root_id,
                "path_bytes": f"{root_path}/{name_prefix}-{image_id}.jpg".encode(),
                "relative_path": f"{name_prefix}-{image_id}.jpg",
                "size_bytes": 0,
                "mtime_ns": 0,
                "content_hash": f"{name_prefix}-{image_id}",
                "width": 1,
                "height": 1,
                "format": "JPEG",
                "indexed_at": now,
            }
            for image_id in ids[start:stop].tolist()
        ]
        embedding_rows = [
            {"image_id": int(image_id), "model_id": model_id, "vector": half[row].tobytes()}
            for row, image_id in zip(range(start, stop), ids[start:stop].tolist(), strict=True)
        ]
        with engine.begin() as connection:
            connection.execute(insert(Image.__table__), image_rows)
            connection.execute(insert(Embedding.__table__), embedding_rows)
    store.set_state(STATE_INDEX_GENERATION, str(store.index_generation() + 1))
    return ids
