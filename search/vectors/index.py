"""The FAISS cosine index and its search.

The index is a derived artifact of the database: it can always be rebuilt from the stored
embeddings. Cosine similarity is the inner product of L2-normalised vectors, and the FAISS ids are
the database image ids, written together with the vectors by ``add_with_ids``.

Small libraries get an exact flat index. Large ones get an approximate index (see
``search.vectors.build``) plus an *exact store*: the embeddings as float16 (exactly the precision
the database keeps), sorted by image id, memory-mapped. The approximate index proposes candidates;
the exact store re-ranks them, so returned scores are exact cosines, and a search restricted to a
small set of allowed ids scans those vectors exactly instead.

The stages live in sibling modules: ``build`` (choose, build, update), ``tune`` (search
parameters, recall), ``persist`` (atomic files, checked loads, publishing), ``live`` (what a
search reads: the published index plus the vectors written since), ``writer`` (the one writer).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import faiss
import numpy as np

from pixsift.search.errors import IndexMismatchError
from pixsift.search.records import EmbeddingMatrix, ImageIdArray
from pixsift.search.vectors.selection import Selection, as_selection
from pixsift.search.vectors.sidecar import IndexSidecar

#: A filtered search over at most this many allowed ids scans them exactly (~5 ms at 20k x 512).
EXACT_SCAN_LIMIT = 20_000
#: A filter keeping at least this share of the index post-filters a deeper unfiltered candidate
#: list rather than testing every scanned code against a selector.
POST_FILTER_FRACTION = 0.5
#: Post-filtering fetches this much more than k / fraction candidates, for the share's variance.
POST_FILTER_MARGIN = 1.5
#: Rows scored at once by an exact scan, to bound the float32 copy of float16 vectors.
EXACT_CHUNK_ROWS = 131_072


class SearchableVectors(Protocol):
    """What a search needs of an index: the published one, or the live view over it."""

    def search(
        self,
        queries: EmbeddingMatrix,
        k: int,
        allowed_ids: Selection | ImageIdArray | None = None,
        *,
        enough: int | None = None,
    ) -> tuple[EmbeddingMatrix, ImageIdArray]: ...


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

    def ids(self) -> ImageIdArray:
        """Every image id the index holds, ascending."""
        if self.exact_ids is not None:
            return np.asarray(self.exact_ids, dtype=np.int64)
        id_map = getattr(self.faiss_index, "id_map", None)
        if id_map is None:
            return np.zeros(0, dtype=np.int64)
        return np.sort(faiss.vector_to_array(id_map).astype(np.int64))

    def search(
        self,
        queries: EmbeddingMatrix,
        k: int,
        allowed_ids: Selection | ImageIdArray | None = None,
        *,
        excluded_ids: ImageIdArray | None = None,
        enough: int | None = None,
    ) -> tuple[EmbeddingMatrix, ImageIdArray]:
        """Top-``k`` (scores, ids) per query row, among ``allowed_ids`` when given and never
        among ``excluded_ids`` (filters are applied inside the search, so k results come back
        whenever k eligible ids exist; with ``enough``, at least that many). Missing slots have
        id -1. Scores are exact cosines whatever the index type."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.sidecar.dimension:
            raise IndexMismatchError(
                f"query vectors have shape {queries.shape}, the index holds "
                f"{self.sidecar.dimension}-dimensional vectors"
            )
        allowed = as_selection(allowed_ids)
        if allowed is not None and allowed.covers_all:
            allowed = None  # A filter that keeps everything costs what no filter costs.
        if allowed is not None and excluded_ids is not None and len(excluded_ids):
            allowed, excluded_ids = allowed.without(excluded_ids), None
        limit = self.count if allowed is None else min(self.count, allowed.count)
        if limit == 0 or k <= 0:
            return empty_result(len(queries))
        if self.is_exact:
            selector = _IdFilter(allowed, excluded_ids)
            params = _search_parameters(self.faiss_index, {}, selector.faiss_selector)
            scores, ids = self.faiss_index.search(queries, min(k, limit), params=params)
            return scores, ids
        if allowed is None:
            selector = _IdFilter(None, excluded_ids)
            params = self.sidecar.search_params
            return self.approximate_search(queries, k, selector, params, head=enough)
        return self._filtered_search(queries, k, allowed, k if enough is None else enough)

    def _filtered_search(
        self, queries: np.ndarray, k: int, allowed: Selection, enough: int
    ) -> tuple[EmbeddingMatrix, ImageIdArray]:
        """The strategy that costs least for the selection's size; each falls back to the next
        (post-filter, then selector, then exact scan) when a query row comes back with fewer
        than ``min(enough, allowed.count)`` results, so a filter never loses results."""
        if allowed.count <= EXACT_SCAN_LIMIT:
            return self._exact_scan(queries, k, allowed.ids())
        wanted = min(enough, k, allowed.count)
        fraction = allowed.fraction(self.count)
        params = self.sidecar.search_params
        if fraction >= POST_FILTER_FRACTION:
            result = self.approximate_search(
                queries, k, None, params, post_filter=allowed, head=enough
            )
            if _enough(result[1], wanted):
                return result
        result = self.approximate_search(queries, k, _IdFilter(allowed, None), params, head=enough)
        if _enough(result[1], wanted):
            return result
        return self._exact_scan(queries, k, allowed.ids())

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
        assert self.exact_ids is not None and self.exact_vectors is not None
        # Selection ids come ascending and unique, so their rows do too.
        rows = self._rows_of(allowed_ids)
        return exact_top_k(queries, k, self.exact_ids[rows], self.exact_vectors[rows])

    def approximate_search(
        self,
        queries: np.ndarray,
        k: int,
        selector: _IdFilter | None,
        search_params: dict[str, int],
        rerank_factor: int | None = None,
        *,
        post_filter: Selection | None = None,
        head: int | None = None,
    ) -> tuple[EmbeddingMatrix, ImageIdArray]:
        """Candidates from the approximate index, re-ranked exactly from the exact store.
        ``head``: how many leading results must be as good as tuned (the page; default k):
        the re-rank factor, tuned for the top 10, multiplies it, not k. A hybrid search asks
        for 1,000 candidates to fuse and shows 10: x128 of 1,000 read 128,000 rows of the
        float16 store per query at 10M (~300 ms), x128 of 11 reads 1,408, deeper ranks come
        from the same exactly re-ranked pool. With ``post_filter``, the candidate list is
        deepened by the inverse of the selected fraction (plus a margin) and candidates outside
        the selection are dropped before re-ranking."""
        assert self.exact_ids is not None and self.exact_vectors is not None
        factor = rerank_factor or self.sidecar.rerank_factor
        fetch = max(k, min(k, head or k) * factor)
        if post_filter is not None:
            fetch = math.ceil(fetch * POST_FILTER_MARGIN / post_filter.fraction(self.count))
        fetch = min(self.count, fetch)
        faiss_selector = selector.faiss_selector if selector is not None else None
        params = _search_parameters(self.faiss_index, search_params, faiss_selector)
        _, candidates = self.faiss_index.search(queries, fetch, params=params)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, found in enumerate(candidates):
            found = found[found >= 0]
            if post_filter is not None:
                found = found[post_filter.contains(found)]
            if len(found) == 0:
                continue
            rows = self._rows_of(found)
            ranked_scores, ranked_ids = rank_exactly(
                queries[row : row + 1], k, self.exact_ids[rows], self.exact_vectors[rows]
            )
            scores[row, : ranked_ids.shape[1]] = ranked_scores[0]
            ids[row, : ranked_ids.shape[1]] = ranked_ids[0]
        return scores, ids


