"""Search filters: which images a query may return, as SQL conditions on the images table.

The database selects the matching ids; the vector search then runs inside that set, so a
selective filter still fills a page of k results.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from sqlalchemy import ColumnElement, and_, func, or_

from search.errors import InvalidInputError
from search.storage.models import Image, Root

Orientation = Literal["landscape", "portrait", "square"]
ORIENTATIONS: tuple[str, ...] = ("landscape", "portrait", "square")


@dataclass(frozen=True)
class GeoBox:
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
        try:
            south, west, north, east = (float(part) for part in text.split(","))
        except ValueError as error:
            raise InvalidInputError(
                f"GPS box must be 'south,west,north,east' in degrees, not {text!r}"
            ) from error
        return cls(south, west, north, east)


@dataclass(frozen=True)
class SearchFilters:
    """Every field is optional; set fields must all hold (AND)."""

    root: str | None = None
    folder: str | None = None  # relative folder prefix, e.g. "2024/holidays"
    path_pattern: str | None = None  # glob on the relative path, e.g. "*/beach-*.jpg"
    taken_after: datetime | None = None
    taken_before: datetime | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    min_width: int | None = None
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    min_megapixels: float | None = None
    max_megapixels: float | None = None
    orientation: Orientation | None = None
    formats: tuple[str, ...] = ()
    min_size_bytes: int | None = None
    max_size_bytes: int | None = None
    has_gps: bool | None = None
    gps_box: GeoBox | None = None

    def __post_init__(self) -> None:
        if self.orientation is not None and self.orientation not in ORIENTATIONS:
            raise InvalidInputError(
                f"orientation must be one of {', '.join(ORIENTATIONS)}, not {self.orientation!r}"
            )
        _check_range("date taken", self.taken_after, self.taken_before)
        _check_range("width", self.min_width, self.max_width)
        _check_range("height", self.min_height, self.max_height)
        _check_range("megapixels", self.min_megapixels, self.max_megapixels)
        _check_range("file size", self.min_size_bytes, self.max_size_bytes)

    def is_empty(self) -> bool:
        return self == SearchFilters()


def _check_range(name: str, low: object, high: object) -> None:
    if low is not None and high is not None and low > high:  # type: ignore[operator]
        raise InvalidInputError(f"{name} range is empty: {low} is after {high}")


def parse_filter_date(text: str, *, end_of_day: bool = False) -> datetime:
    """An ISO date or date-time; a bare date given as an upper bound means the whole day."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{text[:40]!r} is not a date like 2024-06-30") from None
    if end_of_day and len(text) <= 10:
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment


def filters_from_params(
    *,
    root: str | None = None,
    folder: str | None = None,
    path: str | None = None,
    after: str | None = None,
    before: str | None = None,
    camera_make: str | None = None,
    camera_model: str | None = None,
    min_width: int | None = None,
    max_width: int | None = None,
    min_height: int | None = None,
    max_height: int | None = None,
    min_megapixels: float | None = None,
    max_megapixels: float | None = None,
    orientation: str | None = None,
    formats: tuple[str, ...] = (),
    min_size: int | None = None,
    max_size: int | None = None,
    has_gps: bool | None = None,
    gps_box: str | None = None,
) -> SearchFilters:
    """SearchFilters from the parameter names the CLI and the web share (dates and the GPS box
    as text)."""
    return SearchFilters(
        root=root,
        folder=folder,
        path_pattern=path,
        taken_after=parse_filter_date(after) if after else None,
        taken_before=parse_filter_date(before, end_of_day=True) if before else None,
        camera_make=camera_make,
        camera_model=camera_model,
        min_width=min_width,
        max_width=max_width,
        min_height=min_height,
        max_height=max_height,
        min_megapixels=min_megapixels,
        max_megapixels=max_megapixels,
        orientation=orientation,  # type: ignore[arg-type]
        formats=tuple(formats),
        min_size_bytes=min_size,
        max_size_bytes=max_size,
        has_gps=has_gps,
        gps_box=GeoBox.parse(gps_box) if gps_box else None,
    )


