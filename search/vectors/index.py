"""The FAISS cosine index: building, searching, and saving/loading with a checked JSON sidecar.

The index is a derived artifact of the database: it can always be rebuilt from the stored
embeddings. Cosine similarity is the inner product of L2-normalised vectors, and the FAISS ids are
the database image ids, written together with the vectors by ``add_with_ids``.

Small libraries get an exact flat index. Large ones get an approximate index (IVF with 8-bit
scalar-quantised codes by default, chosen by size and a memory budget in the spirit of autofaiss;
any FAISS factory string on request) plus an *exact store*: the embeddings as float16 (exactly the
precision the database keeps), sorted by image id, memory-mapped. The approximate index proposes
candidates; the exact store re-ranks them, so returned scores are exact cosines, and a search
restricted to a small set of allowed ids scans those vectors exactly instead. Search parameters
(nprobe, efSearch) are tuned at build time to a recall target against exact search, on a sample of
the stored vectors used as queries (each query's own id left out), and kept in the sidecar.

On disk a library holds ``index-<generation>.faiss`` files (and, for approximate indexes,
``ids-<generation>.npy`` and ``vectors-<generation>.npy``) and one ``index.json`` sidecar naming
the current ones. The sidecar is replaced last and atomically, so it is the commit point: a crash
at any moment leaves either the old set or the new set, never a mix.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from search.errors import IndexMismatchError, ModelMismatchError
from search.records import EmbeddingMatrix, ImageIdArray

SIDECAR_NAME = "index.json"
SIDECAR_FORMAT_VERSION = 1
METRIC_INNER_PRODUCT = "inner_product"
INDEX_TYPE_AUTO = "auto"
INDEX_TYPE_FLAT = "Flat"
#: Below this many vectors an exact scan is fast enough (~5 ms at 20k x 512 on 2 cores).
FLAT_LIMIT = 20_000
#: Resident memory the approximate index's codes may take; beyond it, product quantisation.
DEFAULT_MEMORY_BUDGET_BYTES = 4 << 30
DEFAULT_RECALL_TARGET = 0.95
#: A filtered search over fewer allowed ids than this scans them exactly.
EXACT_SCAN_LIMIT = 20_000
#: Lossy codes (SQ, PQ) fetch this many times k candidates for exact re-ranking.
LOSSY_RERANK_FACTOR = 4
#: Larger re-rank factors tried, in order, when the tuned recall stays below the target.
LOSSY_RERANK_ESCALATION = (16, 64)
#: An approximate index is retrained once the library holds this many times its training size.
RETRAIN_GROWTH = 4
TUNING_QUERIES = 200
TUNING_K = 10
TRAINING_POINTS_PER_LIST = 64


@dataclass(frozen=True)
class IndexSidecar:
    """What an index file holds, checked against the database before the index is used."""

    model_id: str
    dimension: int
    metric: str
    count: int
    generation: int
    index_type: str
    index_file: str
    format_version: int = SIDECAR_FORMAT_VERSION
    #: What was asked for: "auto" (chosen by size and memory budget) or a FAISS factory string.
    requested_type: str = INDEX_TYPE_AUTO
    #: Tuned search parameters, e.g. {"nprobe": 16} or {"efSearch": 64}.
    search_params: dict[str, int] = field(default_factory=dict)
    #: Candidates fetched per result for exact re-ranking (1: the index's scores are exact).
    rerank_factor: int = 1
    #: How many vectors the index was trained on (0: no training, e.g. Flat).
    trained_count: int = 0
    #: recall@10 against exact search measured when the parameters were tuned.
    tuned_recall: float | None = None
    build_seconds: float | None = None
    #: The exact store of an approximate index: image ids and float16 vectors (.npy).
    ids_file: str | None = None
    vectors_file: str | None = None


class VectorIndex:
    """A FAISS index whose ids are image ids, and the sidecar that describes it.

    ``exact_ids`` (sorted) and ``exact_vectors`` (float16, same order) are the exact store of an
    approximate index; a flat index has none."""

    def __init__(
        self,
        faiss_index: faiss.Index,
        sidecar: IndexSidecar,
        exact_ids: ImageIdArray | None = None,
        exact_vectors: np.ndarray | None = None,
    ) -> None:
        self.faiss_index = faiss_index
        self.sidecar = sidecar
        self.exact_ids = exact_ids
        self.exact_vectors = exact_vectors

    @property
    def count(self) -> int:
        return int(self.faiss_index.ntotal)

    @property
    def is_exact(self) -> bool:
        return self.exact_ids is None

    def search(
        self, queries: EmbeddingMatrix, k: int, allowed_ids: ImageIdArray | None = None
    ) -> tuple[EmbeddingMatrix, ImageIdArray]:
        """Top-``k`` (scores, ids) per query row, among ``allowed_ids`` when given (the filter is
        applied inside the search, so k results come back whenever k allowed ids exist).
        Missing slots have id -1. Scores are exact cosines whatever the index type."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.sidecar.dimension:
            raise IndexMismatchError(
                f"query vectors have shape {queries.shape}, the index holds "
                f"{self.sidecar.dimension}-dimensional vectors"
            )
        limit = self.count if allowed_ids is None else min(self.count, len(allowed_ids))
        if limit == 0 or k <= 0:
            empty = np.zeros((queries.shape[0], 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        if self.is_exact:
            params = None
            if allowed_ids is not None:
                selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
                params = faiss.SearchParameters(sel=selector)
            scores, ids = self.faiss_index.search(queries, min(k, limit), params=params)
            return scores, ids
        if allowed_ids is not None and len(allowed_ids) < EXACT_SCAN_LIMIT:
            return self._exact_scan(queries, k, allowed_ids)
        return self._approximate_search(queries, k, allowed_ids, self.sidecar.search_params)

    def reconstruct(self, image_id: int) -> EmbeddingMatrix:
        if self.is_exact:
            return self.faiss_index.reconstruct(int(image_id)).reshape(1, -1)
        rows = self._rows_of(np.array([image_id], dtype=np.int64))
        if len(rows) == 0:
            raise KeyError(image_id)
        return self.exact_vectors[rows].astype(np.float32)

    # The approximate path ---------------------------------------------------------------------

    def _rows_of(self, image_ids: np.ndarray) -> np.ndarray:
        """Rows of the exact store holding ``image_ids`` (ids not stored are dropped)."""
        assert self.exact_ids is not None
        image_ids = np.asarray(image_ids, dtype=np.int64)
        rows = np.searchsorted(self.exact_ids, image_ids)
        rows = np.minimum(rows, len(self.exact_ids) - 1)
        return rows[self.exact_ids[rows] == image_ids]

    def _exact_scan(
        self, queries: np.ndarray, k: int, allowed_ids: ImageIdArray
    ) -> tuple[EmbeddingMatrix, ImageIdArray]:
        rows = np.unique(self._rows_of(np.unique(np.asarray(allowed_ids, dtype=np.int64))))
        candidate_ids = np.broadcast_to(self.exact_ids[rows], (len(queries), len(rows)))
        return self._rank(queries, k, candidate_ids, self.exact_vectors[rows])

    def _approximate_search(
        self,
        queries: np.ndarray,
        k: int,
        allowed_ids: ImageIdArray | None,
        search_params: dict[str, int],
        rerank_factor: int | None = None,
    ) -> tuple[EmbeddingMatrix, ImageIdArray]:
        factor = rerank_factor or self.sidecar.rerank_factor
        fetch = min(self.count, max(k, k * factor))
        selector = None
        if allowed_ids is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
        params = _search_parameters(self.faiss_index, search_params, selector)
        _, candidates = self.faiss_index.search(queries, fetch, params=params)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, found in enumerate(candidates):
            found = found[found >= 0]
            if len(found) == 0:
                continue
            rows = self._rows_of(found)
            ranked_scores, ranked_ids = self._rank(
                queries[row : row + 1], k, self.exact_ids[rows][None, :], self.exact_vectors[rows]
            )
            scores[row, : ranked_ids.shape[1]] = ranked_scores[0]
            ids[row, : ranked_ids.shape[1]] = ranked_ids[0]
        return scores, ids

    @staticmethod
    def _rank(
        queries: np.ndarray, k: int, candidate_ids: np.ndarray, candidate_vectors: np.ndarray
    ) -> tuple[EmbeddingMatrix, ImageIdArray]:
        """Exact top-k of ``candidate_vectors`` per query (same candidates for every row when
        ``candidate_ids`` has one row per query broadcast)."""
        count = candidate_vectors.shape[0]
        width = min(k, count)
        all_scores = queries @ np.asarray(candidate_vectors, dtype=np.float32).T
        if width < count:
            top = np.argpartition(-all_scores, width - 1, axis=1)[:, :width]
        else:
            top = np.broadcast_to(np.arange(count), (len(queries), count))
        top_scores = np.take_along_axis(all_scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        scores = np.take_along_axis(all_scores, top, axis=1).astype(np.float32)
        ids = np.take_along_axis(np.asarray(candidate_ids), top, axis=1).astype(np.int64)
        return scores, ids


def _search_parameters(
    faiss_index: faiss.Index, search_params: dict[str, int], selector: Any
) -> Any:
    """FAISS SearchParameters for the index's kind, carrying the id filter and tuned knobs."""
    inner = faiss_index
    if isinstance(inner, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        inner = faiss.downcast_index(inner.index)
    if isinstance(inner, faiss.IndexIVF):
        params = faiss.SearchParametersIVF()
        params.nprobe = int(search_params.get("nprobe", inner.nprobe))
    elif isinstance(inner, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW()
        params.efSearch = int(search_params.get("efSearch", inner.hnsw.efSearch))
    else:
        if selector is None:
            return None
        params = faiss.SearchParameters()
    if selector is not None:
        params.sel = selector  # the caller keeps ``selector`` alive during the search
    return params


def build_flat_index(
    ids: ImageIdArray, vectors: EmbeddingMatrix, *, model_id: str, generation: int
) -> VectorIndex:
    """An exact inner-product index over ``vectors`` with FAISS ids ``ids``."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if vectors.ndim != 2 or len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for vectors of shape {vectors.shape}")
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
    and 8-bit scalar codes (1 byte per dimension), or PQ codes when those exceed the budget."""
    if count < FLAT_LIMIT:
        return INDEX_TYPE_FLAT
    lists = 2 ** round(math.log2(math.sqrt(count)))
    lists = int(min(max(lists, 64), 65536))
    if count * dimension <= memory_budget_bytes:
        return f"IVF{lists},SQ8"
    subquantizers = next(m for m in (64, 48, 32, 16, 8, 4, 2, 1) if dimension % m == 0)
    return f"IVF{lists},PQ{subquantizers}"


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
) -> VectorIndex:
    """Build the index ``index_type`` asks for ("auto" or a FAISS factory string such as
    "Flat", "IVF1024,Flat", "IVF1024,SQ8", "IVF1024,PQ64", "HNSW32"), train it on the vectors
    themselves and tune its search parameters to ``recall_target``."""
    started = time.perf_counter()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if vectors.ndim != 2 or len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for vectors of shape {vectors.shape}")
    requested = index_type.strip() or INDEX_TYPE_AUTO
    dimension = int(vectors.shape[1])
    chosen = (
        choose_index_type(len(ids), dimension, memory_budget_bytes)
        if requested.lower() == INDEX_TYPE_AUTO
        else requested
    )
    requested = INDEX_TYPE_AUTO if requested.lower() == INDEX_TYPE_AUTO else requested
    if chosen == INDEX_TYPE_FLAT or len(ids) == 0:
        flat = build_flat_index(ids, vectors, model_id=model_id, generation=generation)
        flat.sidecar = replace(
            flat.sidecar,
            requested_type=requested,
            build_seconds=round(time.perf_counter() - started, 3),
        )
        return flat
    chosen = _fit_lists_to_count(chosen, len(ids))
    order = np.argsort(ids, kind="stable")
    ids, vectors = ids[order], vectors[order]
    faiss_index = _new_faiss_index(chosen, dimension)
    rng = np.random.default_rng(seed)
    training = vectors
    lists = _list_count(chosen)
    if lists and len(vectors) > TRAINING_POINTS_PER_LIST * lists:
        sample = rng.choice(len(vectors), TRAINING_POINTS_PER_LIST * lists, replace=False)
        training = vectors[np.sort(sample)]
    faiss_index.train(training)
    faiss_index.add_with_ids(vectors, ids)
    sidecar = IndexSidecar(
        model_id=model_id,
        dimension=dimension,
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
    )
    index = VectorIndex(faiss_index, sidecar, ids, vectors.astype(np.float16))
    params, recall = tune_search_parameters(index, recall_target, seed=seed)
    # Tightly packed embeddings can sit closer together than lossy codes can tell apart: then
    # re-rank more candidates exactly rather than miss the recall target.
    for factor in LOSSY_RERANK_ESCALATION if index.sidecar.rerank_factor > 1 else ():
        if recall >= recall_target:
            break
        index.sidecar = replace(index.sidecar, rerank_factor=factor)
        params, recall = tune_search_parameters(index, recall_target, seed=seed)
    index.sidecar = replace(
        index.sidecar,
        search_params=params,
        tuned_recall=round(recall, 4),
        build_seconds=round(time.perf_counter() - started, 3),
    )
    return index


def update_index(
    current: VectorIndex,
    ids: ImageIdArray,
    vectors: EmbeddingMatrix,
    *,
    generation: int,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    recall_target: float = DEFAULT_RECALL_TARGET,
) -> VectorIndex:
    """``current`` brought up to the stored (``ids``, ``vectors``): for a trained approximate
    index that still suits the library, removed and changed vectors are removed and new and
    changed ones added, without retraining; otherwise the index is rebuilt."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    sidecar = current.sidecar
    rebuild_args = {
        "model_id": sidecar.model_id,
        "generation": generation,
        "index_type": sidecar.requested_type,
        "memory_budget_bytes": memory_budget_bytes,
        "recall_target": recall_target,
    }
    if not _can_update(current, len(ids), memory_budget_bytes):
        return build_index(ids, vectors, **rebuild_args)
    order = np.argsort(ids, kind="stable")
    ids, vectors = ids[order], vectors[order]
    half = vectors.astype(np.float16)
    old_ids, old_half = current.exact_ids, current.exact_vectors
    assert old_ids is not None and old_half is not None
    kept_old = np.isin(old_ids, ids, assume_unique=True)
    kept_new = np.isin(ids, old_ids, assume_unique=True)
    changed = np.zeros(len(ids), dtype=bool)
    if kept_new.any():
        old_rows = old_half[kept_old]
        changed[np.flatnonzero(kept_new)] = np.any(half[kept_new] != old_rows, axis=1)
    to_remove = np.concatenate([old_ids[~kept_old], ids[changed]])
    to_add = ~kept_new | changed
    faiss_index = current.faiss_index
    try:
        if len(to_remove):
            faiss_index.remove_ids(faiss.IDSelectorBatch(to_remove))
        if to_add.any():
            faiss_index.add_with_ids(vectors[to_add], ids[to_add])
    except RuntimeError:
        return build_index(ids, vectors, **rebuild_args)
    updated = replace(
        sidecar,
        count=len(ids),
        generation=generation,
        index_file=f"index-{generation}.faiss",
        ids_file=f"ids-{generation}.npy",
        vectors_file=f"vectors-{generation}.npy",
    )
    return VectorIndex(faiss_index, updated, ids, half)


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


def tune_search_parameters(
    index: VectorIndex,
    recall_target: float = DEFAULT_RECALL_TARGET,
    *,
    queries: int = TUNING_QUERIES,
    k: int = TUNING_K,
    seed: int = 0,
) -> tuple[dict[str, int], float]:
    """The cheapest nprobe / efSearch whose recall@k against exact search reaches the target,
    measured with a sample of stored vectors as queries (each query's own id excluded from both
    the truth and the answer), and the recall it reached."""
    assert index.exact_ids is not None and index.exact_vectors is not None
    inner = index.faiss_index
    if isinstance(inner, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        inner = faiss.downcast_index(inner.index)
    if isinstance(inner, faiss.IndexIVF):
        name = "nprobe"
        candidates = [value for value in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512)]
        candidates = [value for value in candidates if value <= inner.nlist] or [inner.nlist]
    elif isinstance(inner, faiss.IndexHNSW):
        name = "efSearch"
        candidates = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
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
    truth = _exact_top(index, query_vectors, k + extra)
    _, found = index._approximate_search(query_vectors, k + extra, None, params)
    hits = 0
    for row in range(len(query_vectors)):
        expected, answered = truth[row], found[row]
        if own_ids is not None:
            expected = expected[expected != own_ids[row]][:k]
            answered = answered[answered != own_ids[row]][:k]
        hits += len(np.intersect1d(expected, answered[answered >= 0]))
    return hits / (k * len(query_vectors))


def _exact_top(index: VectorIndex, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k ids over the whole exact store, in chunks to bound memory."""
    assert index.exact_ids is not None and index.exact_vectors is not None
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    chunk = 131_072
    for start in range(0, index.count, chunk):
        block = np.asarray(index.exact_vectors[start : start + chunk], dtype=np.float32)
        block_ids = np.broadcast_to(
            index.exact_ids[start : start + chunk], (len(queries), len(block))
        )
        scores, ids = VectorIndex._rank(queries, k, block_ids, block)
        best_scores = np.concatenate([best_scores, scores], axis=1)
        best_ids = np.concatenate([best_ids, ids], axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(best_scores, order, axis=1)
        best_ids = np.take_along_axis(best_ids, order, axis=1)
    return best_ids


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


def save_vector_index(directory: Path, index: VectorIndex) -> None:
    """Write the index files, then the sidecar that commits them; remove superseded files."""
    directory.mkdir(parents=True, exist_ok=True)
    sidecar = index.sidecar
    index_path = directory / sidecar.index_file
    _replace_atomically(
        index_path, lambda temporary: faiss.write_index(index.faiss_index, str(temporary))
    )
    if not index.is_exact:
        assert sidecar.ids_file and sidecar.vectors_file
        for name, array in (
            (sidecar.ids_file, index.exact_ids),
            (sidecar.vectors_file, index.exact_vectors),
        ):
            _replace_atomically(
                directory / name, lambda temporary, a=array: _save_npy(temporary, a)
            )
    sidecar_text = json.dumps(asdict(sidecar), indent=2)
    _replace_atomically(
        directory / SIDECAR_NAME, lambda temporary: temporary.write_text(sidecar_text)
    )
    current = {sidecar.index_file, sidecar.ids_file, sidecar.vectors_file}
    for pattern in ("index-*.faiss", "ids-*.npy", "vectors-*.npy"):
        for stale in directory.glob(pattern):
            if stale.name not in current:
                stale.unlink(missing_ok=True)


def _save_npy(path: Path, array: np.ndarray | None) -> None:
    with path.open("wb") as output:
        np.save(output, np.ascontiguousarray(array))


def read_sidecar(directory: Path) -> IndexSidecar | None:
    """The sidecar in ``directory``, or None when no index was ever saved there."""
    path = directory / SIDECAR_NAME
    if not path.exists():
        return None
    try:
        fields = json.loads(path.read_text())
        sidecar = IndexSidecar(**fields)
    except (ValueError, TypeError) as error:
        raise IndexMismatchError(f"index sidecar {path} is unreadable: {error}") from error
    if sidecar.format_version != SIDECAR_FORMAT_VERSION:
        raise IndexMismatchError(
            f"index sidecar {path} has unknown format {sidecar.format_version}"
        )
    return sidecar


def load_vector_index(
    directory: Path, *, expected_model_id: str, memory_map: bool = True
) -> VectorIndex:
    """Load the committed index and check it against its sidecar and the library's model.

    With ``memory_map`` (for searching) the index file and the exact store are memory-mapped
    where FAISS allows it, so a large index opens in moments and pages in as it is used; an
    index that will be updated in place is loaded with ``memory_map=False``."""
    sidecar = read_sidecar(directory)
    if sidecar is None:
        raise IndexMismatchError(f"no vector index in {directory}")
    if sidecar.model_id != expected_model_id:
        raise ModelMismatchError(
            f"the index in {directory} was built with model {sidecar.model_id}, "
            f"but the library uses {expected_model_id}"
        )
    index_path = directory / sidecar.index_file
    try:
        faiss_index = _read_faiss_index(index_path, memory_map)
    except RuntimeError as error:
        raise IndexMismatchError(f"index file {index_path} is unreadable: {error}") from error
    if faiss_index.ntotal != sidecar.count or faiss_index.d != sidecar.dimension:
        raise IndexMismatchError(
            f"index file {index_path} holds {faiss_index.ntotal} vectors of dimension "
            f"{faiss_index.d}; its sidecar says {sidecar.count} of dimension {sidecar.dimension}"
        )
    exact_ids = exact_vectors = None
    if sidecar.ids_file or sidecar.vectors_file:
        try:
            exact_ids = np.load(directory / str(sidecar.ids_file))
            exact_vectors = np.load(
                directory / str(sidecar.vectors_file), mmap_mode="r" if memory_map else None
            )
        except (OSError, ValueError) as error:
            raise IndexMismatchError(
                f"the exact store in {directory} is unreadable: {error}"
            ) from error
        expected_shape = (sidecar.count, sidecar.dimension)
        if exact_ids.shape != (sidecar.count,) or exact_vectors.shape != expected_shape:
            raise IndexMismatchError(
                f"the exact store in {directory} holds {exact_vectors.shape} vectors; "
                f"its sidecar says {expected_shape}"
            )
    if isinstance(faiss_index, faiss.IndexIVF) and sidecar.search_params.get("nprobe"):
        faiss_index.nprobe = int(sidecar.search_params["nprobe"])
    return VectorIndex(faiss_index, sidecar, exact_ids, exact_vectors)


def _read_faiss_index(path: Path, memory_map: bool) -> faiss.Index:
    if memory_map:
        try:
            return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError:
            pass  # Not every index kind can be mapped; read it whole.
    return faiss.read_index(str(path))


def _replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Let ``write`` fill a temporary file, make it durable, then rename it over ``path``, so
    that ``path`` always holds either the old or the new content, whole."""
    descriptor, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(descriptor)
    temporary = Path(temporary_name)
    try:
        write(temporary)
        with temporary.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry itself reaches the disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
