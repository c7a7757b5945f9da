"""How the page writes things for people: dates, file sizes, alt text. Template filters, so that
every template says a date or a size the same way (the viewer's script mirrors them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint

bp = Blueprint("page_format", __name__)

#: The width a card's picture takes on the screen, for <img sizes>: the grid's columns (page.css):
#: 3 on a phone, 4 on a small tablet, else ~200 px cards.
CARD_SIZES = "(max-width: 480px) 34vw, (max-width: 760px) 25vw, 220px"
MAX_ALT_TAGS = 4


@bp.app_context_processor
def _values() -> dict[str, Any]:
    return {"card_sizes": CARD_SIZES}


@bp.app_template_filter("readable_date")
def readable_date(value: datetime | str | None) -> str:
    """``5 Dec 2026, 21:39`` (the server has no idea of the reader's zone: the viewer's script
    rewrites it in the browser's locale; a camera's date has no zone anyway)."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    text = f"{moment.day} {moment:%b %Y}"
    return text if (moment.hour, moment.minute) == (0, 0) else f"{text}, {moment:%H:%M}"


@bp.app_template_filter("megabytes")
def megabytes(size_bytes: int | None) -> str:
    """``16.4 MB``; ``820 KB`` under a megabyte (decimal units, as file managers show them)."""
    if size_bytes is None:
        return ""
    if size_bytes < 1_000_000:
        return f"{max(1, round(size_bytes / 1000))} KB"
    return f"{size_bytes / 1_000_000:.1f} MB"


@bp.app_template_filter("alt_text")
def alt_text(image: dict[str, Any]) -> str:
    """What a picture shows, for a screen reader: its description, else its tags, with its name
    (the file name alone says little)."""
    name = str(image.get("name") or "")
    # The embedded description, else the generated or hand-written caption.
    description = (image.get("description") or image.get("caption") or "").strip()
    if description:
        return f"{description} ({name})"
    tags = [str(tag) for tag in (image.get("tags") or ())][:MAX_ALT_TAGS]
    return f"{name}: {', '.join(tags)}" if tags else name
