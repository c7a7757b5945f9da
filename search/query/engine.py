"""The query engine: one function, :func:`run_search`, builds every result list; the CLI, the
JSON API and the page all call it and only render differently.

The path reads top to bottom: the request's terms become one query vector (search.query.vector);
filters and required phrases become the allowed ids, a cached bitmap (search.query.filters,
.keywords, search.vectors.selection); the vector index searches inside them, choosing per query
between a selector, an exact scan and post-filtering by the selection's size; a keyword ranking
is fused with the semantic one (search.query.rank); a minimum score, near-duplicate collapsing,
date order and the page window follow; the page's records are read last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from pixsift.search.decisions import hidden_image_ids, without_ids
from pixsift.search.errors import InvalidInputError
from pixsift.search.query.context import SearchContext
from pixsift.search.query.duplicates import collapse_near_duplicates
from pixsift.search.query.filters import cached_filter_selection, selection_cache, tag_generation
from pixsift.search.query.interpret import interpret_request
from pixsift.search.query.keywords import KeywordMatcher, KeywordQuery, parse_keyword_query
from pixsift.search.query.moments import group_moments
from pixsift.search.query.rank import (
    Ranking,
    at_least,
    by_date,
    fuse_weighted,
    reciprocal_rank_scores,
    window,
)
from pixsift.search.query.relevance import (
    CALIBRATION_SAMPLE_SIZE,
    UNCALIBRATED,
    Relevance,
    calibrate,
    with_probability,
)
from pixsift.search.query.request import MAX_RESULTS, SearchPage, SearchRequest
from pixsift.search.query.timing import collect_stages, collecting, stage
from pixsift.search.query.timing import logger as stage_logger
from pixsift.search.query.vector import query_vector
from pixsift.search.records import EmbeddingMatrix, ImageRecord, MomentHit, SearchHit
from pixsift.search.stacks import group_stacks, has_stacks
from pixsift.search.storage.videos import VideoStore
from pixsift.search.vectors.selection import Selection

#: Rankings that are re-ordered after retrieval (fusion, date order, collapsing) draw from a
#: fixed-depth candidate list, so that every page comes from the same list: no repeats, no gaps.
CANDIDATE_DEPTH = MAX_RESULTS
#: A filtered keyword half first reads this many times the matches it needs (then, if the
#: filter keeps too few of them, every match).
KEYWORD_OVERFETCH = 4


def run_search(
    library: SearchContext, request: SearchRequest, *, places: bool = True
) -> SearchPage:
    """One page of results for ``request``. Place names and dates in the text become filters
    first (search.query.interpret), and the page says how the text was read. Its stages are
    timed (logged at debug level by whoever collects them: here, unless a caller such as the
    API adds its own stages).

    ``places=False`` is for a caller who may not see where pictures were taken: location
    filters are refused, and neither the reading of the text nor the keyword half matches
    place names (either would answer "which pictures were taken in X")."""
    if not places:
        request.filters.refuse_location()
    outermost = not collecting()
    with collect_stages() as times:
        with stage("interpret"):
            generation = library.store.index_generation()
            request, reading = interpret_request(
                library.store.engine, generation, request, places=places
            )
        page = _run_search(library, request, places=places)
    if outermost:
        stage_logger.debug("search stages (ms): %s", times.summary())
    return page if reading is None else replace(page, interpretation=reading)


def _run_search(library: SearchContext, request: SearchRequest, *, places: bool) -> SearchPage:
    with stage("parse"):
        keyword_query = parse_keyword_query(request.keyword_text())
    if request.mode == "keyword" and keyword_query.is_empty():
        raise InvalidInputError("keyword mode needs words to look for")
    with stage("tower"):
        vector = query_vector(library, request.terms) if request.mode != "keyword" else None
    with stage("filters"):
        allowed = _selection(library, request, keyword_query)
        # Pictures the user hid (search.decisions) never come back; usually there are none.
        hidden = hidden_image_ids(library.store.engine)
        if allowed is not None and len(hidden):
            allowed = allowed.without(hidden)
    keyword: Ranking = []
    keyword_weight = 1.0
    if request.mode != "semantic" and not keyword_query.is_empty():
        with stage("keyword"):
            keyword, keyword_weight = _keyword_ranking(
                library,
                keyword_query,
                allowed,
                CANDIDATE_DEPTH,
                hybrid=request.mode == "hybrid",
                common_above=_common_above(library, request),
                places=places,
            )
    # A hybrid query whose words match no file name ranks exactly as a semantic one, so it
    # needs no deep candidate list (the keyword ranking is cheap and decides this first).
    fused = request.mode == "keyword" or (request.mode == "hybrid" and bool(keyword))
    videos = VideoStore(library.store)
    # Moments of one video share a result slot: grouping re-orders, so it needs the deep list.
    with stage("plan"):
        grouped = videos.has_moments()
        # Copies of one shot share a result slot (search.stacks): that re-orders too.
        stacked = request.stacks and has_stacks(library.store.engine)
    depth = _candidate_depth(request, fused or grouped or stacked)
    page_end = _page_end(request)
    extra = len(hidden) if allowed is None else 0  # hidden ones are dropped from the top
    with stage("vector_search"):
        semantic = _semantic_ranking(
            library, vector, allowed, depth + extra, min(depth, page_end) + extra
        )
        if extra:
            semantic, keyword = without_ids(semantic, hidden), without_ids(keyword, hidden)
    with stage("rerank"):
        ranking, scored = _ranked(library, request, vector, semantic, (keyword, keyword_weight))
        stacks: dict[int, tuple[int, ...]] = {}
        if stacked:
            ranking, stacks = group_stacks(library.store.engine, ranking)
    groups: dict[int, Ranking] = {}
    if grouped:
        ranking, groups = group_moments(ranking, videos.videos_of([i for i, _ in ranking]))
    with stage("records"):
        page = _page(library, ranking, scored, request, groups)
    if not stacks:
        return page
    return replace(page, hits=[replace(hit, stack=stacks.get(hit.id, ())) for hit in page.hits])


def _ranked(
    library: SearchContext,
    request: SearchRequest,
    vector: EmbeddingMatrix | None,
    semantic: Ranking,
    weighted_keyword: tuple[Ranking, float],
) -> tuple[Ranking, _Scoring]:
    """The fused (or single) ranking after the minimum score, the relevance cutoff, collapsing
    and date order, and what scoring its hits needs (the similarities known so far)."""
    keyword, keyword_weight = weighted_keyword
    if request.mode == "keyword":
        ranking = keyword
    else:
        ranking = fuse_weighted((semantic, 1.0), (keyword, keyword_weight)) if keyword else semantic
    relevance = _relevance(library, request, vector)
    cutoff = relevance.calibrated and not request.weaker
    worded = {image_id for image_id, _ in keyword}
    # Similarities of keyword-only candidates cost a database read each: fetch them for every
    # candidate only when a minimum score or the cutoff needs them, else for the page shown.
    similarities = dict(semantic)
    if request.min_score is not None or cutoff:
        similarities = _similarities(library, vector, [i for i, _ in ranking], similarities)
    if request.min_score is not None:
        ranking = at_least(ranking, similarities, request.min_score)
    if cutoff:
        # The list stops where matches end; a picture found by its words stays.
        ranking = [
            item
            for item in ranking
            if item[0] in worded or relevance.is_match(similarities.get(item[0]))
        ]
    if request.collapse_duplicates:
        ranking = _collapse(library, ranking, request.duplicate_threshold)
    if request.order == "date":
        records = library.images([image_id for image_id, _ in ranking])
        ranking = by_date(ranking, lambda i: _date(records, i))
    return ranking, _Scoring(vector, similarities, relevance, worded)


def _relevance(
    library: SearchContext, request: SearchRequest, vector: EmbeddingMatrix | None
) -> Relevance:
    """The query's calibration on the library, and a sigmoid model's probability for a plain
    text query (search.query.relevance)."""
    if vector is None:
        return UNCALIBRATED
    calibration = calibrate(vector, library.embedding_sample(CALIBRATION_SAMPLE_SIZE))
    (term,) = request.terms if len(request.terms) == 1 else (None,)
    if term is None or term.text is None or term.weight <= 0:
        return calibration  # only one text has a probability of matching
    return with_probability(calibration, library.sigmoid_scale(), request.match_probability)


@dataclass(frozen=True)
class _Scoring:
    """What the page needs to score its hits: the query vector, the similarities known so
    far, the query's calibration and the ids the words found."""

    vector: EmbeddingMatrix | None
    similarities: dict[int, float]
    relevance: Relevance
    worded: set[int]

    def relevance_of(self, image_id: int) -> tuple[float | None, str | None, float | None]:
        """The hit's relevance (z), band and probability (a sigmoid model's, or None)."""
        similarity = self.similarities.get(image_id)
        if similarity is None:
            return None, "words", None
        band = self.relevance.band(similarity)
        if band == "weak" and image_id in self.worded:
            band = "words"
        score = self.relevance.score(similarity) if self.relevance.calibrated else None
        return score, band, self.relevance.probability(similarity)


