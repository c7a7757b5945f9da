"""Tuning an approximate index's search parameters (nprobe, efSearch) to a recall target.

Recall is measured against exact search over the index's own exact store, for every kind of
query users send: held-out images (a seeded sample of stored vectors, each query's own id left
out of both sides) and text-like queries (the model's embeddings of the tuning prompts when the
writer has the model, else synthetic ones: ``search.vectors.text_like``). The chosen value is the
cheapest whose recall reaches the target plus a margin for *every* kind, so a shift in the
queries does not land below the target.

The exact answers are computed once per build, in one chunked pass (a BLAS matrix product per
chunk) for all query kinds together; each candidate value is then judged against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import faiss
import numpy as np

from pixsift.search.records import EmbeddingMatrix, ImageIdArray
from pixsift.search.vectors.index import EXACT_CHUNK_ROWS, VectorIndex
from pixsift.search.vectors.text_like import synthetic_text_queries

DEFAULT_RECALL_TARGET = 0.95
#: The tuned value must reach the target by this much on the tuning queries, for every kind.
RECALL_MARGIN = 0.02
TUNING_QUERIES = 200
TUNING_K = 10
#: Up to 2048 probes: at ten million vectors in 4,096 lists, 512 probes with a x64 re-rank
#: reached 0.945 on the tuning sample (docs/benchmarks.md section 7), short of the target.
IVF_PROBES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512, 768, 1024, 1536, 2048)
HNSW_EF_SEARCH = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
#: Rows of stored vectors the synthetic text-like queries are made from (their mean and topics).
SYNTHETIC_SAMPLE = 20_000

#: Query kinds, as the sidecar and ``pixsift stats`` name them.
KIND_IMAGES = "images"
KIND_TEXT = "text"
KIND_TEXT_SYNTHETIC = "text-synthetic"


@dataclass(frozen=True)
class QueryKind:
    """One kind of tuning query. ``own_ids``: for stored vectors used as queries, each one's
    own id, left out of both the exact and the approximate answers."""

    name: str
    vectors: EmbeddingMatrix
    own_ids: ImageIdArray | None = None


@dataclass(frozen=True)
class Tuning:
    """The chosen search parameters and re-rank factor, and the recall@k each kind reached."""

    search_params: dict[str, int]
    rerank_factor: int
    recall: dict[str, float] = field(default_factory=dict)

    @property
    def worst_recall(self) -> float:
        return min(self.recall.values(), default=1.0)


def tuning_query_kinds(
    index: VectorIndex,
    text_queries: EmbeddingMatrix | None = None,
    *,
    queries: int = TUNING_QUERIES,
    seed: int = 0,
) -> list[QueryKind]:
    """Held-out stored images, and text queries: ``text_queries`` (the model's embeddings of
    the tuning prompts) when given and of the index's dimension, else synthetic text-like ones."""
    return [
        image_queries(index, queries=queries, seed=seed),
        text_query_kind(index, text_queries, queries=queries, seed=seed + 1),
    ]


def image_queries(index: VectorIndex, *, queries: int = TUNING_QUERIES, seed: int = 0) -> QueryKind:
    """A seeded sample of stored vectors as queries, each held out of its own answers."""
    assert index.exact_ids is not None and index.exact_vectors is not None
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(index.count, min(queries, index.count), replace=False))
    vectors = index.exact_vectors[rows].astype(np.float32)
    return QueryKind(KIND_IMAGES, vectors, np.asarray(index.exact_ids[rows], dtype=np.int64))


def text_query_kind(
    index: VectorIndex,
    text_queries: EmbeddingMatrix | None = None,
    *,
    queries: int = TUNING_QUERIES,
    seed: int = 1,
) -> QueryKind:
    """The model's prompt embeddings when usable, else ``queries`` synthetic text-like ones."""
    assert index.exact_vectors is not None
    usable = text_queries is not None and text_queries.ndim == 2 and len(text_queries) > 0
    if usable and text_queries.shape[1] == index.sidecar.dimension:  # type: ignore[union-attr]
        return QueryKind(KIND_TEXT, np.asarray(text_queries, dtype=np.float32))
    rng = np.random.default_rng(seed)
    rows = rng.choice(index.count, min(SYNTHETIC_SAMPLE, index.count), replace=False)
    sample = index.exact_vectors[np.sort(rows)].astype(np.float32)
    return QueryKind(KIND_TEXT_SYNTHETIC, synthetic_text_queries(sample, queries, seed=seed))


