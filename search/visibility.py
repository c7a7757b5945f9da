"""What a viewer may see of a library: no absolute server paths, and optionally no GPS positions.

Applied to records where they leave for a caller (API, page, CSV export), so every way out
shows the same: a viewer sees an image's folder by its name only (``Holidays``, not
``/srv/photos/Holidays``), and its path below that folder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from pixsift.search.records import ImageRecord, LibraryStats, SearchHit


@dataclass(frozen=True)
class Visibility:
    """What the caller may see. The default (an admin, or the desktop mode) sees everything."""

    server_paths: bool = True
    gps: bool = True

    @property
    def everything(self) -> bool:
        return self.server_paths and self.gps


FULL_VISIBILITY = Visibility()


def root_label(root_path: str) -> str:
    """A root folder as a viewer sees it: its last name (``/`` itself is ``root``)."""
    return PurePosixPath(root_path).name or "root"


def visible_record(record: ImageRecord, visibility: Visibility) -> ImageRecord:
    if visibility.everything:
        return record
    update: dict[str, object] = {}
    if not visibility.server_paths:
        label = root_label(record.root_path)
        update |= {"root_path": label, "absolute_path": f"{label}/{record.relative_path}"}
    if not visibility.gps:
        update |= {"gps_latitude": None, "gps_longitude": None}
        # A place name says where, like the position it was made from.
        update |= {"place_city": None, "place_region": None, "place_country": None}
    return record.model_copy(update=update)


def visible_hit(hit: SearchHit, visibility: Visibility) -> SearchHit:
    if visibility.everything:
        return hit
    moments = tuple(
        replace(moment, image=visible_record(moment.image, visibility)) for moment in hit.moments
    )
    return replace(hit, image=visible_record(hit.image, visibility), moments=moments)


def visible_stats(stats: LibraryStats, visibility: Visibility) -> LibraryStats:
    if visibility.server_paths:
        return stats
    return stats.model_copy(update={"root_paths": [root_label(p) for p in stats.root_paths]})