def _selection(
    library: SearchContext, request: SearchRequest, keyword_query: KeywordQuery
) -> Selection | None:
    """The images the request may return (None: any). Filter selections are cached per filter
    and store generation, so a repeated filter costs one bitmap, not one set, per request."""
    if request.filters.is_empty() and not keyword_query.required_phrases:
        return None
    engine = library.store.engine
    generation = library.store.index_generation()
    selection: Selection | None = None
    if not request.filters.is_empty():
        selection = cached_filter_selection(engine, request.filters, generation)
    if keyword_query.required_phrases:
        phrases = selection_cache(engine).get(
            # Tags and recognised text are indexed words too, and change without the images.
            ("phrases", keyword_query.required_phrases, tag_generation(engine)),
            generation,
            lambda: _phrase_selection(library, keyword_query),
        )
        selection = phrases if selection is None else selection.intersect(phrases)
    return None if selection is None or selection.covers_all else selection


def _phrase_selection(library: SearchContext, query: KeywordQuery) -> tuple[int, Selection]:
    # The generation is read first: if a write lands meanwhile, the entry is filed under the
    # older generation and never served once the newer one is read.
    generation = library.store.index_generation()
    ids = KeywordMatcher(library.store.engine).ids_with_required_phrases(query) or set()
    return generation, Selection.of_ids(np.fromiter(ids, dtype=np.int64, count=len(ids)))


