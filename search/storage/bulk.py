"""Bulk import of image rows with their embeddings.

Embedding a million images takes a day on a CPU; measuring search at a million does not need
that. ``insert_vectors`` writes image rows and float16 embeddings with SQLAlchemy Core
executemany in large transactions (each stamping and bumping one index generation under the
generation lock, like an indexing batch), so benchmarks and tools can fill a library in about a
minute per million.

The database assigns the ids (INSERT ... RETURNING, in batches): explicit ids would leave
PostgreSQL's id sequence behind, and the next indexing run's inserts would collide with them.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from pixsift.search.records import EmbeddingMatrix, ImageIdArray
from pixsift.search.storage.models import Embedding, Image
from pixsift.search.storage.rows import EMBEDDING_DTYPE, utc_now
from pixsift.search.storage.store import LibraryStore
from pixsift.search.storage.writes import bump_generation, lock_generation

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
        # File names only (ids come from the database); past the largest id, so never taken.
        first_name = int(connection.execute(select(func.max(Image.id))).scalar() or 0) + 1
    ids = np.zeros(len(vectors), dtype=np.int64)
    now = utc_now()
    half = np.asarray(vectors, dtype=EMBEDDING_DTYPE)
    for start in range(0, len(vectors), chunk):
        stop = min(start + chunk, len(vectors))
        image_rows = [
            {
                "root_id": root_id,
                "path_bytes": f"{root_path}/{name_prefix}-{number}.jpg".encode(),
                "relative_path": f"{name_prefix}-{number}.jpg",
                "size_bytes": 0,
                "mtime_ns": 0,
                "content_hash": f"{name_prefix}-{number}",
                "width": 1,
                "height": 1,
                "format": "JPEG",
                "indexed_at": now,
            }
            for number in range(first_name + start, first_name + stop)
        ]
        with Session(engine) as session, session.begin():
            lock_generation(session)
            inserted = session.execute(
                insert(Image.__table__).returning(Image.id, sort_by_parameter_order=True),
                image_rows,
            )
            ids[start:stop] = [row[0] for row in inserted]
            embedding_rows = [
                {"image_id": int(image_id), "model_id": model_id, "vector": half[row].tobytes()}
                for row, image_id in zip(range(start, stop), ids[start:stop].tolist(), strict=True)
            ]
            session.execute(insert(Embedding.__table__), embedding_rows)
            bump_generation(session)
    return ids
