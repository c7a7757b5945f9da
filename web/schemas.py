"""The API's request and response models, declared once. Requests extend the search contract of
:mod:`search.query.request` with what only the web has (a page size and a cursor); responses
extend the library's :class:`search.records.ImageRecord`, so an image fact added there appears in
the API and its OpenAPI document without being named here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from typing_extensions import Self

from pixsift.search.errors import InvalidInputError
from pixsift.search.query.duplicates import DEFAULT_DUPLICATE_THRESHOLD
from pixsift.search.query.interpretation import QueryInterpretation
from pixsift.search.query.request import (
    MAX_TERMS,
    Contract,
    ImageId,
    QueryText,
    RankingOptions,
    SearchFilters,
    TermSpec,
)
from pixsift.search.records import ImageRecord, LibraryStats
from pixsift.web.settings import MAX_PAGE_SIZE

MAX_CURSOR_LENGTH = 200
#: Where the OpenAPI document keeps the models' schemas.
COMPONENTS = "#/components/schemas/"

# Requests --------------------------------------------------------------------------------------


class SearchParams(SearchFilters, RankingOptions):
    """A search as the API and the page take it: one subject (a text, an indexed image, an
    uploaded image, or weighted terms), ranking options, filters, and the page."""

    q: QueryText | None = Field(None, description="What to look for, in plain words.")
    image_id: ImageId | None = Field(None, description="Find images like this indexed image.")
    terms: tuple[TermSpec, ...] = Field(
        (),
        max_length=MAX_TERMS,
        description="Extra weighted terms (JSON bodies only), e.g. "
        '[{"text": "at night", "weight": 0.5}, {"image_id": 12, "weight": -1}].',
    )
    exclude: QueryText | None = Field(
        None, description="A text to subtract from the query, e.g. 'at night'."
    )
    k: int | None = Field(
        None, ge=1, le=MAX_PAGE_SIZE, description="Results per page (default: the server's)."
    )
    cursor: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="next_cursor of the previous page, to get the next one.",
    )

    @model_validator(mode="after")
    def _one_main_subject(self) -> Self:
        if self.image_id is not None and self.q is not None:
            raise InvalidInputError(
                "give one query: q (a text, optionally with an uploaded image), image_id, "
                "or an uploaded image"
            )
        return self


#: Form and query-string fields (terms need JSON).
FORM_FIELDS = tuple(name for name in SearchParams.model_fields if name != "terms")


class DuplicatesParams(Contract):
    threshold: float = Field(
        DEFAULT_DUPLICATE_THRESHOLD,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="Minimum cosine similarity between two images of a group.",
    )


# Responses -------------------------------------------------------------------------------------

_API_NAMES = {"root_path": "root", "relative_path": "path"}


class ImageLinks(BaseModel):
    thumbnail_url: str = Field(description="A small version (immutable: cache it).")
    thumbnail_srcset: str = Field(
        description="The thumbnail in several widths, as an <img srcset> (for dense screens)."
    )
    preview_url: str = Field(
        description="The picture sized for a screen (at most 1600 pixels long; immutable)."
    )
    image_url: str = Field(description="The original file.")
    similar_url: str = Field(description="API search for images like this one.")
    page_url: str = Field(description="The image's page.")
    play_url: str | None = Field(
        None,
        description="For a moment of a video: the video file with a media fragment (#t=) that "
        "starts it at the moment (null for a photo).",
    )
    placeholder_colour: str | None = Field(
        None,
        description="The picture's mean colour as #rrggbb (the placeholder's first term): what a "
        "page paints before the thumbnail arrives; null without a placeholder.",
    )


class ImageOut(ImageLinks, ImageRecord):
    """An indexed image: the library's record (root and relative path as ``root`` and
    ``path``) and links."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(serialization_alias=lambda name: _API_NAMES.get(name, name))
    )


