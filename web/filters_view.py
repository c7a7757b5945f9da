"""The search page's filters as a person sees them: the pickers' values (the library's facets)
and one removable chip per active filter, each a link to the same search without it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for

from pixsift.search.library import Library
from pixsift.search.query.facets import Facets, library_facets
from pixsift.web.auth import visibility
from pixsift.web.results import SearchQuery

#: How a filter reads on a chip and in the empty state.
LABELS = {
    "exclude": "not", "mode": "mode", "folder": "folder", "root": "root", "path": "path",
    "after": "from", "before": "until", "orientation": "", "format": "format", "tag": "tag",
    "camera_make": "camera", "camera_model": "camera", "has_gps": "", "min_megapixels": "at least",
    "max_megapixels": "at most", "min_width": "width ≥", "max_width": "width ≤",
    "min_height": "height ≥", "max_height": "height ≤", "min_size": "file ≥",
    "max_size": "file ≤", "gps_box": "in area", "collapse": "", "order": "",
    "min_score": "similarity ≥", "place": "in",
}  # fmt: skip
#: Minimum megapixels the size picker offers.
MEGAPIXEL_STEPS = (1, 2, 8, 12, 20, 40)


@dataclass(frozen=True)
class Chip:
    name: str
    value: str
    label: str
    remove_url: str


def chip_label(name: str, value: Any) -> str:
    if name == "has_gps":
        return "with a place" if value in (True, "true") else "without a place"
    if name == "collapse":
        return "near-duplicates collapsed"
    if name == "order":
        return "newest first" if value == "date" else "best match first"
    if name in ("after", "before"):
        value = str(value)[:10]
    if name.endswith("megapixels"):
        value = f"{value} MP"
    prefix = LABELS.get(name, name.replace("_", " "))
    return f"{prefix} {value}".strip()


def filter_chips(query: SearchQuery | None) -> list[Chip]:
    """One chip per active option (a list option: one per value), with the URL that drops it."""
    if query is None or query.upload is not None:
        return []
    params = query.url_params()
    chips = []
    for name, value in params.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            rest = {k: v for k, v in params.items() if k != name}
            if isinstance(value, (list, tuple)):
                others = [v for v in value if v != item]
                if others:
                    rest[name] = others
            url = url_for("pages.index", q=query.text, image_id=query.image_id, **rest)
            chips.append(Chip(name, str(item), chip_label(name, item), url))
    return chips


def clear_url(query: SearchQuery | None) -> str:
    if query is None:
        return url_for("pages.index")
    return url_for("pages.index", q=query.text, image_id=query.image_id)


def picker_values(library: Library) -> dict[str, Any]:
    facets: Facets = library_facets(library.store)
    # A place name says where, like a GPS position: listed only to those who may see GPS.
    places = facets.places if visibility().gps else []
    return {"facets": facets, "megapixel_steps": MEGAPIXEL_STEPS, "places": places}
