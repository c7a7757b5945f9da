"""Tag edits as every caller gives them (the API's body, the CLI's arguments); a tag name is
declared once, in :mod:`search.query.filter_types`, with the ``tag`` filter."""

from __future__ import annotations

from pydantic import Field

from pixsift.search.query.filter_types import MAX_TAG_LENGTH, TagName, normalise_tag
from pixsift.search.query.request import Contract

MAX_TAGS_PER_EDIT = 50

__all__ = ["MAX_TAG_LENGTH", "TagName", "TagNames", "normalise_tag"]


class TagNames(Contract):
    """Tags to add to an image or take away from it."""

    tags: tuple[TagName, ...] = Field(min_length=1, max_length=MAX_TAGS_PER_EDIT)
