"""The albums API's request and response models (declared once; the OpenAPI document and the
parsing come from them)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from pixsift.search.albums import AlbumName, AlbumRecord
from pixsift.search.query.request import (
    MAX_RESULTS,
    MAX_STORED_INTEGER,
    Contract,
    ImageId,
    SavedSearch,
)
from pixsift.web.schemas import ImageOut, SearchParams
from pixsift.web.settings import MAX_PAGE_SIZE


class AlbumCreate(Contract):
    name: AlbumName = Field(description="The album's name, 1-200 characters.")
    search: SavedSearch | None = Field(
        None,
        description="Makes a smart album: the saved search (terms, weights, filters, mode, "
        "cutoff) whose results are its pictures, now and later.",
    )


class AlbumRename(Contract):
    name: AlbumName


class AlbumChange(Contract):
    """Pictures to add or remove: ids, and/or every result (up to 1000) of a search."""

    image_ids: tuple[ImageId, ...] = Field((), max_length=MAX_RESULTS)
    search: SearchParams | None = Field(
        None, description="Add every result of this search (its first 1000)."
    )


class AlbumPageParams(Contract):
    offset: int = Field(0, ge=0, le=MAX_STORED_INTEGER, description="Members to skip.")
    k: int = Field(MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Members per page.")


class AlbumList(BaseModel):
    albums: list[AlbumRecord]


class AlbumContents(BaseModel):
    """One page of an album: its record and members, in album order."""

    album: AlbumRecord
    images: list[ImageOut]
    total: int = Field(description="How many members the album has now.")
    offset: int
    next_offset: int | None = Field(description="Give as offset for the next page; null at end.")


class AlbumChanged(BaseModel):
    album: AlbumRecord
    changed: int = Field(description="How many pictures were added, removed or excluded.")


class Deleted(BaseModel):
    deleted: int = Field(description="The id of what was deleted (no file is ever touched).")
