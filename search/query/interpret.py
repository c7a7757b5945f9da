"""Queries that understand where and when: "beach in Lisbon 2019", "snow last winter", "birthday
in March" become the words to match by meaning plus filters (a place, a date range, a month).

Only what is certain is read: a place is a name the library's own pictures carry (search.places
wrote it at index time), a date is one of the expressions below. Each reading is returned as an
:class:`InterpretedPart` (the words, and the filter they became), so the API and the page show it
and the user can undo it (``interpret=false`` searches the words as written). A filter the
request sets itself is never overridden.

Dates are ranges, which a general date parser (dateparser, dateutil) does not give: they parse
one moment ("March" is the 6th of March this year, "last winter" nothing). The grammar here is
small and English: a year (2019); a month with or without a year (March, in March 2019); a
season with a year or last/this (summer 2019, last winter: Northern seasons, winter from
December); last/this year, month or week; yesterday and today.
"""

from __future__ import annotations

import re
import threading
import weakref
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, union

from pixsift.search.query.interpretation import InterpretedPart, QueryInterpretation
from pixsift.search.query.request import QueryTerm, SearchFilters, SearchRequest
from pixsift.search.storage.models import Image

MONTHS = {
    name: number
    for number, names in enumerate(
        (("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
         ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
         ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
         ("december", "dec")),
        start=1,
    )
    for name in names
}  # fmt: skip
#: The first month of each (Northern) season; winter runs into the next year.
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
_PREPOSITIONS = r"(?:(?:in|at|from|near|during|on|of)\s+)?"
_YEAR = r"(19\d\d|20\d\d|21\d\d)"
_MONTH = "(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + ")"
_SEASON = "(" + "|".join(SEASONS) + ")"
MAX_PLACE_WORDS = 4


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    part: InterpretedPart


def interpret(text: str, known_places: dict[str, str], today: date) -> QueryInterpretation:
    """Read ``text``: ``known_places`` maps lower-case place names to their stored spelling."""
    found: list[_Found] = []
    taken: list[tuple[int, int]] = []
    for finder in (_places, _dates):
        for item in finder(text, known_places, today):
            if all(item.end <= start or item.start >= end for start, end in taken):
                found.append(item)
                taken.append((item.start, item.end))
    found.sort(key=lambda item: item.start)
    remainder = text
    for item in sorted(found, key=lambda item: -item.start):
        remainder = remainder[: item.start] + " " + remainder[item.end :]
    remainder = " ".join(remainder.split()).strip(" ,;")
    return QueryInterpretation(text=remainder, parts=[item.part for item in found])


def _places(text: str, known: dict[str, str], today: date) -> list[_Found]:
    found = []
    words = list(re.finditer(r"[^\W\d_][\w'-]*", text))
    index = 0
    while index < len(words):
        for size in range(min(MAX_PLACE_WORDS, len(words) - index), 0, -1):
            start, end = words[index].start(), words[index + size - 1].end()
            name = known.get(" ".join(text[start:end].lower().split()))
            if name is None:
                continue
            before = re.search(r"(?:\b(?:in|at|from|near|of)\s+)$", text[:start], re.IGNORECASE)
            start = before.start() if before else start
            part = InterpretedPart(kind="place", words=text[start:end], filters={"place": name})
            found.append(_Found(start, end, part))
            index += size - 1
            break
        index += 1
    return found


def _dates(text: str, known: dict[str, str], today: date) -> list[_Found]:
    found = []
    for pattern, reader in _DATE_RULES:
        for match in re.finditer(pattern, text, re.IGNORECASE):
            reading = reader(match, today)
            if reading is None:
                continue
            kind, filters = reading
            words = match.group(0).strip()
            part = InterpretedPart(kind=kind, words=words, filters=filters)
            found.append(_Found(match.start(), match.end(), part))
    return found


def _range(first: date, last: date) -> tuple[str, dict[str, Any]]:
    return "date", {"after": datetime.combine(first, datetime.min.time()),
                    "before": datetime.combine(last, datetime.max.time())}  # fmt: skip


def _month_end(year: int, month: int) -> date:
    return date(year, month, monthrange(year, month)[1])


def _season(year: int, season: str) -> tuple[str, dict[str, Any]]:
    first_month = SEASONS[season]
    first = date(year, first_month, 1)
    end_month = first_month + 2
    last = _month_end(year + (end_month > 12), (end_month - 1) % 12 + 1)
    return _range(first, last)


def _relative_season(match: re.Match[str], today: date) -> tuple[str, dict[str, Any]] | None:
    """ "last winter": the latest winter over by today; "this winter": the latest begun."""
    which, season = match.group(1).lower(), match.group(2).lower()
    for year in range(today.year, today.year - 3, -1):
        kind, span = _season(year, season)
        if (span["before"].date() < today) if which == "last" else (span["after"].date() <= today):
            return kind, span
    return None


