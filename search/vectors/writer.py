"""The one writer: bring the published index up to the stored vectors, under the publish lock.

Only the indexer (during and after a run), ``pixsift rebuild-index`` and bulk import call this.
Everything from reading the published sidecar to switching it happens under the lock, so two
writers never interleave, and each publishes an index of the generation it read under the lock.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from pixsift.search import settings
from pixsift.search.errors import IndexMismatchError, InvalidInputError, ModelMismatchError
from pixsift.search.vectors.build import BuildRequest, TextQueries, build_index, update_index
from pixsift.search.vectors.index import VectorIndex
from pixsift.search.vectors.live import VectorSource
from pixsift.search.vectors.persist import load_vector_index, publish_lock, publish_vector_index
from pixsift.search.vectors.sidecar import INDEX_TYPE_AUTO, IndexSidecar, read_sidecar
from pixsift.search.vectors.staged import build_staged_index, needs_staged_build

_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def memory_budget_bytes() -> int:
    """PIXSIFT_INDEX_MEMORY_BUDGET in bytes ("4G", "512M", "8000000000")."""
    raw = str(settings.INDEX_MEMORY_BUDGET.value()).strip().upper().removesuffix("B")
    unit = raw[-1:] if raw[-1:] in _SIZE_UNITS else ""
    try:
        value = float(raw[: len(raw) - len(unit)])
    except ValueError:
        value = -1.0
    if value <= 0:
        raise InvalidInputError(
            f"{settings.INDEX_MEMORY_BUDGET.environment_variable} must be a size such as 4G or "
            f"512M, not {settings.INDEX_MEMORY_BUDGET.value()!r}"
        )
    return int(value * _SIZE_UNITS[unit])


def publish_stored_vectors(
    directory: Path,
    source: VectorSource,
    *,
    model_id: str,
    dimension: Callable[[], int],
    rebuild: bool = False,
    index_type: str | None = None,
    text_queries: TextQueries | None = None,
) -> VectorIndex | None:
    """Publish an index of every stored vector of ``model_id``, unless the published one is
    already current (then None). A trained approximate index is updated in place while it
    suits the library; ``rebuild`` (or a new ``index_type``) builds from scratch. ``index_type``
    None keeps what the last build was asked for. ``dimension`` is asked for only when no vector
    is stored (the index must still accept the model's queries). ``text_queries`` gives the
    model's embeddings of the tuning prompts (asked for only when a build tunes; without it, or
    when it gives None, synthetic text-like queries stand in). Raises ValueError for a bad
    ``index_type``."""
    with publish_lock(directory):
        generation = source.generation()
        previous = _published_sidecar(directory)
        same_model = previous is not None and previous.model_id == model_id
        if not rebuild and index_type is None and same_model and previous.generation >= generation:
            return None
        budget = memory_budget_bytes()
        requested = index_type or (previous.requested_type if previous else INDEX_TYPE_AUTO)
        count = source.count_through(model_id, generation)
        if count and needs_staged_build(count, _stored_width(source, model_id, generation), budget):
            # Larger than memory: streamed and built in stages; never updated in place, which
            # would load every vector.
            request = BuildRequest(
                model_id, generation, requested, budget, text_queries=text_queries
            )
            index = build_staged_index(
                source.chunks_through(model_id, generation),
                count=count,
                dimension=_stored_width(source, model_id, generation),
                directory=directory,
                request=request,
            )
            return publish_vector_index(directory, index)
        # Read the vectors after the generation: all it counts are there (maybe a few more).
        ids, vectors = source.all(model_id)
        if len(ids) == 0:
            vectors = np.zeros((0, dimension()), dtype=np.float32)
        index = None
        if not rebuild and index_type is None and same_model and previous.trained_count:
            index = _updated(directory, previous, ids, vectors, generation, text_queries, budget)
        if index is None:
            index = build_index(
                ids,
                vectors,
                model_id=model_id,
                generation=generation,
                index_type=requested,
                memory_budget_bytes=budget,
                text_queries=text_queries,
            )
        return publish_vector_index(directory, index)


def _stored_width(source: VectorSource, model_id: str, generation: int) -> int:
    """The dimension of the stored vectors, from one of them (the model is not loaded)."""
    _, first = next(iter(source.chunks_through(model_id, generation, rows=1)))
    return int(first.shape[1])


def _published_sidecar(directory: Path) -> IndexSidecar | None:
    try:
        return read_sidecar(directory)
    except IndexMismatchError:
        return None  # Derived data: an unreadable sidecar is replaced by a fresh build.


def _updated(
    directory: Path,
    previous: IndexSidecar,
    ids: np.ndarray,
    vectors: np.ndarray,
    generation: int,
    text_queries: TextQueries | None,
    memory_budget: int,
) -> VectorIndex | None:
    """The published trained index brought up to the stored vectors (or rebuilt when it no
    longer suits them), or None when it cannot be loaded."""
    try:
        current = load_vector_index(
            directory, expected_model_id=previous.model_id, memory_map=False, sidecar=previous
        )
    except (IndexMismatchError, ModelMismatchError):
        return None
    return update_index(
        current,
        ids,
        vectors,
        generation=generation,
        memory_budget_bytes=memory_budget,
        text_queries=text_queries,
    )
