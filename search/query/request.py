"""The search request: what the CLI, the API and the page ask the engine for, and the page of
hits it answers with."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from search.errors import InvalidInputError
from search.query.duplicates import DEFAULT_DUPLICATE_THRESHOLD
from search.query.filters import SearchFilters
from search.records import SearchHit

SearchMode = Literal["semantic", "keyword", "hybrid"]
SEARCH_MODES: tuple[str, ...] = ("semantic", "keyword", "hybrid")
ResultOrder = Literal["score", "date"]
RESULT_ORDERS: tuple[str, ...] = ("score", "date")
MAX_RESULTS = 1000


@dataclass(frozen=True)
class QueryTerm:
    """One part of a query: a text, an image file or an indexed image, with a weight
    (negative weights subtract)."""

    text: str | None = None
    image_path: Path | None = None
    image_id: int | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        given = [
            value for value in (self.text, self.image_path, self.image_id) if value is not None
        ]
        if len(given) != 1:
            raise InvalidInputError("each query term is exactly one of: text, image, image id")
        if self.text is not None and not self.text.strip():
            raise InvalidInputError("a query text is empty")
        if not np.isfinite(self.weight) or self.weight == 0:
            raise InvalidInputError(f"a term's weight must be a non-zero number, not {self.weight}")


@dataclass(frozen=True)
class SearchRequest:
    terms: tuple[QueryTerm, ...] = ()
    filters: SearchFilters = field(default_factory=SearchFilters)
    mode: SearchMode = "hybrid"
    k: int = 10
    offset: int = 0
    min_score: float | None = None
    order: ResultOrder = "score"
    collapse_duplicates: bool = False
    duplicate_threshold: float = DEFAULT_DUPLICATE_THRESHOLD

    def __post_init__(self) -> None:
        if not self.terms:
            raise InvalidInputError("the query is empty: give a text, an image or an image id")
        if self.mode not in SEARCH_MODES:
            raise InvalidInputError(f"mode must be one of {', '.join(SEARCH_MODES)}")
        if self.order not in RESULT_ORDERS:
            raise InvalidInputError(f"order must be one of {', '.join(RESULT_ORDERS)}")
        if not 1 <= self.k <= MAX_RESULTS:
            raise InvalidInputError(f"k must be between 1 and {MAX_RESULTS}, not {self.k}")
        if not 0 <= self.offset < MAX_RESULTS:
            raise InvalidInputError(f"offset must be between 0 and {MAX_RESULTS - 1}")
        if self.min_score is not None and not -1 <= self.min_score <= 1:
            raise InvalidInputError("the minimum score is a cosine similarity, between -1 and 1")
        if not 0 < self.duplicate_threshold <= 1:
            raise InvalidInputError("the duplicate threshold must lie in (0, 1]")
        if not any(term.weight > 0 for term in self.terms):
            raise InvalidInputError("a query needs at least one term with a positive weight")

    def keyword_text(self) -> str:
        return " ".join(term.text for term in self.terms if term.text and term.weight > 0)

    def next_page(self) -> SearchRequest:
        return replace(self, offset=self.offset + self.k)


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    request: SearchRequest
    #: Offset of the next page, or None on the last page.
    next_offset: int | None