class HitOut(ImageOut):
    """One result: the image and how it ranked."""

    score: float = Field(
        description="The ranking score that orders the results: the cosine similarity in "
        "semantic mode, the fused reciprocal-rank score in hybrid and keyword modes."
    )
    similarity: float | None = Field(
        description="Cosine similarity to the query (null when there is no query vector)."
    )
    relevance: float | None = Field(
        None,
        description="How far the similarity stands out: standard deviations above what this "
        "query scores across the library (null when the library is too small to calibrate or "
        "there is no query vector).",
    )
    band: Literal["strong", "possible", "weak", "words"] | None = Field(
        None,
        description="strong or possible match; weak (listed only with weaker=true); words "
        "(found by the words of its name, tags or text). Null when the library is too small "
        "to calibrate.",
    )
    probability: float | None = Field(
        None,
        description="A sigmoid-trained model's (SigLIP's) probability that the picture matches "
        "the text, the same in every library (null for other models, and for queries that are "
        "not one text).",
    )
    date: datetime = Field(description="When it was taken, else the file's modification time.")
    date_source: Literal["taken", "file"]
    moments: list[MomentOut] = Field(
        default_factory=list,
        description="For a moment of a video: the video's moments among the results, best "
        "first (this one included); they take no other result slot. Empty for a photo.",
    )
    stack: list[int] = Field(
        default_factory=list,
        description="For a stack (a burst, a RAW+JPEG pair): the ids of its copies, the best "
        "first; empty for a picture that stands alone. Off with stacks=false.",
    )
    stack_count: int = Field(1, description="How many copies this result stands for.")


class MomentOut(BaseModel):
    """One moment of a video among the results."""

    id: int = Field(description="The moment's image id.")
    offset_s: float = Field(description="Its time in the video, in seconds.")
    score: float
    thumbnail_url: str = Field(description="The frame at that moment, small.")
    page_url: str
    play_url: str = Field(description="The video, starting at the moment.")


class QueryEcho(BaseModel):
    """The search as the server understood it."""

    type: Literal["text", "image", "image_id", "combined"]
    q: str | None
    image_id: int | None
    k: int
    offset: int
    mode: str
    order: str
    min_score: float | None
    collapse: bool
    weaker: bool = False
    match_probability: float | None = None
    exclude: str | None
    terms: list[TermSpec]
    filters: Annotated[
        SearchFilters,
        PlainSerializer(lambda filters: filters.model_dump(mode="json", exclude_defaults=True)),
        WithJsonSchema(SearchFilters.model_json_schema(mode="serialization")),
    ] = Field(description="The filters that are set.")


class SearchResults(BaseModel):
    query: QueryEcho
    results: list[HitOut]
    took_ms: float
    next_cursor: str | None = Field(
        description="Give as cursor for the next page; null at the end."
    )
    next: str | None = Field(description="GET URL of the next page (null for uploads and terms).")
    interpretation: QueryInterpretation | None = Field(
        None,
        description="How place names and dates in q were read as filters (null when none "
        "were); undo with interpret=false.",
    )


class DuplicateGroup(BaseModel):
    images: list[ImageOut]


class Duplicates(BaseModel):
    threshold: float
    groups: list[DuplicateGroup]


#: Library statistics, as the library declares them.
Stats = LibraryStats


class TagOut(BaseModel):
    tag: str
    source: Literal["auto", "manual"] = Field(
        description="auto: zero-shot tagging (recomputed); manual: added by hand (kept)."
    )


class ImageTags(BaseModel):
    image_id: int
    tags: list[TagOut]


class TagCount(BaseModel):
    tag: str
    images: int = Field(description="Images that carry the tag.")
    automatic: int
    manual: int


class TagCounts(BaseModel):
    tags: list[TagCount] = Field(description="Most used first.")


class Health(BaseModel):
    status: Literal["ok"]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. invalid_input.")
    message: str = Field(description="What went wrong, for a person.")


class ErrorBody(BaseModel):
    """Every error under /api."""

    error: ErrorDetail


def dump(model: BaseModel) -> dict[str, Any]:
    """A response model as JSON data, with the API's field names."""
    return model.model_dump(mode="json", by_alias=True)
