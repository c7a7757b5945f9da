"""Filter value types that are more than a number or a text: dates (ISO, bounded to what every
layer represents), GPS boxes and tag names. Declared apart from :mod:`search.query.request` so that
both the request and the tag contract use them without importing each other."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainSerializer, PlainValidator, WithJsonSchema

from pixsift.search.errors import InvalidInputError

#: Dates a filter may name. Within what every layer can represent (epoch nanoseconds in int64
#: end in 2262); older or later dates are refused rather than silently clamped.
EARLIEST_DATE = datetime(1900, 1, 1)
LATEST_DATE = datetime(2200, 12, 31, 23, 59, 59, 999999)
#: Whitespace as JSON Schema, Python and pydantic all read it: ASCII only (their Unicode
#: whitespace classes differ), so a text the schema accepts is a text the server accepts.
ASCII_SPACE = " \t\n\v\f\r"
NOT_BLANK = "[^ \\t\\n\\v\\f\\r]"


_DATE_PATTERN = (
    r"^(19\d\d|2[01]\d\d|2200)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?$"
)
_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_filter_date(value: Any, *, end_of_day: bool = False) -> datetime:
    """An ISO date or date-time between 1900 and 2200, as a naive UTC datetime (an aware one is
    converted, so aware and naive dates never meet); a bare date given as an upper bound means
    the whole day."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and len(value) <= 40 and re.match(_DATE_PATTERN, value):
        text = value[:-1] + "+00:00" if value.endswith("Z") else value
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a calendar date") from None
        if end_of_day and _BARE_DATE.fullmatch(value):
            moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
    elif isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\d", value):
        raise ValueError(f"must be a date between {EARLIEST_DATE:%Y-%m-%d} and 2200-12-31")
    else:
        raise ValueError("must be a date like 2024-06-30 or 2024-06-30T18:30:00")
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    if not EARLIEST_DATE <= moment <= LATEST_DATE:
        raise ValueError(f"must lie between {EARLIEST_DATE:%Y-%m-%d} and {LATEST_DATE:%Y-%m-%d}")
    return moment


def _date_type(end_of_day: bool) -> Any:
    return Annotated[
        datetime,
        PlainValidator(lambda value: parse_filter_date(value, end_of_day=end_of_day)),
        PlainSerializer(lambda moment: moment.isoformat(), return_type=str),
        WithJsonSchema({"type": "string", "pattern": _DATE_PATTERN}),
    ]


StartDate = _date_type(end_of_day=False)
EndDate = _date_type(end_of_day=True)


@dataclass(frozen=True)
class GeoBox:
    """A latitude/longitude box; west > east means it crosses the antimeridian."""

    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        if not (-90 <= self.south <= self.north <= 90):
            raise InvalidInputError("GPS box needs -90 <= south <= north <= 90")
        if not (-180 <= self.west <= 180 and -180 <= self.east <= 180):
            raise InvalidInputError("GPS box longitudes must lie within -180..180")

    @classmethod
    def parse(cls, text: str) -> GeoBox:
        """From 'south,west,north,east'."""
        if not isinstance(text, str) or not re.fullmatch(GEO_BOX_PATTERN, text):
            raise InvalidInputError(
                f"GPS box must be 'south,west,north,east' in degrees, not {str(text)[:60]!r}"
            )
        south, west, north, east = (float(part) for part in text.split(","))
        return cls(south, west, north, east)

    def __str__(self) -> str:
        return f"{self.south!r},{self.west!r},{self.north!r},{self.east!r}"


_DEGREES = r"-?(\d{1,3}(\.\d{1,12})?)"
GEO_BOX_PATTERN = rf"^{_DEGREES},{_DEGREES},{_DEGREES},{_DEGREES}$"
GeoBoxText = Annotated[
    GeoBox,
    PlainValidator(lambda value: value if isinstance(value, GeoBox) else GeoBox.parse(value)),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": GEO_BOX_PATTERN}),
]


# Tag names -------------------------------------------------------------------------------------

MAX_TAG_LENGTH = 100
#: ASCII white space and control characters, as JSON Schema and Python both read them.
_SPACE_OR_CONTROL = "\\x00-\\x20\\x7f-\\x9f"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SPACES = re.compile(f"[{ASCII_SPACE}]+")


def normalise_tag(text: str) -> str:
    """Lower case, single spaces, control characters dropped."""
    tag = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip(ASCII_SPACE).lower()
    try:
        tag.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode (it holds a lone surrogate)") from None
    if not tag:
        raise ValueError("a tag cannot be empty")
    return tag


TagName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TAG_LENGTH,
        pattern=f"[^{_SPACE_OR_CONTROL}]",
        description="A tag, e.g. 'dog' or 'beach' (any case).",
    ),
    AfterValidator(normalise_tag),
]