def _candidate_depth(request: SearchRequest, fused: bool) -> int:
    reordered = fused or request.order != "score" or request.collapse_duplicates
    return CANDIDATE_DEPTH if reordered else min(MAX_RESULTS, _page_end(request))


def _page_end(request: SearchRequest) -> int:
    """Candidates the page needs: through the page, one more (is there a next page?), and the
    previous page's last ids it may resume after (rank.resume_at)."""
    return request.offset + request.k + 1 + len(request.after)


def _semantic_ranking(
    library: SearchContext,
    query: EmbeddingMatrix | None,
    allowed: Selection | None,
    depth: int,
    enough: int,
) -> Ranking:
    """Up to ``depth`` candidates; a filtered search settles for ``enough`` of them (the page
    and one more) rather than widening its search until ``depth`` are found."""
    if query is None or (allowed is not None and allowed.count == 0):
        return []
    index = library.vector_index()
    scores, ids = index.search(query, depth, allowed_ids=allowed, enough=enough)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def _keyword_ranking(
    library: SearchContext,
    query: KeywordQuery,
    allowed: Selection | None,
    depth: int,
    *,
    hybrid: bool = False,
    common_above: int | None = None,
    places: bool = True,
) -> tuple[Ranking, float]:
    """The best ``depth`` keyword matches inside ``allowed``, and the weight fusion gives them
    (hybrid mode's half is narrower, see :meth:`KeywordMatcher.hybrid_ids`). A filtered
    keyword-mode query first reads a bounded list (its rows, not every match's, come back to
    Python) and reads every match only when too few of those pass the filter. The full-text
    index still scores every match of its words either way (bm25 needs them all to order), so
    that second read is one more scoring pass, never several."""
    matcher = KeywordMatcher(library.store.engine, places=places)
    if hybrid:
        limit = -1 if allowed is not None else depth
        ids, weight = matcher.hybrid_ids(query, limit, common_above=common_above)
        kept = ids if allowed is None else _inside(allowed, ids)
        return reciprocal_rank_scores(kept[:depth]), weight
    if allowed is None:
        ranked = matcher.ranked_ids(query, depth, common_above=common_above)
        return reciprocal_rank_scores(ranked), 1.0
    limit = depth * KEYWORD_OVERFETCH
    if allowed.total and allowed.count * KEYWORD_OVERFETCH < allowed.total:
        limit = -1  # a filter this selective would keep too few of a bounded list: read all
    ids = matcher.ranked_ids(query, limit, common_above=common_above)
    kept = _inside(allowed, ids)
    if len(kept) < depth and len(ids) == limit:
        kept = _inside(allowed, matcher.ranked_ids(query, -1, common_above=common_above))
    return reciprocal_rank_scores(kept[:depth]), 1.0