def _relative_span(match: re.Match[str], today: date) -> tuple[str, dict[str, Any]]:
    which, unit = match.group(1).lower(), match.group(2).lower()
    back = which == "last"
    if unit == "year":
        year = today.year - back
        return _range(date(year, 1, 1), date(year, 12, 31))
    if unit == "month":
        first = today.replace(day=1)
        if back:
            first = (first - timedelta(days=1)).replace(day=1)
        return _range(first, _month_end(first.year, first.month))
    monday = today - timedelta(days=today.weekday() + 7 * back)
    return _range(monday, monday + timedelta(days=6))


def _month(match: re.Match[str], today: date) -> tuple[str, dict[str, Any]]:
    month = MONTHS[match.group(1).lower()]
    if match.group(2):
        year = int(match.group(2))
        return _range(date(year, month, 1), _month_end(year, month))
    return "month", {"month": month}


_DATE_RULES: tuple[tuple[str, Any], ...] = (
    (rf"\b{_PREPOSITIONS}(last|this)\s+{_SEASON}\b", _relative_season),
    (rf"\b{_PREPOSITIONS}{_SEASON}\s+(?:of\s+)?{_YEAR}\b",
     lambda m, _: _season(int(m.group(2)), m.group(1).lower())),
    (rf"\b{_PREPOSITIONS}(last|this)\s+(year|month|week)\b", _relative_span),
    (r"\b(yesterday|today)\b",
     lambda m, t: _range(*(2 * [t - timedelta(days=m.group(1).lower() == "yesterday")]))),
    # A month alone needs "in" ("may" and "march" are words too); with a year it does not.
    (rf"\b(?:in\s+|during\s+)?{_MONTH}\s+(?:of\s+)?{_YEAR}\b", _month),
    (rf"\b(?:in|during)\s+{_MONTH}\b()", _month),
    (rf"\b{_PREPOSITIONS}{_YEAR}\b",
     lambda m, _: _range(date(int(m.group(1)), 1, 1), date(int(m.group(1)), 12, 31))),
)  # fmt: skip


def apply_interpretation(
    filters: SearchFilters, interpretation: QueryInterpretation
) -> tuple[SearchFilters, QueryInterpretation]:
    """``filters`` with the interpreted ones added, and the interpretation kept to the parts
    used (a filter the request sets itself wins, and its words stay in the text)."""
    values = filters.set_values()
    used, text = [], interpretation.text
    for part in interpretation.parts:
        if any(name in values for name in part.filters):
            text = f"{text} {part.words}".strip()
            continue
        values |= part.filters
        used.append(part)
    return SearchFilters.parse(values), QueryInterpretation(text=text, parts=used)


# Known places ----------------------------------------------------------------------------------

_PLACES: weakref.WeakKeyDictionary[Engine, tuple[int, dict[str, str]]] = weakref.WeakKeyDictionary()
_PLACES_LOCK = threading.Lock()


def known_places(engine: Engine, generation: int) -> dict[str, str]:
    """The place names the library's pictures carry (lower case -> as stored), read once per
    store generation (places change only when indexing writes)."""
    with _PLACES_LOCK:
        cached = _PLACES.get(engine)
    if cached is not None and cached[0] == generation:
        return cached[1]
    names = union(
        *(select(column.label("name")).where(column.is_not(None)).distinct()
          for column in (Image.place_city, Image.place_region, Image.place_country))
    )  # fmt: skip
    with engine.connect() as connection:
        found = {str(name).lower(): str(name) for name in connection.scalars(names) if name}
    with _PLACES_LOCK:
        _PLACES[engine] = (generation, found)
    return found


def interpret_request(
    engine: Engine,
    generation: int,
    request: SearchRequest,
    today: date | None = None,
    *,
    places: bool = True,
) -> tuple[SearchRequest, QueryInterpretation | None]:
    """``request`` with its first text term read for places (unless ``places`` is false) and
    dates (when it asks for that); the interpretation, or None when nothing was read."""
    texts = [term for term in request.terms if term.text and term.weight > 0]
    if not request.interpret or not texts:
        return request, None
    first = texts[0]
    assert first.text is not None
    named = known_places(engine, generation) if places else {}
    reading = interpret(first.text, named, today or date.today())
    filters, reading = apply_interpretation(request.filters, reading)
    if not reading.parts:
        return request, None
    # Words that were all place and date ("Lisbon 2019") still rank by meaning.
    text = reading.text or first.text
    reading = reading.model_copy(update={"text": text})
    term = QueryTerm(text=text, weight=first.weight)
    terms = tuple(term if t is first else t for t in request.terms)
    return request.model_copy(update={"terms": terms, "filters": filters}), reading
