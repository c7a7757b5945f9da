"""Building an index: choose its kind, train and fill it, or bring a trained one up to date.

Small libraries get an exact flat index. Large ones get IVF with 8-bit scalar-quantised codes by
default, chosen by size and a memory budget in the spirit of autofaiss (any FAISS factory string
on request), plus the exact store that re-ranks its candidates. Search parameters are tuned at
build time (``search.vectors.tune``) and kept in the sidecar.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import faiss
import numpy as np

from pixsift.search.records import EmbeddingMatrix, ImageIdArray
from pixsift.search.vectors.index import VectorIndex
from pixsift.search.vectors.sidecar import (
    INDEX_TYPE_AUTO,
    INDEX_TYPE_FLAT,
    METRIC_INNER_PRODUCT,
    IndexSidecar,
)
from pixsift.search.vectors.tune import (
    DEFAULT_RECALL_TARGET,
    tune_search_parameters,
    tuning_query_kinds,
)

#: Gives the model's embeddings of the tuning prompts (``search.vectors.text_like``), or None
#: when the writer has no model. Called only when a build tunes (an approximate index), so a
#: small library or an in-place update never embeds the prompts.
TextQueries = Callable[[], EmbeddingMatrix | None]

#: Below this many vectors an exact scan is fast enough (~5 ms at 20k x 512 on 2 cores).
FLAT_LIMIT = 20_000
#: Resident memory the approximate index's codes may take; beyond it, product quantisation.
DEFAULT_MEMORY_BUDGET_BYTES = 4 << 30
#: Lossy codes (SQ, PQ) fetch this many times k candidates for exact re-ranking.
LOSSY_RERANK_FACTOR = 4
#: Larger re-rank factors tried, in order, when the tuned recall stays below the target.
LOSSY_RERANK_ESCALATION = (16, 64, 128)
#: An approximate index is retrained once the library holds this many times its training size.
RETRAIN_GROWTH = 4
TRAINING_POINTS_PER_LIST = 64


@dataclass(frozen=True)
class BuildRequest:
    """What to build: the model the vectors belong to, the generation they are, the kind."""

    model_id: str
    generation: int
    index_type: str = INDEX_TYPE_AUTO
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES
    recall_target: float = DEFAULT_RECALL_TARGET
    seed: int = 0
    text_queries: TextQueries | None = field(default=None, compare=False)


def build_flat_index(
    ids: ImageIdArray, vectors: EmbeddingMatrix, *, model_id: str, generation: int
) -> VectorIndex:
    """An exact inner-product index over ``vectors`` with FAISS ids ``ids``."""
    ids, vectors = _checked(ids, vectors)
    dimension = int(vectors.shape[1])
    # IDMap2 (not IDMap) so single vectors can be reconstructed by image id ("more like this").
    faiss_index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if len(ids):
        faiss_index.add_with_ids(vectors, ids)
    sidecar = IndexSidecar(
        model_id=model_id,
        dimension=dimension,
        metric=METRIC_INNER_PRODUCT,
        count=len(ids),
        generation=generation,
        index_type=INDEX_TYPE_FLAT,
        index_file=f"index-{generation}.faiss",
    )
    return VectorIndex(faiss_index, sidecar)


def choose_index_type(
    count: int, dimension: int, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES
) -> str:
    """The index for ``count`` vectors: exact below FLAT_LIMIT; else IVF with ~sqrt(count) lists
    and 8-bit scalar codes (1 byte per dimension), or 4-bit PQ codes (half a byte per 4
    dimensions) when those exceed the budget."""
    if count < FLAT_LIMIT:
        return INDEX_TYPE_FLAT
    lists = 2 ** round(math.log2(math.sqrt(count)))
    lists = int(min(max(lists, 64), 65536))
    if count * dimension <= memory_budget_bytes:
        return f"IVF{lists},SQ8"
    # 4 dimensions per sub-quantizer, 4-bit codes of the residuals in FAISS's fast-scan layout
    # (SIMD lookup tables): 64 bytes a vector at 512 dimensions; the exact store's re-ranking
    # restores recall. (8-bit PQ trained 10-50 times slower on these machines and scans slower.)
    subquantizers = next(m for m in (dimension // 4, 32, 16, 8, 4, 2) if m and dimension % m == 0)
    return f"IVF{lists},PQ{subquantizers}x4fsr"


def build_index(
    ids: ImageIdArray,
    vectors: EmbeddingMatrix,
    *,
    model_id: str,
    generation: int,
    index_type: str = INDEX_TYPE_AUTO,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    recall_target: float = DEFAULT_RECALL_TARGET,
    seed: int = 0,
    text_queries: TextQueries | None = None,
) -> VectorIndex:
    """Build the index ``index_type`` asks for ("auto" or a FAISS factory string such as
    "Flat", "IVF1024,Flat", "IVF1024,SQ8", "IVF1024,PQ64", "HNSW32"), train it on the vectors
    themselves and tune its search parameters to ``recall_target`` for held-out images and
    text queries (``text_queries``' prompt embeddings, else synthetic text-like ones)."""
    request = BuildRequest(
        model_id, generation, index_type, memory_budget_bytes, recall_target, seed, text_queries
    )
    started = time.perf_counter()
    ids, vectors = _checked(ids, vectors)
    requested, chosen = _resolve_type(request, len(ids), int(vectors.shape[1]))
    if chosen == INDEX_TYPE_FLAT or len(ids) == 0:
        index = build_flat_index(ids, vectors, model_id=model_id, generation=generation)
        index.sidecar = replace(index.sidecar, requested_type=requested)
    else:
        index = _train_and_fill(ids, vectors, request, requested, chosen)
        _tune(index, request)
    index.sidecar = replace(index.sidecar, build_seconds=round(time.perf_counter() - started, 3))
    return index


def _checked(ids: ImageIdArray, vectors: EmbeddingMatrix) -> tuple[np.ndarray, np.ndarray]:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if vectors.ndim != 2 or len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for vectors of shape {vectors.shape}")
    return ids, vectors


def _resolve_type(request: BuildRequest, count: int, dimension: int) -> tuple[str, str]:
    """(what was asked for, as the sidecar records it; the factory string to build)."""
    requested = request.index_type.strip() or INDEX_TYPE_AUTO
    if requested.lower() == INDEX_TYPE_AUTO:
        return INDEX_TYPE_AUTO, choose_index_type(count, dimension, request.memory_budget_bytes)
    return requested, requested


def _train_and_fill(
    ids: np.ndarray, vectors: np.ndarray, request: BuildRequest, requested: str, chosen: str
) -> VectorIndex:
    """An approximate index trained on (a seeded sample of) the vectors, holding all of them."""
    chosen = _fit_lists_to_count(chosen, len(ids))
    order = np.argsort(ids, kind="stable")
    ids, vectors = ids[order], vectors[order]
    faiss_index = _new_faiss_index(chosen, int(vectors.shape[1]))
    training = vectors
    lists = _list_count(chosen)
    if lists and len(vectors) > TRAINING_POINTS_PER_LIST * lists:
        rng = np.random.default_rng(request.seed)
        sample = rng.choice(len(vectors), TRAINING_POINTS_PER_LIST * lists, replace=False)
        training = vectors[np.sort(sample)]
    started = time.perf_counter()
    faiss_index.train(training)
    trained = time.perf_counter()
    faiss_index.add_with_ids(vectors, ids)
    stages = {
        "train": round(trained - started, 3),
        "add": round(time.perf_counter() - trained, 3),
    }
    generation = request.generation
    sidecar = IndexSidecar(
        model_id=request.model_id,
        dimension=int(vectors.shape[1]),
        metric=METRIC_INNER_PRODUCT,
        count=len(ids),
        generation=generation,
        index_type=chosen,
        index_file=f"index-{generation}.faiss",
        requested_type=requested,
        rerank_factor=LOSSY_RERANK_FACTOR if _is_lossy(chosen) else 1,
        trained_count=len(ids),
        ids_file=f"ids-{generation}.npy",
        vectors_file=f"vectors-{generation}.npy",
        stage_seconds=stages,
    )
    return VectorIndex(faiss_index, sidecar, ids, vectors.astype(np.float16))


def _tune(index: VectorIndex, request: BuildRequest) -> None:
    """Tune the search parameters so that held-out images and text queries both reach the
    recall target, re-ranking more candidates when tightly packed embeddings sit closer
    together than lossy codes can tell apart. The exact answers are computed once."""
    started = time.perf_counter()
    text_queries = request.text_queries() if request.text_queries is not None else None
    embedded = time.perf_counter()
    kinds = tuning_query_kinds(index, text_queries, seed=request.seed)
    factors = [index.sidecar.rerank_factor]
    if index.sidecar.rerank_factor > 1:
        factors += list(LOSSY_RERANK_ESCALATION)
    tuning = tune_search_parameters(index, kinds, request.recall_target, rerank_factors=factors)
    stages = dict(index.sidecar.stage_seconds)
    if request.text_queries is not None:
        stages["embed_prompts"] = round(embedded - started, 3)
    stages["tune"] = round(time.perf_counter() - embedded, 3)
    index.sidecar = replace(
        index.sidecar,
        search_params=tuning.search_params,
        rerank_factor=tuning.rerank_factor,
        tuned_recall=round(tuning.worst_recall, 4),
        recall_by_kind={name: round(value, 4) for name, value in tuning.recall.items()},
        recall_target=request.recall_target,
        stage_seconds=stages,
    )


def update_index(
    current: VectorIndex,
    ids: ImageIdArray,
    vectors: EmbeddingMatrix,
    *,
    generation: int,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    recall_target: float = DEFAULT_RECALL_TARGET,
    text_queries: TextQueries | None = None,
) -> VectorIndex:
    """``current`` brought up to the stored (``ids``, ``vectors``): for a trained approximate
    index that still suits the library, removed and changed vectors are removed and new and
    changed ones added, without retraining; otherwise the index is rebuilt."""
    ids, vectors = _checked(ids, vectors)
    sidecar = current.sidecar

    def rebuild() -> VectorIndex:
        return build_index(
            ids,
            vectors,
            model_id=sidecar.model_id,
            generation=generation,
            index_type=sidecar.requested_type,
            memory_budget_bytes=memory_budget_bytes,
            recall_target=recall_target,
            text_queries=text_queries,
        )

    if not _can_update(current, len(ids), memory_budget_bytes):
        return rebuild()
    order = np.argsort(ids, kind="stable")
    ids, vectors = ids[order], vectors[order]
    half = vectors.astype(np.float16)
    to_remove, to_add = _differences(current, ids, half)
    try:
        if len(to_remove):
            current.faiss_index.remove_ids(faiss.IDSelectorBatch(to_remove))
        if to_add.any():
            current.faiss_index.add_with_ids(vectors[to_add], ids[to_add])
    except RuntimeError:
        return rebuild()
    updated = replace(
        sidecar,
        count=len(ids),
        generation=generation,
        index_file=f"index-{generation}.faiss",
        ids_file=f"ids-{generation}.npy",
        vectors_file=f"vectors-{generation}.npy",
    )
    return VectorIndex(current.faiss_index, updated, ids, half)


def _differences(
    current: VectorIndex, ids: np.ndarray, half: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(ids to remove: gone or changed; mask of rows to add: new or changed)."""
    old_ids, old_half = current.exact_ids, current.exact_vectors
    assert old_ids is not None and old_half is not None
    kept_old = np.isin(old_ids, ids, assume_unique=True)
    kept_new = np.isin(ids, old_ids, assume_unique=True)
    changed = np.zeros(len(ids), dtype=bool)
    if kept_new.any():
        old_rows = old_half[kept_old]
        changed[np.flatnonzero(kept_new)] = np.any(half[kept_new] != old_rows, axis=1)
    return np.concatenate([old_ids[~kept_old], ids[changed]]), ~kept_new | changed


def _can_update(current: VectorIndex, new_count: int, memory_budget_bytes: int) -> bool:
    sidecar = current.sidecar
    if current.is_exact or not sidecar.trained_count:
        return False
    if not isinstance(current.faiss_index, faiss.IndexIVF):
        return False  # HNSW cannot remove vectors; a flat index is rebuilt as fast as updated
    if new_count > RETRAIN_GROWTH * sidecar.trained_count or new_count * 4 < sidecar.trained_count:
        return False
    if sidecar.requested_type == INDEX_TYPE_AUTO:
        auto = choose_index_type(new_count, sidecar.dimension, memory_budget_bytes)
        if _family(auto) != _family(sidecar.index_type):
            return False
    return True


def _new_faiss_index(factory: str, dimension: int) -> faiss.Index:
    try:
        faiss_index = faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as error:
        raise ValueError(f"{factory!r} is not a FAISS index factory string: {error}") from error
    if isinstance(faiss_index, faiss.IndexIVF):
        return faiss_index
    # Graph and other indexes number vectors themselves: map their numbers to image ids.
    return faiss.IndexIDMap(faiss_index)


def _list_count(factory: str) -> int:
    found = re.search(r"IVF(\d+)", factory)
    return int(found.group(1)) if found else 0


def _fit_lists_to_count(factory: str, count: int) -> str:
    """Fewer inverted lists when there are too few vectors to train the requested number."""
    lists = _list_count(factory)
    if not lists or count >= 4 * lists:
        return factory
    fitted = max(1, 2 ** int(math.log2(max(1, count // 4))))
    return re.sub(r"IVF\d+", f"IVF{fitted}", factory, count=1)


def _is_lossy(factory: str) -> bool:
    encoding = factory.split(",")[-1]
    return not (encoding == INDEX_TYPE_FLAT or (factory.startswith("HNSW") and "," not in factory))


def _family(factory: str) -> str:
    """An index type without its sizes: "IVF,SQ8", "IVF,PQ", "Flat", "HNSW"."""
    return re.sub(r"\d+(?=,|$)", "", re.sub(r"(IVF|HNSW)\d+", r"\1", factory)).replace("PQx", "PQ")