def exact_answers(
    queries: EmbeddingMatrix,
    k: int,
    ids: ImageIdArray,
    vectors: np.ndarray,
    floor: np.ndarray | None = None,
) -> ImageIdArray:
    """The exact top-``k`` ids per query over (``ids``, ``vectors``), best first (-1 pads rows
    when there are fewer than ``k`` vectors): one pass over the store in chunks, each scored by
    one BLAS matrix product for all queries.

    ``floor`` (optional, per query) is a score that the query's ``k``-th best is known to reach,
    e.g. the ``k``-th best exact score among an approximate search's candidates. Only scores at
    or above it are kept, so picking the top ``k`` costs next to nothing next to the product; a
    query whose floor is -inf is ranked in full."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    count = len(queries)
    # Rounding differs between two products of the same vectors: keep a little below the floor.
    floor = np.full(count, -np.inf, np.float32) if floor is None else np.asarray(floor) - 1e-4
    unbounded = np.flatnonzero(~np.isfinite(floor))
    found_rows, found_ids, found_scores = [], [], []
    for start in range(0, len(ids), EXACT_CHUNK_ROWS):
        chunk = np.asarray(vectors[start : start + EXACT_CHUNK_ROWS], dtype=np.float32)
        chunk_ids = np.asarray(ids[start : start + EXACT_CHUNK_ROWS], dtype=np.int64)
        scores = queries @ chunk.T
        rows, columns = np.nonzero(scores >= floor[:, None])
        keep = np.isfinite(floor[rows])
        found_rows.append(rows[keep])
        found_ids.append(chunk_ids[columns[keep]])
        found_scores.append(scores[rows[keep], columns[keep]])
        if len(unbounded):
            partial = scores[unbounded]
            width = min(k, partial.shape[1])
            top = np.argpartition(-partial, width - 1, axis=1)[:, :width]
            found_rows.append(np.repeat(unbounded, width))
            found_ids.append(chunk_ids[top].ravel())
            found_scores.append(np.take_along_axis(partial, top, axis=1).ravel())
    return _best_per_row(
        count,
        k,
        np.concatenate(found_rows),
        np.concatenate(found_ids),
        np.concatenate(found_scores),
    )


def _best_per_row(
    count: int, k: int, rows: np.ndarray, ids: np.ndarray, scores: np.ndarray
) -> ImageIdArray:
    """The ``k`` best ids per row from (row, id, score) triples, ties by id."""
    order = np.lexsort((ids, -scores, rows))
    rows, ids = rows[order], ids[order]
    starts = np.searchsorted(rows, np.arange(count))
    rank = np.arange(len(rows)) - starts[rows]
    best = np.full((count, k), -1, dtype=np.int64)
    kept = rank < k
    best[rows[kept], rank[kept]] = ids[kept]
    return best


class _RecallJudge:
    """Every tuning query with its exact answer, computed once; judges candidate parameters."""

    def __init__(self, index: VectorIndex, kinds: Sequence[QueryKind], k: int) -> None:
        assert index.exact_ids is not None and index.exact_vectors is not None
        self.index, self.kinds, self.k = index, list(kinds), k
        self.queries = np.concatenate([kind.vectors for kind in self.kinds]).astype(np.float32)
        self.own_ids = np.concatenate(
            [
                kind.own_ids if kind.own_ids is not None else np.full(len(kind.vectors), -1)
                for kind in self.kinds
            ]
        ).astype(np.int64)
        # The index's own candidates at its default (cheap) setting bound each query's k-th
        # best score from below, so the exact pass keeps only the few rows that can beat it.
        scores, _ = index.approximate_search(self.queries, k + 1, None, {})
        floor = scores[:, k] if scores.shape[1] > k else np.full(len(scores), -np.inf)
        self.truth = _without_own(
            exact_answers(self.queries, k + 1, index.exact_ids, index.exact_vectors, floor),
            self.own_ids,
            k,
        )

    def recall(self, search_params: dict[str, int], rerank_factor: int) -> dict[str, float]:
        _, found = self.index.approximate_search(
            self.queries, self.k + 1, None, search_params, rerank_factor
        )
        found = _without_own(found, self.own_ids, self.k)
        hits = np.array(
            [
                len(np.intersect1d(expected[expected >= 0], answered[answered >= 0]))
                for expected, answered in zip(self.truth, found, strict=True)
            ]
        )
        expected_counts = (self.truth >= 0).sum(axis=1)
        result, start = {}, 0
        for kind in self.kinds:
            stop = start + len(kind.vectors)
            possible = int(expected_counts[start:stop].sum())
            result[kind.name] = float(hits[start:stop].sum() / possible) if possible else 1.0
            start = stop
        return result


def _without_own(found: np.ndarray, own_ids: np.ndarray, k: int) -> np.ndarray:
    """Each row's ids without the query's own id (-1 where none), cut to ``k``."""
    rows = np.full((len(found), k), -1, dtype=np.int64)
    for row, (ids, own) in enumerate(zip(found, own_ids, strict=True)):
        kept = ids[(ids != own) | (own < 0)][:k]
        rows[row, : len(kept)] = kept
    return rows


def tune_search_parameters(
    index: VectorIndex,
    kinds: Sequence[QueryKind],
    recall_target: float = DEFAULT_RECALL_TARGET,
    *,
    rerank_factors: Sequence[int] = (),
    margin: float = RECALL_MARGIN,
    k: int = TUNING_K,
) -> Tuning:
    """The cheapest nprobe / efSearch (at the first re-rank factor that allows it) whose
    recall@k reaches ``recall_target + margin`` for every query kind. When none does, the
    setting with the best worst-kind recall, and the recall it reached (below the target)."""
    factors = list(rerank_factors) or [index.sidecar.rerank_factor]
    name, candidates = _candidates(index)
    if not name:
        return Tuning({}, factors[0], {kind.name: 1.0 for kind in kinds})
    judge = _RecallJudge(index, kinds, k)
    goal = min(recall_target + margin, 1.0)
    best: Tuning | None = None
    for factor in factors:
        stalled, previous = 0, -1.0
        for value in candidates:
            tuning = Tuning({name: value}, factor, judge.recall({name: value}, factor))
            if tuning.worst_recall >= goal:
                return tuning
            if best is None or tuning.worst_recall > best.worst_recall:
                best = tuning
            stalled = stalled + 1 if tuning.worst_recall <= previous else 0
            if stalled == 2:
                break  # the codes, not the probes, limit recall: re-rank more instead
            previous = max(previous, tuning.worst_recall)
    assert best is not None
    return best


def _candidates(index: VectorIndex) -> tuple[str, list[int]]:
    inner = index.faiss_index
    if isinstance(inner, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        inner = faiss.downcast_index(inner.index)
    if isinstance(inner, faiss.IndexIVF):
        return "nprobe", [value for value in IVF_PROBES if value <= inner.nlist] or [inner.nlist]
    if isinstance(inner, faiss.IndexHNSW):
        return "efSearch", list(HNSW_EF_SEARCH)
    return "", []


def measure_recall(
    index: VectorIndex,
    search_params: dict[str, int] | None = None,
    *,
    queries: int = TUNING_QUERIES,
    k: int = TUNING_K,
    seed: int = 0,
    query_vectors: np.ndarray | None = None,
) -> float:
    """recall@k of ``index`` with ``search_params`` (default: its tuned ones) against exact
    search over its exact store. Without ``query_vectors``, a seeded sample of stored vectors is
    the query set and each query's own id is left out of both sides."""
    assert index.exact_ids is not None and index.exact_vectors is not None
    params = index.sidecar.search_params if search_params is None else search_params
    if query_vectors is None:
        kind = image_queries(index, queries=queries, seed=seed)
    else:
        kind = QueryKind("queries", np.asarray(query_vectors, dtype=np.float32))
    judge = _RecallJudge(index, [kind], k)
    return judge.recall(params, index.sidecar.rerank_factor)[kind.name]
