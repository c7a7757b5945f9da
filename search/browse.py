"""Browsing a library without a query: the timeline, newest first.

One function, :func:`timeline`, builds a page of it; the JSON API and the page only render it.
Each picture's date is the one results show (search.records.ImageRecord.date_with_source): when
it was taken, else the file's modification time. The two kinds are read as two indexed streams
(``ix_images_timeline_taken`` and ``ix_images_timeline_file``, migration 0014), each newest first
and at most one page long, and merged here; a page ends at a :class:`TimelinePosition`, and the
next page starts strictly after it (keyset pagination: no offset, no count, no reading of every
row, whatever the library's size).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, tuple_
from sqlalchemy.orm import aliased

from pixsift.search.decisions import hidden_path, not_hidden
from pixsift.search.errors import InvalidInputError
from pixsift.search.query.filters import filter_conditions
from pixsift.search.query.request import SearchFilters
from pixsift.search.records import ImageRecord
from pixsift.search.storage.models import Image, Root
from pixsift.search.storage.store import LibraryStore

EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)
#: What a position can hold: Python's dates (years 1-9999) and the databases' 64-bit integers
#: (file times in nanoseconds: years 1678-2262). A month jump or a cursor beyond them starts at
#: the nearest end instead of failing in the database.
FIRST_MICROS = (datetime.min - EPOCH) // MICROSECOND
LAST_MICROS = (datetime.max - EPOCH) // MICROSECOND
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, order=True)
class TimelinePosition:
    """Where a picture stands in the timeline; the timeline is in descending order of these.
    ``micros``: its date in microseconds since 1970 (naive, as stored); ``taken``: 1 for a date
    taken, 0 for a file time (at the same microsecond, dates taken come first); ``nanos``: the
    file time in nanoseconds (0 for a date taken); ``id``: the image id."""

    micros: int
    taken: int
    nanos: int
    id: int


@dataclass(frozen=True)
class BrowsePage:
    """A page of pictures and the position after which the next page begins (None: the end)."""

    images: list[ImageRecord]
    next_position: tuple[object, ...] | None


@cache
def browse_conditions() -> tuple[ColumnElement[bool], ...]:
    """What browsing shows of the ``images`` rows: not hidden, one moment per video (its
    first), and one copy per stack: its best (search.stacks), or when the user hid the best, the
    next copy shown (the lowest id not hidden, as a stack lists its copies), so hiding one copy
    never hides the whole stack. Built once: the same expression objects each time let
    SQLAlchemy reuse its compiled statements (a fresh alias would not)."""
    moment = aliased(Image)
    first_moment = (
        select(func.min(moment.id)).where(moment.video_id == Image.video_id).scalar_subquery()
    )
    best, copy = aliased(Image), aliased(Image)
    best_hidden = exists().where(best.id == Image.stack_id, hidden_path(best.path_bytes))
    next_copy = (
        select(func.min(copy.id))
        .where(copy.stack_id == Image.stack_id, ~hidden_path(copy.path_bytes))
        .scalar_subquery()
    )
    return (
        not_hidden(),
        or_(Image.video_id.is_(None), Image.id == first_moment),
        or_(
            Image.stack_id.is_(None),
            Image.stack_id == Image.id,
            and_(best_hidden, Image.id == next_copy),
        ),
    )


def timeline(
    store: LibraryStore,
    filters: SearchFilters,
    k: int,
    after: TimelinePosition | None = None,
) -> BrowsePage:
    """The ``k`` newest pictures that pass ``filters`` (and browsing's conditions) after
    ``after``; two indexed queries of at most ``k + 1`` rows each."""
    if k < 1:
        raise InvalidInputError("a page holds at least one picture")
    shared = [*browse_conditions(), *filter_conditions(filters)]
    taken = _stream(Image.taken_at).where(
        Image.taken_at.is_not(None), *shared, *_after_taken(after)
    )
    taken = taken.order_by(Image.taken_at.desc(), Image.id.desc()).limit(k + 1)
    files = _stream(Image.mtime_ns).where(Image.taken_at.is_(None), *shared, *_after_file(after))
    files = files.order_by(Image.mtime_ns.desc(), Image.id.desc()).limit(k + 1)
    with store.session() as session:
        positions = [
            TimelinePosition(_micros(when), 1, 0, int(image_id))
            for image_id, when in session.execute(taken)
        ]
        positions += [
            TimelinePosition(int(nanos) // 1000, 0, int(nanos), int(image_id))
            for image_id, nanos in session.execute(files)
        ]
    positions.sort(reverse=True)
    shown = positions[:k]
    records = store.images_by_ids([position.id for position in shown])
    images = [records[p.id] for p in shown if p.id in records]
    return BrowsePage(images, astuple(shown[-1]) if len(positions) > k else None)


def _stream(date_column: ColumnElement[object]) -> Select[tuple[int, object]]:
    return select(Image.id, date_column).join(Root, Root.id == Image.root_id)


def _after_taken(after: TimelinePosition | None) -> list[ColumnElement[bool]]:
    if after is None:
        return []
    moment = EPOCH + after.micros * MICROSECOND
    if after.taken:
        return [tuple_(Image.taken_at, Image.id) < tuple_(moment, after.id)]
    return [Image.taken_at < moment]  # dates taken at that microsecond came before it


def _after_file(after: TimelinePosition | None) -> list[ColumnElement[bool]]:
    if after is None:
        return []
    if after.taken:
        # File times within that microsecond come after the dates taken in it.
        return [Image.mtime_ns < _int64((after.micros + 1) * 1000)]
    return [tuple_(Image.mtime_ns, Image.id) < tuple_(after.nanos, after.id)]


def _micros(moment: datetime) -> int:
    return (moment.replace(tzinfo=None) - EPOCH) // MICROSECOND


def _int64(value: int) -> int:
    return min(max(value, INT64_MIN), INT64_MAX)


def bounded(position: TimelinePosition) -> TimelinePosition:
    """``position`` moved to the nearest one the dates and the databases can hold."""
    return TimelinePosition(
        min(max(position.micros, FIRST_MICROS), LAST_MICROS),
        position.taken,
        _int64(position.nanos),
        _int64(position.id),
    )


def month_end(month: str) -> TimelinePosition:
    """The position just after the month ``YYYY-MM`` (its pictures and older ones follow)."""
    year, number = (int(part) for part in month.split("-"))
    if year < 1:
        raise InvalidInputError(f"start {month!r}: years begin at 0001")
    if (year, number) == (9999, 12):
        return bounded(TimelinePosition(LAST_MICROS, 0, LAST_MICROS * 1000, 0))
    micros = _micros(datetime(year + number // 12, number % 12 + 1, 1))
    return bounded(TimelinePosition(micros, 0, micros * 1000, 0))


def date_of_position(position: TimelinePosition) -> datetime:
    return EPOCH + position.micros * MICROSECOND


# Cursors ---------------------------------------------------------------------------------------


def encode_position(kind: str, values: tuple[object, ...]) -> str:
    """An opaque cursor for a browsing position (``kind`` names the listing it belongs to)."""
    raw = json.dumps([kind, *values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_position(kind: str, cursor: str, types: tuple[type, ...]) -> tuple[object, ...]:
    """The position ``cursor`` stands for; it must have been made for the ``kind`` of listing
    and hold values of ``types``."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidInputError("cursor is not valid") from None
    if not isinstance(data, list) or not data or data[0] != kind:
        raise InvalidInputError(f"cursor does not belong to the {kind}")
    values = tuple(data[1:])
    if len(values) != len(types) or not all(
        type(value) is wanted for value, wanted in zip(values, types, strict=True)
    ):
        raise InvalidInputError("cursor is not valid")
    return values


def timeline_position(cursor: str) -> TimelinePosition:
    micros, taken, nanos, image_id = decode_position("timeline", cursor, (int, int, int, int))
    position = TimelinePosition(int(micros), int(taken), int(nanos), int(image_id))  # type: ignore[call-overload]
    return bounded(position)