class _IdFilter:
    """The FAISS selector for "among these ids" and/or "not these ids". It holds every selector
    it builds: FAISS keeps raw pointers, so the Python objects must outlive the search."""

    def __init__(self, allowed: Selection | None, excluded_ids: np.ndarray | None) -> None:
        self._parts: list[Any] = []
        self.faiss_selector: Any = None
        if allowed is not None:
            self.faiss_selector = allowed.faiss_selector()
            self._parts.append(self.faiss_selector)
        elif excluded_ids is not None and len(excluded_ids):
            batch = faiss.IDSelectorBatch(np.ascontiguousarray(excluded_ids, dtype=np.int64))
            self.faiss_selector = faiss.IDSelectorNot(batch)
            self._parts.extend((batch, self.faiss_selector))


def _enough(ids: np.ndarray, wanted: int) -> bool:
    """Whether every query row found at least ``wanted`` ids."""
    return bool(((ids >= 0).sum(axis=1) >= wanted).all())


def empty_result(rows: int) -> tuple[EmbeddingMatrix, ImageIdArray]:
    return np.zeros((rows, 0), dtype=np.float32), np.zeros((rows, 0), dtype=np.int64)


def rank_exactly(
    queries: np.ndarray, k: int, candidate_ids: np.ndarray, candidate_vectors: np.ndarray
) -> tuple[EmbeddingMatrix, ImageIdArray]:
    """Exact top-k of ``candidate_vectors`` (one row per id in ``candidate_ids``, the same
    candidates for every query), best first."""
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
    ids = np.asarray(candidate_ids, dtype=np.int64)[top]
    return scores, ids


def exact_top_k(
    queries: np.ndarray, k: int, ids: np.ndarray, vectors: np.ndarray
) -> tuple[EmbeddingMatrix, ImageIdArray]:
    """Exact top-k over (``ids``, ``vectors``), scored in chunks to bound memory."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if len(ids) == 0 or k <= 0:
        return empty_result(len(queries))
    best_scores, best_ids = empty_result(len(queries))
    for start in range(0, len(ids), EXACT_CHUNK_ROWS):
        stop = start + EXACT_CHUNK_ROWS
        scores, found = rank_exactly(queries, k, ids[start:stop], vectors[start:stop])
        best_scores, best_ids = merge_top_k([(best_scores, best_ids), (scores, found)], k)
    return best_scores, best_ids


def merge_top_k(
    parts: list[tuple[np.ndarray, np.ndarray]], k: int
) -> tuple[EmbeddingMatrix, ImageIdArray]:
    """The best ``k`` per row of several (scores, ids) results; empty slots (id -1) sort last
    and are dropped where there are fewer than ``k`` real results in every row."""
    scores = np.concatenate([np.asarray(part[0], dtype=np.float32) for part in parts], axis=1)
    ids = np.concatenate([np.asarray(part[1], dtype=np.int64) for part in parts], axis=1)
    scores = np.where(ids >= 0, scores, -np.inf).astype(np.float32)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    scores = np.take_along_axis(scores, order, axis=1)
    ids = np.take_along_axis(ids, order, axis=1)
    width = int((ids >= 0).sum(axis=1).max()) if ids.size else 0
    return scores[:, :width], ids[:, :width]


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
