"""Search results as CSV and JSON files, safe to open in a spreadsheet.

A row is the hit's ranking and date followed by every field of its image's record, by the
record's own names: a field added to :class:`search.records.ImageRecord` (or its facts) is
exported without a change here. Paths are the records' display forms, valid Unicode (see
:mod:`search.filenames`), so any file name can be written; CSV quotes names holding commas,
quotes, newlines or carriage returns and keeps them whole.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from pixsift.search.records import ImageFacts, ImageRecord, SearchHit

#: A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: What a hit adds to its record: its ranking first, and last the date used to order and filter.
RANKING_COLUMNS = ("id", "score", "similarity")
#: How good a match it is (search.query.relevance): after the record, so older readers of the
#: first columns are undisturbed.
RELEVANCE_COLUMNS = ("relevance", "band", "probability")
DATE_COLUMNS = ("date", "date_source")
#: The record's fields: where the file is first, then what the file says about itself.
RECORD_COLUMNS: tuple[str, ...] = (
    *ImageRecord.model_computed_fields,
    *(name for name in ImageRecord.model_fields if name not in ImageFacts.model_fields),
    *ImageFacts.model_fields,
)
EXPORT_COLUMNS: tuple[str, ...] = (
    *RANKING_COLUMNS,
    *(name for name in RECORD_COLUMNS if name not in RANKING_COLUMNS),
    *DATE_COLUMNS,
    *RELEVANCE_COLUMNS,
)


def hit_row(hit: SearchHit) -> dict[str, Any]:
    """One export row, JSON-ready (dates as ISO 8601 text)."""
    date, date_source = hit.date_with_source()
    record = hit.image.model_dump(mode="json")
    added = {
        "id": hit.image.id,
        "score": round(hit.score, 6),
        "similarity": None if hit.similarity is None else round(hit.similarity, 6),
        "relevance": None if hit.relevance is None else round(hit.relevance, 3),
        "band": hit.band,
        "probability": None if hit.probability is None else round(hit.probability, 4),
        "date": date.isoformat(),
        "date_source": date_source,
    }
    return {name: added[name] if name in added else record[name] for name in EXPORT_COLUMNS}


def neutralise_formula(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def hits_to_csv(hits: list[SearchHit]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    for hit in hits:
        row = {key: _cell(value) for key, value in hit_row(hit).items()}
        writer.writerow({key: neutralise_formula(value) for key, value in row.items()})
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    # A list (an image's tags) is one cell, its items separated by commas.
    return ", ".join(str(item) for item in value) if isinstance(value, list) else value


def hits_to_json(hits: list[SearchHit]) -> str:
    return json.dumps([hit_row(hit) for hit in hits], indent=2)
