"""An album's pictures as CSV or JSON: one row per member, in album order, with its position and
every field of its record (the same columns and spreadsheet-safe cells as search exports)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from pixsift.search.query.export import DATE_COLUMNS, RECORD_COLUMNS, neutralise_formula
from pixsift.search.records import ImageRecord

ALBUM_COLUMNS: tuple[str, ...] = (
    "position",
    "id",
    *(name for name in RECORD_COLUMNS if name != "id"),
    *DATE_COLUMNS,
)


def album_row(position: int, record: ImageRecord) -> dict[str, Any]:
    date, source = record.date_with_source()
    values = record.model_dump(mode="json")
    added = {"position": position, "date": date.isoformat(), "date_source": source}
    return {name: added[name] if name in added else values[name] for name in ALBUM_COLUMNS}


def album_to_csv(records: list[ImageRecord]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ALBUM_COLUMNS, quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    for position, record in enumerate(records, 1):
        row = album_row(position, record)
        writer.writerow({key: neutralise_formula(_cell(value)) for key, value in row.items()})
    return buffer.getvalue()


def album_to_json(records: list[ImageRecord]) -> str:
    return json.dumps([album_row(p, r) for p, r in enumerate(records, 1)], indent=2)


def _cell(value: Any) -> Any:
    return ", ".join(str(item) for item in value) if isinstance(value, list) else value
