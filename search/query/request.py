"""The search request, declared once: the filters, the query terms and the ranking options as
typed models. The API parses requests with them, its OpenAPI document is their JSON schema, the
CLI's filter options are made from their fields, and search.query.filters turns the filters into
SQL. Every number is bounded to what the store can hold and every text is valid Unicode, so a bad
value is refused here (:class:`InvalidInputError`, one line) and never reaches the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field, model_validator
from typing_extensions import Self

from pixsift.search.errors import InvalidInputError, PermissionDeniedError
from pixsift.search.query.contract import BuiltInCode, Contract
from pixsift.search.query.duplicates import DEFAULT_DUPLICATE_THRESHOLD
from pixsift.search.query.filter_types import (
    ASCII_SPACE,
    EARLIEST_DATE,
    GEO_BOX_PATTERN,
    LATEST_DATE,
    NOT_BLANK,
    EndDate,
    GeoBox,
    GeoBoxText,
    StartDate,
    TagName,
    parse_filter_date,
)
from pixsift.search.records import SearchHit

if TYPE_CHECKING:
    from pixsift.search.query.interpretation import QueryInterpretation

#: Declared in search.query.filter_types and .contract; importable from here as before.
__all__ = [
    "ASCII_SPACE",
    "EARLIEST_DATE",
    "GEO_BOX_PATTERN",
    "LATEST_DATE",
    "NOT_BLANK",
    "BuiltInCode",
    "Contract",
    "GeoBox",
    "parse_filter_date",
]  # fmt: skip

SearchMode = Literal["semantic", "keyword", "hybrid"]
SEARCH_MODES: tuple[str, ...] = get_args(SearchMode)
ResultOrder = Literal["score", "date"]
RESULT_ORDERS: tuple[str, ...] = get_args(ResultOrder)
Orientation = Literal["landscape", "portrait", "square"]
ORIENTATIONS: tuple[str, ...] = get_args(Orientation)

MAX_RESULTS = 1000
#: SQLite integers are signed 64-bit: the largest image id and byte count the store can hold.
MAX_STORED_INTEGER = 2**63 - 1
MAX_TEXT_LENGTH = 1000
MAX_TERMS = 20
MAX_WEIGHT = 100.0
MAX_FORMATS = 20
MAX_SIDE_PIXELS = 2**31
MAX_MEGAPIXELS = 1e6


# Field types ---------------------------------------------------------------------------------


def _valid_unicode(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode (it holds a lone surrogate)") from None
    return text


def _not_blank(text: str) -> str:
    if not text.strip(ASCII_SPACE):
        raise ValueError("is empty")
    return text


#: A query text: 1..1000 characters, not only whitespace.
QueryText = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TEXT_LENGTH, pattern=NOT_BLANK),
    AfterValidator(_valid_unicode),
    AfterValidator(_not_blank),
]
#: A filter's text (a folder, a glob, a camera name).
FilterText = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TEXT_LENGTH, pattern=NOT_BLANK),
    AfterValidator(_valid_unicode),
    AfterValidator(_not_blank),
]
ImageId = Annotated[int, Field(ge=1, le=MAX_STORED_INTEGER)]
Pixels = Annotated[int, Field(ge=0, le=MAX_SIDE_PIXELS)]
Bytes = Annotated[int, Field(ge=0, le=MAX_STORED_INTEGER)]
Megapixels = Annotated[float, Field(ge=0, le=MAX_MEGAPIXELS, allow_inf_nan=False)]
#: What people call a format, as Pillow names it: ``jpg`` means JPEG (any case).
FORMAT_ALIASES = {"JPG": "JPEG", "JPE": "JPEG", "JFIF": "JPEG", "TIF": "TIFF", "HEIC": "HEIF"}


def _format_name(name: str) -> str:
    upper = name.upper()
    return FORMAT_ALIASES.get(upper, upper)


FormatName = Annotated[
    str,
    Field(pattern=r"^\.?[A-Za-z0-9][A-Za-z0-9-]{0,19}$"),
    AfterValidator(lambda name: _format_name(name.removeprefix("."))),
]

# Filters ---------------------------------------------------------------------------------------


#: SearchFilters' fields that select by location.
LOCATION_FILTERS = ("has_gps", "gps_box", "place")


class SearchFilters(Contract):
    """Which images a query may return. Every field is optional; set fields must all hold.
    The field names are the API's parameter names and (with dashes) the CLI's options."""

    root: FilterText | None = Field(None, description="Only images under this indexed root.")
    folder: FilterText | None = Field(
        None,
        description="Only images in this folder (relative to its root), e.g. 2024/trips; a "
        "name without '/' also matches a folder of that name anywhere (any case), e.g. trips.",
    )
    path: FilterText | None = Field(
        None, description="Glob on the relative path, e.g. '*/beach-*.jpg' or '[!x]*'."
    )
    after: StartDate | None = Field(
        None,
        description="Taken on or after this date (file time when no EXIF date), 1900..2200, "
        "e.g. 2024-06-30.",
    )
    before: EndDate | None = Field(
        None, description="Taken on or before this date; a bare date means the whole day."
    )
    camera_make: FilterText | None = Field(None, description="Camera make (any case).")
    camera_model: FilterText | None = Field(None, description="Camera model (any case).")
    min_width: Pixels | None = Field(None, description="Minimum width in pixels.")
    max_width: Pixels | None = Field(None, description="Maximum width in pixels.")
    min_height: Pixels | None = Field(None, description="Minimum height in pixels.")
    max_height: Pixels | None = Field(None, description="Maximum height in pixels.")
    min_megapixels: Megapixels | None = Field(None, description="Minimum megapixels.")
    max_megapixels: Megapixels | None = Field(None, description="Maximum megapixels.")
    orientation: Orientation | None = Field(None, description="Image orientation.")
    format: tuple[FormatName, ...] = Field(
        (),
        max_length=MAX_FORMATS,
        description="Image formats, e.g. JPEG (any of them; any case; jpg means JPEG).",
    )
    min_size: Bytes | None = Field(None, description="Minimum file size in bytes.")
    max_size: Bytes | None = Field(None, description="Maximum file size in bytes.")
    has_gps: bool | None = Field(None, description="Only images with (true) or without a GPS tag.")
    gps_box: GeoBoxText | None = Field(
        None, description="Only images taken inside 'south,west,north,east' (degrees)."
    )
    tag: tuple[TagName, ...] = Field(
        (), max_length=MAX_FORMATS, description="Only images with every one of these tags."
    )
    album: ImageId | None = Field(
        None, description="Only pictures of this album (of a smart album: its pinned ones)."
    )
    place: FilterText | None = Field(
        None,
        description="Only pictures taken in this city, region or country (any case), e.g. Lisbon.",
    )
    month: Annotated[int, Field(ge=1, le=12)] | None = Field(
        None, description="Only pictures taken in this month (1-12) of any year (EXIF date)."
    )

    @model_validator(mode="after")
    def _ranges_are_not_empty(self) -> Self:
        for name, low, high in (
            ("date", self.after, self.before),
            ("width", self.min_width, self.max_width),
            ("height", self.min_height, self.max_height),
            ("megapixels", self.min_megapixels, self.max_megapixels),
            ("file size", self.min_size, self.max_size),
        ):
            if low is not None and high is not None and low > high:  # type: ignore[operator]
                raise InvalidInputError(f"the {name} range is empty: {low} is after {high}")
        return self

    def set_values(self) -> dict[str, Any]:
        """The filter fields that are set (not None, not empty), as Python values."""
        values = {name: getattr(self, name) for name in SearchFilters.model_fields}
        return {name: value for name, value in values.items() if value not in (None, ())}

    def is_empty(self) -> bool:
        return not self.set_values()

    def location_filters(self) -> list[str]:
        """The set filters that select by where a picture was taken (they answer "which
        pictures were taken here", so only callers who may see locations use them)."""
        return [name for name in LOCATION_FILTERS if name in self.set_values()]

    def refuse_location(self) -> None:
        """PermissionDeniedError if a filter selects by location: for a caller who may not see
        where pictures were taken."""
        if located := self.location_filters():
            raise PermissionDeniedError(
                f"filtering by location ({', '.join(located)}) needs permission to see where "
                "pictures were taken"
            )

    def filters(self) -> SearchFilters:
        """Only the filter fields (for models that add others)."""
        return SearchFilters.model_construct(**self.set_values())


# Terms and requests ---------------------------------------------------------------------------


Weight = Annotated[
    float,
    Field(
        ge=-MAX_WEIGHT,
        le=MAX_WEIGHT,
        allow_inf_nan=False,
        json_schema_extra={"not": {"const": 0}},
        description="Non-zero; negative weights subtract the term.",
    ),
]


class TermSpec(Contract):
    """A weighted query term as a client names it: a text or an indexed image."""

    text: QueryText | None = None
    image_id: ImageId | None = None
    weight: Weight = 1.0

    def subjects(self) -> list[object]:
        return [value for value in (self.text, self.image_id) if value is not None]

    @model_validator(mode="after")
    def _one_subject_and_a_weight(self) -> Self:
        if len(self.subjects()) != 1:
            raise InvalidInputError("each query term is exactly one of: text, image, image id")
        if self.weight == 0:
            raise InvalidInputError("a term's weight must be a non-zero number")
        return self


class QueryTerm(TermSpec, BuiltInCode):
    """One part of a query: a text, an image file or an indexed image, with a weight (negative
    weights subtract). Image files come from the CLI or an upload, never from a client's
    JSON."""

    image_path: Path | None = None

    def subjects(self) -> list[object]:
        return [*super().subjects(), *([self.image_path] if self.image_path else [])]


class RankingOptions(Contract):
    """How the results are ranked; the same for the CLI, the API and the page."""

    mode: SearchMode = Field(
        "hybrid",
        description="semantic: by meaning; keyword: by words in file names and metadata; "
        "hybrid: both, fused by rank.",
    )
    order: ResultOrder = Field("score", description="score: best first; date: newest first.")
    min_score: float | None = Field(
        None,
        ge=-1,
        le=1,
        allow_inf_nan=False,
        description="Drop results whose cosine similarity to the query is below this.",
    )
    match_probability: float | None = Field(
        None,
        gt=0,
        lt=1,
        allow_inf_nan=False,
        description="With a sigmoid-trained model (SigLIP, SigLIP2), a text query's list also "
        "keeps the pictures the model gives at least this probability of matching (default: "
        "PIXSIFT_MATCH_PROBABILITY, 0.95).",
    )
    collapse: bool = Field(False, description="Show one image per group of near-duplicates.")
    weaker: bool = Field(
        False,
        description="Show weaker matches: by default the list stops where matches end (results "
        "whose similarity does not stand out from what the query scores across the library are "
        "left out; see the band of each result).",
    )
    stacks: bool = Field(
        True,
        description="One result per stack (a burst, a RAW+JPEG pair) with its copies; false "
        "shows every copy as a result.",
    )
    interpret: bool = Field(
        True,
        description="Read place names and dates in the text as filters ('beach in Lisbon "
        "2019'); false searches the words as written.",
    )


MAX_AFTER = 8  # how many of a page's last ids a next-page request carries


class SearchRequest(RankingOptions, BuiltInCode):
    """What the engine runs: the terms, the filters, the ranking and the page."""

    terms: tuple[QueryTerm, ...] = Field(min_length=1, max_length=MAX_TERMS + 3)
    filters: SearchFilters = SearchFilters()
    k: int = Field(10, ge=1, le=MAX_RESULTS)
    offset: int = Field(0, ge=0, lt=MAX_RESULTS)
    #: The previous page's last ids (the page starts after the last still ranked: rank.resume_at).
    after: tuple[int, ...] = Field((), max_length=MAX_AFTER)
    duplicate_threshold: float = Field(DEFAULT_DUPLICATE_THRESHOLD, gt=0, le=1)

    def __init__(self, terms: Sequence[QueryTerm] = (), /, **data: Any) -> None:
        if "collapse_duplicates" in data:
            data["collapse"] = data.pop("collapse_duplicates")
        terms = tuple(data.pop("terms", terms))
        if not terms:
            raise InvalidInputError("the query is empty: give a text, an image or an image id")
        super().__init__(terms=terms, **data)

    @model_validator(mode="after")
    def _a_positive_term(self) -> Self:
        if not any(term.weight > 0 for term in self.terms):
            raise InvalidInputError("a query needs at least one term with a positive weight")
        return self

    @property
    def collapse_duplicates(self) -> bool:
        return self.collapse

    def keyword_text(self) -> str:
        return " ".join(term.text for term in self.terms if term.text and term.weight > 0)

    def next_page(self) -> SearchRequest:
        return self.model_copy(update={"offset": self.offset + self.k, "after": ()})


class SavedSearch(RankingOptions):
    """A search kept by name (a smart album): its terms, filters and ranking, without a page.
    With no terms, its pictures are all those the filters let through, newest first."""

    terms: tuple[TermSpec, ...] = Field((), max_length=MAX_TERMS)
    filters: SearchFilters = SearchFilters()

    def search_request(self, k: int = MAX_RESULTS) -> SearchRequest:
        terms = [QueryTerm(**term.model_dump(exclude_defaults=True)) for term in self.terms]
        options = RankingOptions.model_fields
        return SearchRequest(
            tuple(terms),
            filters=self.filters,
            k=k,
            **{name: getattr(self, name) for name in options},
        )


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    request: SearchRequest
    #: Offset of the next page, or None on the last page.
    next_offset: int | None
    #: How the text was read as place and date filters (search.query.interpret); None when
    #: nothing was.
    interpretation: QueryInterpretation | None = None
