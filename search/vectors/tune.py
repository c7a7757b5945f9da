"""Tuning an approximate index's search parameters (nprobe, efSearch) to a recall target.

Recall is measured against exact search over the index's own exact store, with a seeded sample of
the stored vectors as queries (each query's own id left out of both sides), so tuning needs no
held-out data and gives the same answer every time.
"""

from __future__ import annotations

import faiss
import numpy as np

from search.vectors.index import VectorIndex, exact_top_k

DEFAULT_RECALL_TARGET = 0.95
TUNING_QUERIES = 200
TUNING_K = 10
IVF_PROBES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512)
HNSW_EF_SEARCH = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def tune_search_parameters(
    index: VectorIndex,
    recall_target: float = DEFAULT_RECALL_TARGET,
    *,
    queries: int = TUNING_QUERIES,
    k: int = TUNING_K,
    seed: int = 0,
) -> tuple[dict[str, int], float]:
    """The cheapest nprobe / efSearch whose recall@k against exact search reaches the target,
    and the recall it reached."""
    assert index.exact_ids is not None and index.exact_vectors is not None
    inner = index.faiss_index
    if isinstance(inner, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        inner = faiss.downcast_index(inner.index)
    if isinstance(inner, faiss.IndexIVF):
        name = "nprobe"
        candidates = [value for value in IVF_PROBES if value <= inner.nlist] or [inner.nlist]
    elif isinstance(inner, faiss.IndexHNSW):
        name, candidates = "efSearch", list(HNSW_EF_SEARCH)
    else:
        return {}, measure_recall(index, {}, queries=queries, k=k, seed=seed)
    recall = 0.0
    for value in candidates:
        recall = measure_recall(index, {name: value}, queries=queries, k=k, seed=seed)
        if recall >= recall_target:
            return {name: value}, recall
    return {name: candidates[-1]}, recall


def measure_recall(
    index: VectorIndex,
    search_params: dict[str, int] | None = None,
    *,
    queries: int = TUNING_QUERIES,
    k: int = TUNING_K,
    seed: int = 0,
    query_vectors: np.ndarray | None = None,
) -> float:
    """recall@k of ``index`` with ``search_params`` against exact search over its exact store.
    Without ``query_vectors``, a seeded sample of stored vectors is the query set and each
    query's own id is left out of both sides."""
    assert index.exact_ids is not None and index.exact_vectors is not None
    params = index.sidecar.search_params if search_params is None else search_params
    own_ids: np.ndarray | None = None
    if query_vectors is None:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(index.count, min(queries, index.count), replace=False))
        query_vectors = index.exact_vectors[rows].astype(np.float32)
        own_ids = index.exact_ids[rows]
    query_vectors = np.ascontiguousarray(query_vectors, dtype=np.float32)
    extra = 0 if own_ids is None else 1
    _, truth = exact_top_k(query_vectors, k + extra, index.exact_ids, index.exact_vectors)
    _, found = index.approximate_search(query_vectors, k + extra, None, params)
    hits = 0
    for row in range(len(query_vectors)):
        expected, answered = truth[row], found[row]
        if own_ids is not None:
            expected = expected[expected != own_ids[row]][:k]
            answered = answered[answered != own_ids[row]][:k]
        hits += len(np.intersect1d(expected, answered[answered >= 0]))
    return hits / (k * len(query_vectors))
