"""The browsing API's request and response models, declared once: the timeline takes the
search filters (search.query.request.SearchFilters) with a page size and a cursor; a folder, a
root and a path; every listed picture is the API's :class:`web.schemas.ImageOut` with its date.
The decisions' own models (hide, not duplicates) are the library's (search.decisions)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from pixsift.search.query.request import Contract, ImageId, SearchFilters
from pixsift.web.schemas import MAX_CURSOR_LENGTH, ImageOut
from pixsift.web.settings import MAX_PAGE_SIZE

MAX_FOLDER_PATH = 4000


def _k() -> int | None:
    return Field(
        None, ge=1, le=MAX_PAGE_SIZE, description="Pictures per page (default: the server's)."
    )


def _cursor() -> str | None:
    return Field(
        None,
        min_length=1,
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="next_cursor of the previous page, to get the next one.",
    )


class TimelineParams(SearchFilters):
    """The library newest first, narrowed by any of the search filters."""

    start: str | None = Field(
        None,
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="Jump to a month (YYYY-MM): the timeline starts with its last day and goes "
        "on to older pictures (ignored with a cursor).",
    )
    k: int | None = _k()
    cursor: str | None = _cursor()


class FolderParams(Contract):
    """A folder: a root (by id) and a path below it; no root lists the roots."""

    root: ImageId | None = Field(None, description="The root folder's id (none: every root).")
    path: str = Field(
        "", max_length=MAX_FOLDER_PATH, description="The folder below the root, e.g. 2023/summer."
    )
    k: int | None = _k()
    cursor: str | None = _cursor()


class PageParams(Contract):
    k: int | None = _k()
    cursor: str | None = _cursor()


class BrowseItem(ImageOut):
    """A picture in a listing, with the date the timeline orders it by."""

    date: datetime = Field(description="When it was taken, else the file's modification time.")
    date_source: Literal["taken", "file"]


class BrowsePageOut(BaseModel):
    results: list[BrowseItem]
    next_cursor: str | None = Field(
        description="Give as cursor for the next page; null at the end."
    )
    next: str | None = Field(description="GET URL of the next page (null at the end).")


class TimelineOut(BrowsePageOut):
    """A page of the timeline, newest first."""


class HiddenOut(BrowsePageOut):
    """A page of the pictures hidden from results."""


class KeptApartGroup(BaseModel):
    """One "not duplicates" decision: its pictures (undo it with all their ids)."""

    images: list[BrowseItem]
    decided_by: str
    decided_at: datetime


class KeptApartOut(BaseModel):
    """The newest "not duplicates" decisions, newest first."""

    groups: list[KeptApartGroup]


class Crumb(BaseModel):
    name: str
    page_url: str


class FolderOut(BaseModel):
    """A subfolder (or, at the top, a root folder)."""

    name: str
    root: int
    path: str = Field(description="Below the root ('' for the root itself).")
    page_url: str
    api_url: str
    cover: BrowseItem | None = Field(description="The first picture in it, by path.")


class FolderPageOut(BrowsePageOut):
    """A folder: its place, its subfolders (on the first page), and pictures directly in it."""

    root: int | None
    root_name: str | None = Field(description="The root folder (its name only, for viewers).")
    path: str
    breadcrumbs: list[Crumb] = Field(description="From the top down to this folder.")
    folders: list[FolderOut]
    folders_cut_off: bool = Field(description="More subfolders exist than are listed.")
