"""Tags and recognised text in the library database.

Automatic tags are replaced as a set by each tagging run, written as a difference (a run that
changes nothing writes nothing); manual tags and the user's removals are never touched by it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import case, delete, func, select, tuple_
from sqlalchemy.orm import Session

from pixsift.search.filenames import display_path
from pixsift.search.records import FailureRecord
from pixsift.search.storage.models import Image, ImageTag, ImageText
from pixsift.search.storage.rows import chunks, utc_now
from pixsift.search.storage.search_text import refresh_search_text

AUTOMATIC = "auto"
MANUAL = "manual"
REMOVED = "removed"
#: The OCR engine whose results the ``image_text`` rows hold.
OCR_ENGINE = "tesseract"
#: Tags that describe an image (a removed one is remembered, not shown).
SHOWN = (AUTOMATIC, MANUAL)


@dataclass(frozen=True)
class TagCount:
    tag: str
    images: int
    automatic: int
    manual: int


@dataclass(frozen=True)
class TagChanges:
    added: int
    removed: int
    images_changed: int


def replace_automatic_tags(
    session: Session, tags: Mapping[int, Mapping[str, float]], image_ids: Sequence[int]
) -> TagChanges:
    """Make the automatic tags of ``image_ids`` exactly ``tags`` (image id -> tag -> score),
    except where the user added the tag by hand or removed it."""
    added = removed = 0
    changed: set[int] = set()
    for chunk in chunks(sorted(set(image_ids))):
        rows = session.execute(
            select(ImageTag.image_id, ImageTag.tag, ImageTag.source).where(
                ImageTag.image_id.in_(chunk)
            )
        ).all()
        existing = {(image_id, tag): source for image_id, tag, source in rows}
        wanted = {(image_id, tag) for image_id in chunk for tag in tags.get(image_id, {})}
        stale = [
            key for key, source in existing.items() if source == AUTOMATIC and key not in wanted
        ]
        new = [key for key in wanted if key not in existing]
        for part in chunks(stale):
            session.execute(
                delete(ImageTag).where(tuple_(ImageTag.image_id, ImageTag.tag).in_(part))
            )
        if new:
            session.execute(
                ImageTag.__table__.insert(),
                [
                    {"image_id": i, "tag": t, "source": AUTOMATIC, "score": float(tags[i][t])}
                    for i, t in new
                ],
            )
        added, removed = added + len(new), removed + len(stale)
        changed.update(image_id for image_id, _ in (*stale, *new))
    refresh_search_text(session, sorted(changed))
    return TagChanges(added=added, removed=removed, images_changed=len(changed))


def add_manual_tags(session: Session, image_id: int, tags: Sequence[str]) -> None:
    """The user's tags: kept through every re-tagging (an earlier removal is undone)."""
    for tag in tags:
        row = session.get(ImageTag, (image_id, tag))
        if row is None:
            session.add(ImageTag(image_id=image_id, tag=tag, source=MANUAL, score=None))
        else:
            row.source = MANUAL
    session.flush()
    refresh_search_text(session, [image_id])


def remove_tags(session: Session, image_id: int, tags: Sequence[str]) -> None:
    """The user takes tags away: remembered, so that re-tagging does not bring them back."""
    for tag in tags:
        row = session.get(ImageTag, (image_id, tag))
        if row is None:
            session.add(ImageTag(image_id=image_id, tag=tag, source=REMOVED, score=None))
        else:
            row.source, row.score = REMOVED, None
    session.flush()
    refresh_search_text(session, [image_id])


def tags_of(session: Session, image_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """The shown tags of each image, as (tag, source) pairs: manual first, then by name."""
    found: dict[int, list[tuple[str, str]]] = {}
    for chunk in chunks(sorted(set(image_ids))):
        rows = session.execute(
            select(ImageTag.image_id, ImageTag.tag, ImageTag.source)
            .where(ImageTag.image_id.in_(chunk), ImageTag.source.in_(SHOWN))
            .order_by(ImageTag.image_id, ImageTag.source.desc(), ImageTag.tag)
        )
        for image_id, tag, source in rows:
            found.setdefault(image_id, []).append((tag, source))
    return found


def tag_counts(session: Session) -> list[TagCount]:
    """Every shown tag with how many images carry it, most used first."""
    automatic = func.sum(case((ImageTag.source == AUTOMATIC, 1), else_=0))
    rows = session.execute(
        select(ImageTag.tag, func.count(), automatic)
        .where(ImageTag.source.in_(SHOWN))
        .group_by(ImageTag.tag)
        .order_by(func.count().desc(), ImageTag.tag)
    )
    return [TagCount(tag, int(n), int(a or 0), int(n) - int(a or 0)) for tag, n, a in rows]


def texts_of(session: Session, image_ids: Sequence[int]) -> dict[int, ImageText]:
    found: dict[int, ImageText] = {}
    for chunk in chunks(sorted(set(image_ids))):
        for row in session.scalars(select(ImageText).where(ImageText.image_id.in_(chunk))):
            session.expunge(row)
            found[row.image_id] = row
    return found


def write_text(
    session: Session, image_id: int, recognised: str, failure: str | None, engine: str
) -> None:
    """Record what OCR found in an image (or why it failed), replacing an earlier result."""
    row = session.get(ImageText, image_id)
    if row is None:
        row = ImageText(image_id=image_id)
        session.add(row)
    row.text, row.failure, row.engine, row.recognised_at = recognised, failure, engine, utc_now()


def images_without_text(session: Session, limit: int) -> list[tuple[int, bytes]]:
    """Up to ``limit`` photos OCR has not run on yet (id, file name), by id."""
    done = select(ImageText.image_id).where(ImageText.image_id == Image.id).exists()
    # Moments of videos are frames, not files: OCR reads photos only.
    rows = session.execute(
        select(Image.id, Image.path_bytes)
        .where(~done, Image.video_id.is_(None))
        .order_by(Image.id)
        .limit(limit)
    )
    return [(int(image_id), bytes(path)) for image_id, path in rows]


def text_failures(session: Session) -> list[FailureRecord]:
    """Photos whose OCR failed, with the reason (the picture itself stays indexed)."""
    rows = session.execute(
        select(Image.path_bytes, Image.size_bytes, Image.mtime_ns, ImageText)
        .join(ImageText, ImageText.image_id == Image.id)
        .where(ImageText.failure.is_not(None))
    )
    return [
        FailureRecord(
            path=display_path(path_bytes),
            # Said as an OCR failure: the file is searchable, only its text was not read.
            reason=text.failure if text.failure.startswith("OCR") else f"OCR: {text.failure}",
            size_bytes=int(size_bytes),
            mtime_ns=int(mtime_ns),
            failed_at=text.recognised_at,
        )
        for path_bytes, size_bytes, mtime_ns, text in rows
    ]


def text_failure_count(session: Session) -> int:
    statement = select(func.count()).select_from(ImageText).where(ImageText.failure.is_not(None))
    return int(session.scalar(statement) or 0)


__all__ = [
    "AUTOMATIC", "MANUAL", "REMOVED", "TagChanges", "TagCount", "add_manual_tags",
    "images_without_text", "remove_tags", "replace_automatic_tags", "tag_counts",
    "tags_of", "text_failure_count", "text_failures", "texts_of", "write_text",
]  # fmt: skip
