"""The query engine: combined and negative queries, filters inside the vector search, keyword
hybrid, minimum score, date ordering, near-duplicate collapsing and stable pagination.

One function, :func:`run_search`, builds every result list; the CLI, the JSON API and the page
all call it and only render differently.

How terms are weighed: a text's cosine similarities to images spread much less (CLIP's text and
image embeddings sit in different regions of the space) than an image's similarities to other
images. Each term's embedding is therefore divided by the spread (standard deviation) of its
similarities over a sample of the library before the weighted sum. Because similarity is linear
in the query vector, ranking by the normalised sum is the same as ranking by the weighted sum of
each term's z-scored similarity, so "this photo, but at night" gives the text as much say as the
photo, and a weight of -1 subtracts as much as +1 adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from search.errors import InvalidInputError
from search.model.embedder import l2_normalise
from search.query.duplicates import collapse_near_duplicates
from search.query.keywords import KeywordMatcher, KeywordQuery, parse_keyword_query
from search.query.request import (
    MAX_RESULTS,
    QueryTerm,
    SearchPage,
    SearchRequest,
)
from search.records import EmbeddingMatrix, ImageRecord, SearchHit
from search.storage.store import LibraryStore
from search.vectors.index import VectorIndex


class Library(Protocol):
    """What the engine needs from a library (search.library.Library provides it; the engine
    never imports the facade, so the two cannot form an import cycle)."""

    store: LibraryStore

    def vector_index(self) -> VectorIndex: ...

    def query_embedding(
        self,
        *,
        text: str | None = None,
        image: Path | str | None = None,
        image_id: int | None = None,
    ) -> EmbeddingMatrix: ...

    def embedding_sample(self, count: int) -> EmbeddingMatrix: ...

    def images(self, image_ids: Sequence[int]) -> dict[int, ImageRecord]: ...


#: Rankings that are re-ordered after retrieval (fusion, date order, collapsing) draw from a
#: fixed-depth candidate list, so that every page comes from the same list: no repeats, no gaps.
CANDIDATE_DEPTH = MAX_RESULTS
RECIPROCAL_RANK_CONSTANT = 60
SPREAD_SAMPLE_SIZE = 2048
MIN_SPREAD = 1e-3


def run_search(library: Library, request: SearchRequest) -> SearchPage:
    allowed_ids = _allowed_ids(library, request)
    keyword_query = parse_keyword_query(request.keyword_text())
    query_vector = _query_vector(library, request) if request.mode != "keyword" else None
    if query_vector is None and request.mode == "keyword" and keyword_query.is_empty():
        raise InvalidInputError("keyword mode needs words to look for")
    keyword: Ranking = []
    if request.mode != "semantic" and not keyword_query.is_empty():
        keyword = _keyword_ranking(library, keyword_query, allowed_ids, CANDIDATE_DEPTH)
    # A hybrid query whose words match no file name ranks exactly as a semantic one, so it
    # needs no deep candidate list (the keyword ranking is cheap and decides this first).
    fused = request.mode == "keyword" or (request.mode == "hybrid" and bool(keyword))
    semantic = _semantic_ranking(
        library, query_vector, allowed_ids, _candidate_depth(request, fused)
    )
    if request.mode == "keyword":
        ranking = keyword
    else:
        ranking = _fuse(semantic, keyword) if keyword else semantic
    # Similarities of keyword-only candidates cost a database read each: fetch them for every
    # candidate only when a minimum score needs them, else for the page shown.
    similarities = dict(semantic)
    if request.min_score is not None:
        similarities = _similarities(library, query_vector, [i for i, _ in ranking], similarities)
        ranking = _apply_min_score(ranking, similarities, request.min_score)
    if request.collapse_duplicates:
        ranking = _collapse(library, ranking, request.duplicate_threshold)
    return _page(library, ranking, query_vector, similarities, request)


def _allowed_ids(library: Library, request: SearchRequest) -> np.ndarray | None:
    allowed: set[int] | None = None
    if not request.filters.is_empty():
        allowed = set(library.store.filtered_image_ids(request.filters).tolist())
    phrases = KeywordMatcher(library.store.engine).ids_with_required_phrases(
        parse_keyword_query(request.keyword_text())
    )
    if phrases is not None:
        allowed = phrases if allowed is None else allowed & phrases
    return None if allowed is None else np.array(sorted(allowed), dtype=np.int64)


def _candidate_depth(request: SearchRequest, fused: bool) -> int:
    reordered = fused or request.order != "score" or request.collapse_duplicates
    return CANDIDATE_DEPTH if reordered else min(MAX_RESULTS, request.offset + request.k + 1)


def _query_vector(library: Library, request: SearchRequest) -> EmbeddingMatrix:
    embeddings = np.concatenate([_term_embedding(library, term) for term in request.terms])
    if len(request.terms) == 1:
        return embeddings
    spreads = _similarity_spreads(library, embeddings)
    weights = np.array([term.weight for term in request.terms], dtype=np.float32)
    combined = (weights / spreads) @ embeddings
    if float(np.linalg.norm(combined)) < 1e-6:
        raise InvalidInputError("the query terms cancel each other out")
    return l2_normalise(combined.reshape(1, -1))


def _term_embedding(library: Library, term: QueryTerm) -> EmbeddingMatrix:
    return library.query_embedding(text=term.text, image=term.image_path, image_id=term.image_id)


def _similarity_spreads(library: Library, embeddings: EmbeddingMatrix) -> np.ndarray:
    sample = library.embedding_sample(SPREAD_SAMPLE_SIZE)
    if len(sample) < 2:
        return np.ones(len(embeddings), dtype=np.float32)
    return np.maximum((sample @ embeddings.T).std(axis=0), MIN_SPREAD).astype(np.float32)


Ranking = list[tuple[int, float]]


def _semantic_ranking(
    library: Library, query: EmbeddingMatrix | None, allowed_ids: np.ndarray | None, depth: int
) -> Ranking:
    if query is None or (allowed_ids is not None and len(allowed_ids) == 0):
        return []
    scores, ids = library.vector_index().search(query, depth, allowed_ids=allowed_ids)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def _keyword_ranking(
    library: Library, query: KeywordQuery, allowed_ids: np.ndarray | None, depth: int
) -> Ranking:
    matcher = KeywordMatcher(library.store.engine)
    limit = -1 if allowed_ids is not None else depth
    ids = matcher.ranked_ids(query, limit)
    if allowed_ids is not None:
        allowed = set(allowed_ids.tolist())
        ids = [image_id for image_id in ids if image_id in allowed][:depth]
    return [
        (image_id, 1.0 / (RECIPROCAL_RANK_CONSTANT + rank)) for rank, image_id in enumerate(ids, 1)
    ]


def _fuse(semantic: Ranking, keyword: Ranking) -> Ranking:
    """Reciprocal-rank fusion: each list adds 1/(60 + rank); ties go to the smaller id."""
    fused: dict[int, float] = {}
    for ranking in (semantic, keyword):
        for rank, (image_id, _) in enumerate(ranking, 1):
            fused[image_id] = fused.get(image_id, 0.0) + 1.0 / (RECIPROCAL_RANK_CONSTANT + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def _similarities(
    library: Library,
    query: EmbeddingMatrix | None,
    image_ids: Sequence[int],
    known: dict[int, float],
) -> dict[int, float]:
    """``known`` completed with the cosine similarity of each of ``image_ids`` to ``query``."""
    if query is None:
        return known
    missing = [image_id for image_id in image_ids if image_id not in known]
    if not missing:
        return known
    completed = dict(known)
    vectors = library.store.embeddings_for(missing, library.store.model_id() or "")
    for image_id, vector in vectors.items():
        completed[image_id] = float(vector @ query[0])
    return completed


def _apply_min_score(
    ranking: Ranking, similarities: dict[int, float], min_score: float | None
) -> Ranking:
    if min_score is None:
        return ranking
    return [item for item in ranking if similarities.get(item[0], -1.0) >= min_score]


def _collapse(library: Library, ranking: Ranking, threshold: float) -> Ranking:
    ids = [image_id for image_id, _ in ranking]
    vectors = library.store.embeddings_for(ids, library.store.model_id() or "")
    kept = set(collapse_near_duplicates(ids, vectors, threshold))
    return [item for item in ranking if item[0] in kept]


def _page(
    library: Library,
    ranking: Ranking,
    query_vector: EmbeddingMatrix | None,
    similarities: dict[int, float],
    request: SearchRequest,
) -> SearchPage:
    if request.order == "date":
        records = library.images([image_id for image_id, _ in ranking])
        ranking = sorted(
            (item for item in ranking if item[0] in records),
            key=lambda item: (records[item[0]].date_with_source()[0], -item[0]),
            reverse=True,
        )
    end = request.offset + request.k
    window = ranking[request.offset : end]
    window_ids = [image_id for image_id, _ in window]
    similarities = _similarities(library, query_vector, window_ids, similarities)
    records = library.images(window_ids)
    hits = [
        SearchHit(image=records[image_id], score=score, similarity=similarities.get(image_id))
        for image_id, score in window
        if image_id in records
    ]
    next_offset = end if len(ranking) > end and end < MAX_RESULTS else None
    return SearchPage(hits=hits, request=request, next_offset=next_offset)
