"""Descriptions of pictures in the library database: generated ones (by the captioner named in
each row) and hand-written ones, which no captioner run ever replaces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session

from pixsift.search.storage.models import Image, ImageDescription
from pixsift.search.storage.rows import MOMENT_KEY_SEPARATOR, chunks, utc_now

GENERATED = "generated"
MANUAL = "manual"


@dataclass(frozen=True)
class Described:
    """What describing one picture gave: its sentence, or why there is none."""

    image_id: int
    text: str
    failure: str | None = None


class ToDescribe(NamedTuple):
    """A picture to describe: a photo's file, or a video's file and the moment's time in it."""

    image_id: int
    #: The file's real name (a moment's: its video's).
    path_bytes: bytes
    #: A moment's time in its video, in seconds; None for a photo.
    offset_s: float | None = None


def images_to_describe(
    session: Session,
    captioner_id: str,
    limit: int,
    after_id: int = 0,
    video_id: int | None = None,
) -> list[ToDescribe]:
    """Up to ``limit`` pictures (photos and moments of videos, or only ``video_id``'s moments)
    above ``after_id`` with no description from ``captioner_id``: none at all, or one another
    captioner generated. Hand-written ones are done."""
    rows = session.execute(
        select(Image.id, Image.path_bytes, Image.video_id, Image.offset_s)
        .where(~_described(captioner_id), _of_video(video_id), Image.id > after_id)
        .order_by(Image.id)
        .limit(limit)
    )
    return [
        ToDescribe(int(image_id), bytes(path))
        if video is None  # a moment's name is its video's with the moment's time appended
        else ToDescribe(int(image_id), bytes(path).rpartition(MOMENT_KEY_SEPARATOR)[0], offset)
        for image_id, path, video, offset in rows
    ]


def count_to_describe(session: Session, captioner_id: str, video_id: int | None = None) -> int:
    """How many pictures :func:`images_to_describe` would still give."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Image)
            .where(~_described(captioner_id), _of_video(video_id))
        )
        or 0
    )


def _described(captioner_id: str) -> ColumnElement[bool]:
    """An image has a hand-written description or one by ``captioner_id``."""
    return (
        select(ImageDescription.image_id)
        .where(
            ImageDescription.image_id == Image.id,
            or_(ImageDescription.source == MANUAL, ImageDescription.captioner == captioner_id),
        )
        .exists()
    )


def _of_video(video_id: int | None) -> ColumnElement[bool]:
    return true() if video_id is None else Image.video_id == video_id


def write_descriptions(session: Session, results: Sequence[Described], captioner_id: str) -> None:
    """Store generated descriptions, replacing earlier generated ones but never a manual one."""
    for result in results:
        row = session.get(ImageDescription, result.image_id)
        if row is not None and row.source == MANUAL:
            continue
        if row is None:
            row = ImageDescription(image_id=result.image_id)
            session.add(row)
        row.text, row.failure = result.text, result.failure
        row.captioner, row.source, row.described_at = captioner_id, GENERATED, utc_now()


def write_manual_description(session: Session, image_id: int, text: str) -> None:
    """Store ``text`` as ``image_id``'s hand-written description ("" when cleared by hand):
    :func:`write_descriptions` and :func:`images_to_describe` leave it alone from then on."""
    row = session.get(ImageDescription, image_id)
    if row is None:
        row = ImageDescription(image_id=image_id)
        session.add(row)
    row.text, row.failure = text, None
    row.captioner, row.source, row.described_at = MANUAL, MANUAL, utc_now()


def descriptions_of(session: Session, image_ids: Sequence[int]) -> dict[int, ImageDescription]:
    """The description rows of ``image_ids`` (detached), by image id."""
    found: dict[int, ImageDescription] = {}
    for chunk in chunks(sorted(set(image_ids))):
        statement = select(ImageDescription).where(ImageDescription.image_id.in_(chunk))
        for row in session.scalars(statement):
            session.expunge(row)
            found[row.image_id] = row
    return found


def caption_fields(row: ImageDescription | None) -> dict[str, str | None]:
    """The record's ``caption`` and ``caption_by`` for a description row (or none)."""
    if row is None or row.failure is not None or not row.text:
        return {"caption": None, "caption_by": None}
    return {"caption": row.text, "caption_by": MANUAL if row.source == MANUAL else row.captioner}