def epoch_nanoseconds(moment: datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return int(aware.timestamp() * 1_000_000_000)


def filter_conditions(filters: SearchFilters) -> list[ColumnElement[bool]]:
    """SQL conditions on ``Image`` (joined with ``Root``) for ``filters``."""
    conditions: list[ColumnElement[bool]] = []
    conditions += _path_conditions(filters)
    conditions += _date_conditions(filters)
    conditions += _camera_conditions(filters)
    conditions += _size_conditions(filters)
    conditions += _gps_conditions(filters)
    return conditions


def _path_conditions(filters: SearchFilters) -> list[ColumnElement[bool]]:
    conditions = []
    if filters.root:
        conditions.append(Root.path == filters.root.rstrip("/"))
    if filters.folder:
        folder = filters.folder.strip("/")
        conditions.append(
            or_(
                Image.relative_path == folder,
                Image.relative_path.startswith(folder + "/", autoescape=True),
            )
        )
    if filters.path_pattern:
        conditions.append(_glob_condition(filters.path_pattern))
    return conditions


def _glob_condition(pattern: str) -> ColumnElement[bool]:
    # fnmatch's translation is the reference; LIKE gives the database a coarse prefilter and the
    # regular-expression check (bound as a parameter) is exact.
    like = "".join("%" if c == "*" else "_" if c == "?" else c for c in pattern)
    regex = fnmatch.translate(pattern)
    return and_(Image.relative_path.like(like), Image.relative_path.regexp_match(regex))


def _date_conditions(filters: SearchFilters) -> list[ColumnElement[bool]]:
    # Images without an EXIF date fall back to the file's modification time.
    conditions = []
    if filters.taken_after is not None:
        conditions.append(
            or_(
                Image.taken_at >= filters.taken_after,
                and_(
                    Image.taken_at.is_(None),
                    Image.mtime_ns >= epoch_nanoseconds(filters.taken_after),
                ),
            )
        )
    if filters.taken_before is not None:
        conditions.append(
            or_(
                Image.taken_at <= filters.taken_before,
                and_(
                    Image.taken_at.is_(None),
                    Image.mtime_ns <= epoch_nanoseconds(filters.taken_before),
                ),
            )
        )
    return conditions


def _camera_conditions(filters: SearchFilters) -> list[ColumnElement[bool]]:
    conditions = []
    if filters.camera_make:
        conditions.append(func.lower(Image.camera_make) == filters.camera_make.strip().lower())
    if filters.camera_model:
        conditions.append(func.lower(Image.camera_model) == filters.camera_model.strip().lower())
    return conditions


def _size_conditions(filters: SearchFilters) -> list[ColumnElement[bool]]:
    conditions = []
    bounds = (
        (Image.width, filters.min_width, filters.max_width),
        (Image.height, filters.min_height, filters.max_height),
        (Image.size_bytes, filters.min_size_bytes, filters.max_size_bytes),
        (
            Image.width * Image.height,
            _pixels(filters.min_megapixels),
            _pixels(filters.max_megapixels),
        ),
    )
    for column, low, high in bounds:
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column <= high)
    if filters.orientation == "landscape":
        conditions.append(Image.width > Image.height)
    elif filters.orientation == "portrait":
        conditions.append(Image.width < Image.height)
    elif filters.orientation == "square":
        conditions.append(Image.width == Image.height)
    if filters.formats:
        conditions.append(func.upper(Image.format).in_([name.upper() for name in filters.formats]))
    return conditions


def _pixels(megapixels: float | None) -> int | None:
    return None if megapixels is None else int(megapixels * 1_000_000)


def _gps_conditions(filters: SearchFilters) -> list[ColumnElement[bool]]:
    conditions = []
    has_position = and_(Image.gps_latitude.is_not(None), Image.gps_longitude.is_not(None))
    if filters.has_gps is True:
        conditions.append(has_position)
    elif filters.has_gps is False:
        conditions.append(~has_position)
    box = filters.gps_box
    if box is not None:
        conditions.append(Image.gps_latitude.between(box.south, box.north))
        if box.west <= box.east:
            conditions.append(Image.gps_longitude.between(box.west, box.east))
        else:  # The box crosses the antimeridian.
            conditions.append(or_(Image.gps_longitude >= box.west, Image.gps_longitude <= box.east))
    return conditions
