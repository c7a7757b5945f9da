"""Descriptions written by hand: an editor sets or clears a picture's description (the API's
body, the CLI's ``--text`` / ``--clear`` and the page's form all give a :class:`DescriptionText`
or nothing, and get an :class:`ImageCaption` back).

A hand-written description, or a cleared one, is stored as ``manual``: no captioner run replaces
it (``pixsift index --describe`` and ``pixsift describe --all`` skip it), as with manual tags.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from pixsift.search.errors import NotFoundError
from pixsift.search.library import Library
from pixsift.search.query.request import Contract
from pixsift.search.storage.descriptions import (
    MANUAL,
    caption_fields,
    descriptions_of,
    write_manual_description,
)
from pixsift.search.storage.search_text import refresh_search_text

MAX_DESCRIPTION_LENGTH = 2000

DescriptionWords = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_DESCRIPTION_LENGTH),
]


class DescriptionText(Contract):
    """A description written by hand (an empty one is refused: clear it instead)."""

    text: DescriptionWords = Field(description="The sentence describing the picture.")


class ImageCaption(Contract):
    """A picture's description as the record shows it."""

    image_id: int
    caption: str | None = Field(None, description="The description, or none.")
    caption_by: str | None = Field(
        None, description='Who wrote it: the captioner\'s id, or "manual" (by hand).'
    )
    cleared: bool = Field(
        False, description="Cleared by hand: no captioner will describe the picture again."
    )


class LibraryDescriptions:
    """Reading and editing the descriptions of a library's pictures."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def of_image(self, image_id: int) -> ImageCaption:
        self._require_image(image_id)
        with self.library.store.session() as session:
            row = descriptions_of(session, [image_id]).get(image_id)
        cleared = row is not None and row.source == MANUAL and not row.text
        return ImageCaption(image_id=image_id, **caption_fields(row), cleared=cleared)

    def write(self, image_id: int, description: DescriptionText) -> ImageCaption:
        """Store ``description`` as the picture's hand-written one."""
        return self._store(image_id, description.text)

    def clear(self, image_id: int) -> ImageCaption:
        """Take the description away, for good: captioners leave the picture alone."""
        return self._store(image_id, "")

    def _store(self, image_id: int, text: str) -> ImageCaption:
        self._require_image(image_id)
        with self.library.store.session() as session:
            write_manual_description(session, image_id, text)
            refresh_search_text(session, [image_id])
        return self.of_image(image_id)

    def _require_image(self, image_id: int) -> None:
        """A photo or a moment of a video: both are described, and edited, alike."""
        if image_id not in self.library.store.images_by_ids([image_id]):
            raise NotFoundError(f"no indexed image has id {image_id}")
