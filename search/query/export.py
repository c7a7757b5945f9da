"""Search results as CSV and JSON files, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from search.records import SearchHit

#: A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = (
    "id", "score", "similarity", "path", "root", "relative_path", "width", "height", "format",
    "date", "date_source", "camera_make", "camera_model", "gps_latitude", "gps_longitude",
    "size_bytes",
)  # fmt: skip


def hit_row(hit: SearchHit) -> dict[str, Any]:
    image = hit.image
    date, date_source = hit.date_with_source()
    return {
        "id": image.id,
        "score": round(hit.score, 6),
        "similarity": None if hit.similarity is None else round(hit.similarity, 6),
        "path": image.absolute_path,
        "root": image.root_path,
        "relative_path": image.relative_path,
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "date": date.isoformat(),
        "date_source": date_source,
        "camera_make": image.camera_make,
        "camera_model": image.camera_model,
        "gps_latitude": image.gps_latitude,
        "gps_longitude": image.gps_longitude,
        "size_bytes": image.size_bytes,
    }


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
        writer.writerow({key: neutralise_formula(value) for key, value in hit_row(hit).items()})
    return buffer.getvalue()


def hits_to_json(hits: list[SearchHit]) -> str:
    return json.dumps([hit_row(hit) for hit in hits], indent=2)