def _inside(allowed: Selection, ids: list[int]) -> list[int]:
    kept = allowed.contains(np.asarray(ids, dtype=np.int64))
    return [image_id for image_id, keep in zip(ids, kept.tolist(), strict=True) if keep]


def _common_above(library: SearchContext, request: SearchRequest) -> int | None:
    """Half the library, the document frequency above which a word carries no bm25 weight;
    hybrid mode leaves such words out of its keyword half (keyword mode asked for them)."""
    if request.mode != "hybrid":
        return None
    count = getattr(library.vector_index(), "count", None)
    return None if count is None else max(1, int(count) // 2)


def _similarities(
    library: SearchContext,
    query: EmbeddingMatrix | None,
    image_ids: Sequence[int],
    known: dict[int, float],
) -> dict[int, float]:
    """``known`` completed with the cosine similarity of each of ``image_ids`` to ``query``."""
    missing = [image_id for image_id in image_ids if image_id not in known]
    if query is None or not missing:
        return known
    completed = dict(known)
    vectors = library.store.embeddings_for(missing, library.store.model_id() or "")
    for image_id, vector in vectors.items():
        completed[image_id] = float(vector @ query[0])
    return completed


def _collapse(library: SearchContext, ranking: Ranking, threshold: float) -> Ranking:
    ids = [image_id for image_id, _ in ranking]
    vectors = library.store.embeddings_for(ids, library.store.model_id() or "")
    kept = set(collapse_near_duplicates(ids, vectors, threshold))
    return [item for item in ranking if item[0] in kept]


def _date(records: dict[int, ImageRecord], image_id: int) -> datetime | None:
    record = records.get(image_id)
    return None if record is None else record.date_with_source()[0]


def _page(
    library: SearchContext,
    ranking: Ranking,
    scored: _Scoring,
    request: SearchRequest,
    groups: dict[int, Ranking],
) -> SearchPage:
    shown, next_offset = window(ranking, request.offset, request.k, MAX_RESULTS, request.after)
    shown_ids = [image_id for image_id, _ in shown]
    similarities = _similarities(library, scored.vector, shown_ids, scored.similarities)
    scored = replace(scored, similarities=similarities)
    moment_ids = [i for image_id in shown_ids for i, _ in groups.get(image_id, [])]
    records = library.images(shown_ids + moment_ids)

    def hit(image_id: int, score: float) -> SearchHit:
        relevance, band, probability = scored.relevance_of(image_id)
        moments = groups.get(image_id, [])
        return SearchHit(
            image=records[image_id],
            score=score,
            similarity=similarities.get(image_id),
            moments=tuple(MomentHit(image=records[i], score=s) for i, s in moments if i in records),
            relevance=relevance,
            band=band,
            probability=probability,
        )

    hits = [hit(image_id, score) for image_id, score in shown if image_id in records]
    return SearchPage(hits=hits, request=request, next_offset=next_offset)
